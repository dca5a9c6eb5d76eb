"""Smart resize and both coordinate directions, in both conventions (absolute pixels and 0-1000)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pr1bench.data.real import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    ResizeInfo,
    smart_resize,
    to_original,
    to_resized,
)
from pr1bench.perception import format_answer, parse_answer

SIZES = [(640, 480), (427, 640), (4000, 3000), (1920, 1080), (30, 20), (130, 90), (2000, 150), (999, 1001)]


@pytest.mark.parametrize(("w", "h", "expected"), [
    (640, 480, (644, 476)),      # round(22.86)=23, round(17.14)=17 cells of 28
    (112, 112, (112, 112)),      # already on the grid: untouched
    (4000, 3000, (1148, 840)),   # beta = sqrt(12e6 / 1003520): floor to the grid below max_pixels
    (10, 10, (56, 56)),          # below min_pixels: grow to 56x56
])
def test_smart_resize_known_values(w, h, expected) -> None:
    assert smart_resize(w, h) == expected


@pytest.mark.parametrize(("w", "h"), SIZES)
def test_smart_resize_on_grid_within_limits(w, h) -> None:
    rw, rh = smart_resize(w, h)
    assert rw % 28 == 0 and rh % 28 == 0
    assert DEFAULT_MIN_PIXELS <= rw * rh <= DEFAULT_MAX_PIXELS
    assert abs(rw / rh - w / h) / (w / h) < 0.35  # aspect kept up to one grid cell on the short side


def test_smart_resize_rejects_extreme_aspect() -> None:
    with pytest.raises(ValueError, match="aspect"):
        smart_resize(20_100, 100)


def _info(w: int, h: int) -> ResizeInfo:
    return ResizeInfo(w, h, *smart_resize(w, h))


@pytest.mark.parametrize(("w", "h"), SIZES)
def test_absolute_pixels_round_trip_within_one_pixel(w, h) -> None:
    """original px -> resized px (targets) -> original px (evaluation), via meta as stored in samples."""
    rng = np.random.default_rng(w * h)
    meta = _info(w, h).meta()
    for _ in range(20):
        x1, x2 = sorted(rng.uniform(0, w, 2))
        y1, y2 = sorted(rng.uniform(0, h, 2))
        box = [x1, y1, x2, y2]
        resized = to_resized(box, meta)
        assert resized[2] <= meta["resized_width"] + 1e-9 and resized[3] <= meta["resized_height"] + 1e-9
        assert np.allclose(to_original(resized, meta), box, atol=1.0)
        # through the answer text, as SFT targets and parsed predictions travel (integer pixels)
        text = format_answer("json_boxes", {"boxes": [resized], "labels": ["x"]}, width=meta["resized_width"],
                             height=meta["resized_height"], coords="absolute_pixels")
        parsed = parse_answer("json_boxes", text, width=meta["resized_width"], height=meta["resized_height"],
                              coords="absolute_pixels")
        back = to_original(parsed.boxes[0].tolist(), meta)
        tol = 0.5 / min(meta["scale_x"], meta["scale_y"]) + 1e-6  # half a resized pixel, in original pixels
        assert np.allclose(back, box, atol=max(1.0, tol))


@pytest.mark.parametrize(("w", "h"), [s for s in SIZES if max(s) <= 2000])
def test_normalized_1000_round_trip_within_one_pixel(w, h) -> None:
    """0-1000 (the model's box tokens) -> original px, and original px -> resized px -> 0-1000 -> original px.

    A 0-1000 step is side/1000 px, so within one pixel holds for sides up to 2000 px (all shipped data).
    """
    rng = np.random.default_rng(w + h)
    meta = _info(w, h).meta()
    rw, rh = meta["resized_width"], meta["resized_height"]
    for _ in range(20):
        box = [*sorted(rng.uniform(0, w, 2))]
        box = [box[0], rng.uniform(0, h / 2), box[1], rng.uniform(h / 2, h)]
        norm = [box[0] / w * 1000, box[1] / h * 1000, box[2] / w * 1000, box[3] / h * 1000]
        # annotation direction: a 0-1000 annotation lands where the pixel one does on the resized image
        assert np.allclose(to_resized(norm, meta, "normalized_1000"), to_resized(box, meta), atol=1e-6)
        # evaluation direction: the model's 0-1000 answer maps straight to original pixels
        assert np.allclose(to_original(norm, meta, "normalized_1000"), box, atol=1e-6)
        text = format_answer("box_tokens", {"boxes": [to_resized(box, meta)], "labels": ["x"]}, width=rw, height=rh,
                             coords="normalized_1000")
        parsed = parse_answer("box_tokens", text, width=rw, height=rh, coords="normalized_1000")
        assert np.allclose(to_original(parsed.boxes[0].tolist(), meta), box, atol=1.0)


def test_points_and_lists_keep_their_shape() -> None:
    meta = _info(640, 480).meta()
    pts = [[10.0, 20.0], [630.0, 470.0]]
    out = to_resized(pts, meta)
    assert np.asarray(out).shape == (2, 2)
    assert np.allclose(to_original(out, meta), pts)
    assert to_resized([], meta) == []
    assert np.allclose(to_original([500, 500], meta, "normalized_1000"), [320, 240])


def test_meta_without_resize_info_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="load_real"):
        to_original([1, 2, 3, 4], {"generator": "shapes"})


def test_every_size_pair_round_trips() -> None:
    for w, h in itertools.product([28, 57, 333, 1001], repeat=2):
        meta = _info(w, h).meta()
        assert np.allclose(to_original(to_resized([0, 0, w, h], meta), meta), [0, 0, w, h])
