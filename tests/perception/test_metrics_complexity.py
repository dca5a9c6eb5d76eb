"""Metrics and per-sample scores on hand-computed cases; COCO AP equal to pycocotools; complexity stats."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from pr1bench.perception import (
    METRIC_NOTES,
    METRICS,
    bucket,
    bucket_labels,
    n_objects,
    parse_answer,
    score_samples,
    task_complexity,
)
from pr1bench.perception.coco import COCO_KEYS, coco_inputs, faster_coco_stats
from pr1bench.perception.formats import ParsedAnswer

PX = {"width": 100, "height": 100, "coords": "absolute_pixels"}


def test_grounding_metrics() -> None:
    targets = [{"boxes": [[0, 0, 10, 10]]}] * 4
    preds = [
        parse_answer("bracket_boxes", t, **PX)
        for t in ("[0, 0, 10, 10]", "[0, 0, 10, 8]", "[0, 0, 10, 6]", "nothing")
    ]
    m = METRICS.get("grounding_acc")(preds, targets)
    assert m["acc50"] == 0.75 and m["acc75"] == 0.5 and m["acc95"] == 0.25
    assert m["avg"] == pytest.approx((0.75 + 0.5 + 0.25) / 3)
    assert m["miou"] == pytest.approx((1 + 0.8 + 0.6) / 4) and m["parse_rate"] == 0.75
    rows = score_samples("grounding", preds, targets)
    assert [r["correct"] for r in rows] == [True, True, True, False]


def test_count_and_ocr_metrics() -> None:
    targets = [{"count": 3}, {"count": 2}, {"boxes": [[0, 0, 1, 1]]}]
    preds = [parse_answer("count", t, **PX) for t in ("3", "5", "?")]
    assert METRICS.get("count_acc")(preds, targets) == {
        "acc": 1 / 3,
        "mae": (0 + 3 + 1) / 3,
        "parse_rate": 2 / 3,
    }
    assert [r["score"] for r in score_samples("counting", preds, targets)] == [1.0, 0.0, 0.0]
    texts = [{"text": "a b c d"}, {"text": "hello"}]
    preds = [parse_answer("text", t, **PX) for t in ("a b c e", "")]
    m = METRICS.get("ocr")(preds, texts)
    assert m["ned"] == pytest.approx((1 / 7 + 1) / 2)
    assert m["precision"] == m["recall"] == m["f1"] == pytest.approx(0.75 / 2)
    assert [r["correct"] for r in score_samples("ocr", preds, texts)] == [False, False]


def test_detection_sample_score() -> None:
    target = {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": ["a", "b"]}
    good = ParsedAnswer(boxes=np.array([[20, 20, 30, 30], [0, 0, 10, 10.0]]), labels=["B", "a"], count=2)
    half = ParsedAnswer(boxes=np.array([[0, 0, 10, 10.0]]), labels=["a"], count=1)
    rows = score_samples("detection", [good, half, None], [target] * 3)
    assert rows == [
        {"correct": True, "score": 1.0},
        {"correct": False, "score": 2 / 3},
        {"correct": False, "score": 0.0},
    ]


def _synthetic(n_images: int, seed: int) -> tuple[list[ParsedAnswer | None], list[dict]]:
    rng = np.random.default_rng(seed)
    cats = ["circle", "square", "triangle"]
    preds, targets = [], []
    for _ in range(n_images):
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, 400, (n, 2))
        wh = rng.uniform(4, 200, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = [cats[i] for i in rng.integers(0, 3, n)]
        targets.append({"boxes": boxes.tolist(), "labels": labels})
        keep = rng.random(n) < 0.8
        noisy = boxes[keep] + rng.normal(0, 6, (int(keep.sum()), 4))
        extra = int(rng.integers(0, 3))
        exy = rng.uniform(0, 400, (extra, 2))
        noisy = np.concatenate([noisy, np.concatenate([exy, exy + 30], axis=1)])
        plabels = [lab if rng.random() < 0.9 else "circle" for lab, k in zip(labels, keep, strict=False) if k]
        plabels += [cats[i] for i in rng.integers(0, 3, extra)] + [] if extra else []
        plabels = plabels[: len(noisy)] + ["square"] * (len(noisy) - len(plabels))
        preds.append(
            None if rng.random() < 0.05 else ParsedAnswer(boxes=noisy, labels=plabels, count=len(noisy))
        )
    return preds, targets


def _pycocotools_stats(gt: dict, dets: list[dict]) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(ev.stats[i]) for k, i in zip(COCO_KEYS, (0, 1, 2, 3, 4, 5, 8), strict=False)}


def test_coco_ap_equals_pycocotools() -> None:
    preds, targets = _synthetic(200, seed=0)
    gt, dets = coco_inputs(preds, targets)
    ours = faster_coco_stats(gt, dets)
    ref = _pycocotools_stats(*coco_inputs(preds, targets))
    assert 0.1 < ours["AP"] < 0.9
    for key in COCO_KEYS:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
    assert METRICS.get("coco_ap")(preds, targets) == ours
    assert "score 1.0" in METRIC_NOTES["coco_ap"]


def test_coco_ap_edge_cases() -> None:
    targets = [{"boxes": [[0, 0, 10, 10]], "labels": ["a"]}]
    assert METRICS.get("coco_ap")([None], targets)["AP"] == 0.0
    perfect = [parse_answer("json_boxes", '[{"bbox_2d": [0, 0, 10, 10], "label": "a"}]', **PX)]
    assert METRICS.get("coco_ap")(perfect, targets)["AP"] == pytest.approx(1.0)
    unlabeled = [parse_answer("bracket_boxes", "[0, 0, 10, 10]", **PX)]
    assert METRICS.get("coco_ap")(unlabeled, targets, class_agnostic=True)["AP50"] == pytest.approx(1.0)


def test_complexity_stats() -> None:
    stats = task_complexity([1, 2, 3, 4])
    assert stats["mean_n_factorial"] == pytest.approx((1 + 2 + 6 + 24) / 4)
    assert stats["mean_log_n_factorial"] == pytest.approx((0 + math.log(2) + math.log(6) + math.log(24)) / 4)
    assert stats["median_n_factorial"] == 4.0  # (2! + 3!) / 2
    assert task_complexity([3, 1, 5])["median_n_factorial"] == 6.0
    crowded = task_complexity([1, 300])
    assert crowded["mean_n_factorial"] == math.inf
    assert crowded["log10_mean_n_factorial"] == pytest.approx((math.lgamma(301) - math.log(2)) / math.log(10))
    assert n_objects({"boxes": [[0, 0, 1, 1]] * 3}) == 3 and n_objects({"text": "x"}) == 1
    assert n_objects('{"count": 7}') == 7
    assert [bucket(n) for n in (0, 1, 2, 3, 4, 6, 7, 10, 11, 99)] == [
        "0",
        "1",
        "2-3",
        "2-3",
        "4-6",
        "4-6",
        "7-10",
        "7-10",
        "11+",
        "11+",
    ]
    assert bucket_labels((1, 5)) == ["1-4", "5+"]
