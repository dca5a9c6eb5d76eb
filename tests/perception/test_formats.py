"""Answer formats: format -> parse round trips, the think/answer envelope, lenient-but-safe parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pr1bench.perception import ANSWER_FORMATS, COORDS, extract_answer, format_answer, parse_answer
from pr1bench.registry import UnknownNameError

LABELS = ["circle", "square", "red triangle", "the small blue square"]


@st.composite
def images_and_boxes(draw: st.DrawFn) -> tuple[int, int, list[list[float]], list[str]]:
    w = draw(st.integers(16, 2000))
    h = draw(st.integers(16, 2000))
    n = draw(st.integers(1, 12))
    boxes = []
    for _ in range(n):
        x1, x2 = sorted(draw(st.integers(0, w)) for _ in range(2))
        y1, y2 = sorted(draw(st.integers(0, h)) for _ in range(2))
        boxes.append([float(x1), float(y1), float(x2), float(y2)])
    labels = [draw(st.sampled_from(LABELS)) for _ in range(n)]
    return w, h, boxes, labels


def _tol(coords: str, w: int, h: int) -> float:
    return 1e-9 if coords == "absolute_pixels" else 0.5 * max(w, h) / 1000 + 1e-9


@settings(max_examples=40, deadline=None)
@given(images_and_boxes(), st.sampled_from(COORDS), st.booleans())
def test_box_formats_round_trip(case, coords, think) -> None:
    w, h, boxes, labels = case
    target = {"boxes": boxes, "labels": labels}
    for fmt in ("box_tokens", "bracket_boxes", "json_boxes"):
        text = format_answer(fmt, target, width=w, height=h, coords=coords)
        if think:
            text = f"<think>looking</think> <answer>{text}</answer>"
        parsed = parse_answer(fmt, text, width=w, height=h, coords=coords, require_think=think)
        assert parsed is not None, (fmt, text)
        np.testing.assert_allclose(parsed.boxes, np.array(boxes), atol=_tol(coords, w, h))
        assert parsed.count == len(boxes)
        if fmt != "bracket_boxes":
            assert parsed.labels == labels


@settings(max_examples=40, deadline=None)
@given(images_and_boxes(), st.sampled_from(COORDS))
def test_points_count_round_trip(case, coords) -> None:
    w, h, boxes, _ = case
    pts = [[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in boxes]
    target = {"boxes": boxes, "points": pts, "count": len(boxes), "label": "red circle"}
    parsed = parse_answer(
        "points",
        format_answer("points", target, width=w, height=h, coords=coords),
        width=w,
        height=h,
        coords=coords,
    )
    np.testing.assert_allclose(parsed.points, np.array(pts), atol=_tol(coords, w, h) + 0.5)
    count = parse_answer(
        "count",
        format_answer("count", target, width=w, height=h, coords=coords),
        width=w,
        height=h,
        coords=coords,
    )
    assert count.count == len(boxes)
    tokens = parse_answer(
        "box_tokens",
        format_answer("box_tokens", target, width=w, height=h, coords=coords),
        width=w,
        height=h,
        coords=coords,
    )
    assert tokens.labels == ["red circle"] * len(boxes)


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip()))
def test_text_round_trip(text: str) -> None:
    out = format_answer("text", {"text": text}, width=10, height=10, coords="absolute_pixels")
    parsed = parse_answer("text", out, width=10, height=10, coords="absolute_pixels")
    assert parsed is not None and parsed.text == text.strip() or "<answer>" in text or "</think>" in text


def test_known_shapes() -> None:
    kw = {"width": 200, "height": 100, "coords": "normalized_1000"}
    p = parse_answer("box_tokens", "<|box_start|>(100,200),(500,600)<|box_end|>", **kw)
    assert p.boxes.tolist() == [[20.0, 20.0, 100.0, 60.0]]
    stripped = parse_answer("box_tokens", "the cat(100,200),(500,600)", **kw)  # decoder dropped tokens
    assert stripped.boxes.tolist() == [[20.0, 20.0, 100.0, 60.0]]
    px = {"width": 200, "height": 100, "coords": "absolute_pixels"}
    assert parse_answer("bracket_boxes", "The box is [1, 2, 3, 4].", **px).boxes.tolist() == [[1, 2, 3, 4]]
    assert parse_answer("bracket_boxes", "[]", **px).count == 0
    fenced = '```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "circle"}]\n```\nDone! }]'
    assert parse_answer("json_boxes", fenced, **px).labels == ["circle"]
    truncated = (
        '[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7, 8], "label": "b"}, {"bbox_2d": [9,'
    )
    assert parse_answer("json_boxes", truncated, **px).count == 2
    assert parse_answer("points", "(1, 2) and (3.5, 4)", **px).points.tolist() == [[1, 2], [3.5, 4]]
    assert parse_answer("count", "There are 5 circles.", **px).count == 5
    for bad in ("3.5", "-2", "1e309", "NaN", "many"):
        assert parse_answer("count", bad, **px) is None, bad


def test_think_envelope() -> None:
    px = {"width": 10, "height": 10, "coords": "absolute_pixels", "format": None}
    px.pop("format")
    good = "<think>two things</think>\n<answer>[1, 2, 3, 4]</answer>"
    assert parse_answer("bracket_boxes", good, require_think=True, **px).count == 1
    assert parse_answer("bracket_boxes", "[1, 2, 3, 4]", require_think=True, **px) is None
    assert parse_answer("bracket_boxes", "[1, 2, 3, 4]", **px).count == 1
    assert parse_answer("bracket_boxes", "<answer>[9, 9, 9, 9]</answer> junk [1,1,1,1]", **px).count == 1
    doubled = "<think>a</think><answer>[1,2,3,4]</answer><think>b</think><answer>[1,2,3,4]</answer>"
    assert extract_answer(doubled, require_think=True) is None
    assert extract_answer("<think>[5,5,5,5]</think> [1,2,3,4]") == " [1,2,3,4]"


def test_wrong_types_and_junk_values() -> None:
    px = {"width": 10, "height": 10, "coords": "absolute_pixels"}
    assert parse_answer("json_boxes", '{"bbox_2d": [1, 2, 3, 4]}', **px).count == 1  # dict for list
    assert parse_answer("json_boxes", '[{"bbox_2d": ["1", "2", "3", "4"]}]', **px) is None
    assert parse_answer("json_boxes", '[{"bbox_2d": [true, 2, 3, 4]}]', **px) is None
    assert parse_answer("json_boxes", "[1, 2, 3, 4]", **px) is None
    assert parse_answer("json_boxes", "[]", **px).count == 0
    assert parse_answer("bracket_boxes", "[1e309, 0, 1, 1]", **px) is None
    assert parse_answer("bracket_boxes", "[1e309, 0, 1, 1] [0, 0, 1, 1]", **px).count == 1
    deep = "[" * 100_000 + "]" * 100_000
    assert parse_answer("json_boxes", deep, **px) is None
    huge = json.dumps([{"bbox_2d": [0, 0, 1, 1], "label": "a"}] * 5000)
    assert parse_answer("json_boxes", huge, **px).count <= 1000
    assert parse_answer("box_tokens", "(1,2),(3,4)", width=0, height=0, coords="normalized_1000") is None


def test_config_errors_are_loud() -> None:
    with pytest.raises(UnknownNameError, match="json_boxes"):
        parse_answer("json_box", "[]", width=1, height=1, coords="absolute_pixels")
    with pytest.raises(UnknownNameError, match="normalized_1000"):
        format_answer("count", {"count": 1}, width=1, height=1, coords="normalised_1000")
    assert set(ANSWER_FORMATS) == {"box_tokens", "bracket_boxes", "json_boxes", "points", "count", "text"}
