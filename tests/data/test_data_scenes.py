"""Shape scenes (count_shapes, shapes): targets match the drawn pixels, counts agree, order ablation."""

from __future__ import annotations

import numpy as np
import pytest

from pr1bench.data import PlacementError, generate
from pr1bench.data.draw import PALETTE


def _check_object_pixels(arr: np.ndarray, box: list[int], rgb: list[int], background: tuple) -> None:
    """The box is tight around non-background pixels, which all have the object's exact colour."""
    x1, y1, x2, y2 = box
    crop = arr[y1:y2, x1:x2]
    fg = np.any(crop != np.array(background, dtype=np.uint8), axis=-1)
    ys, xs = np.nonzero(fg)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (0, 0, x2 - x1, y2 - y1)
    assert np.all(crop[fg] == np.array(rgb, dtype=np.uint8))
    assert fg.mean() > 0.3  # a real shape, not a sliver


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("count_shapes", {}),
        ("shapes", {}),
        ("shapes", {"colour_mode": "random", "classes": ["star", "diamond"]}),
    ],
)
def test_boxes_match_drawn_objects(name: str, params: dict) -> None:
    for s in generate(name, params, split="t", n_samples=40, seed=1):
        arr = np.asarray(s.image)
        drawn = {tuple(o["box"]): o for o in s.meta["objects"]}
        for o in s.meta["objects"]:
            _check_object_pixels(arr, o["box"], o["rgb"], (245, 245, 240))
        # Every target box is a drawn object; outside all objects the image is plain background.
        assert all(tuple(b) in drawn for b in s.target["boxes"])
        mask = np.ones(arr.shape[:2], bool)
        for x1, y1, x2, y2 in drawn:
            mask[y1:y2, x1:x2] = False
        assert np.all(arr[mask] == np.array([245, 245, 240], dtype=np.uint8))


def test_boxes_do_not_overlap() -> None:
    for s in generate(
        "count_shapes", {"n_objects": [10, 10], "n_distractors": [3, 3]}, split="t", n_samples=20, seed=0
    ):
        boxes = [o["box"] for o in s.meta["objects"]]
        assert len(boxes) == 13
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_counting_target_consistent() -> None:
    for s in generate("count_shapes", {"n_objects": [0, 6]}, split="t", n_samples=40, seed=2):
        t = s.target
        assert t["count"] == len(t["boxes"]) == len(t["points"]) == s.n
        colour, shape = t["label"].split()
        assert s.fields["label"] == f"{colour} {shape}s"
        counted = [o for o in s.meta["objects"] if o["colour"] == colour and o["shape"] == shape]
        assert sorted(map(tuple, t["boxes"])) == sorted(tuple(o["box"]) for o in counted)
        arr = np.asarray(s.image)
        for (cx, cy), (x1, y1, x2, y2) in zip(t["points"], t["boxes"], strict=True):
            assert x1 <= cx < x2 and y1 <= cy < y2
            assert tuple(arr[cy, cx]) == PALETTE[colour]
        assert s.meta["n_distractors"] == len(s.meta["objects"]) - s.n


def test_detection_labels_and_categories() -> None:
    params = {"classes": ["circle", "star"], "n_objects": [3, 6]}
    for s in generate("shapes", params, split="t", n_samples=20, seed=0):
        assert s.fields["categories"] == "circle, star"
        assert len(s.target["labels"]) == len(s.target["boxes"]) == s.n
        assert set(s.target["labels"]) <= {"circle", "star"}
        by_box = {tuple(o["box"]): o["shape"] for o in s.meta["objects"]}
        assert [by_box[tuple(b)] for b in s.target["boxes"]] == s.target["labels"]


def _centre_key(box: list[int]) -> tuple[float, float]:
    return ((box[1] + box[3]) / 2, (box[0] + box[2]) / 2)


@pytest.mark.parametrize("name", ["count_shapes", "shapes"])
def test_order_sorted_vs_random(name: str) -> None:
    base = {"n_objects": [4, 8]}
    rnd = generate(name, {**base, "order": "random"}, split="t", n_samples=30, seed=4)
    srt = generate(name, {**base, "order": "sorted"}, split="t", n_samples=30, seed=4)
    n_unsorted = 0
    for r, s in zip(rnd, srt, strict=True):
        assert r.image.tobytes() == s.image.tobytes()  # same scene, only the list order differs
        assert s.target["boxes"] == sorted(s.target["boxes"], key=_centre_key)
        assert sorted(map(tuple, r.target["boxes"])) == sorted(map(tuple, s.target["boxes"]))
        n_unsorted += r.target["boxes"] != s.target["boxes"]
        if name == "count_shapes":
            assert [[(a + c) // 2, (b + d) // 2] for a, b, c, d in s.target["boxes"]] == s.target["points"]
        else:  # labels follow their boxes
            pair = lambda t: sorted(zip(map(tuple, t["boxes"]), t["labels"], strict=True))  # noqa: E731
            assert pair(r.target) == pair(s.target)
    assert n_unsorted > 20  # random order really is random for 4-8 objects


def test_impossible_scene_raises_placement_error() -> None:
    with pytest.raises(PlacementError, match="could not place"):
        generate("shapes", {"n_objects": [60, 60], "object_size": [24, 28]}, split="t", n_samples=1, seed=0)


def test_default_ranges_place_reliably() -> None:
    """The densest default scene (10 counted + 3 distractors) must place without errors."""
    params = {"n_objects": [10, 10], "n_distractors": [3, 3]}
    assert len(generate("count_shapes", params, split="t", n_samples=200, seed=9)) == 200
