"""COCO box AP through faster-coco-eval, the official COCOeval protocol at C++ speed.

The evaluation inputs (a ground-truth dataset dict and a detection list) are built here once and
are the same objects a pycocotools run would take, so tests and ``benchmarks/bench_coco.py`` can
check that both evaluators agree exactly. As in Perception-R1's released evaluation, a generated
answer has no confidence, so every predicted box gets score 1.0: AP then measures the quality of
one ranked-by-position list per image rather than a calibrated detector.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pr1bench.perception.formats import ParsedAnswer
from pr1bench.perception.geometry import as_boxes
from pr1bench.perception.targets import as_target

COCO_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
_STAT_INDEX = (0, 1, 2, 3, 4, 5, 8)
COCO_NOTE = (
    "Every predicted box has score 1.0 (generated answers carry no confidence; same as the "
    "Perception-R1 evaluation). Predictions whose label is not a ground-truth category are ignored, "
    "as COCOeval does for unknown categories."
)


def _xywh(boxes: np.ndarray) -> list[list[float]]:
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    return np.stack([boxes[:, 0], boxes[:, 1], w, h], axis=1).tolist()


def _label(x: object, agnostic: bool) -> str:
    return "object" if agnostic else str(x).strip().lower()


def coco_inputs(
    preds: Sequence[ParsedAnswer | None],
    targets: Sequence[object],
    *,
    categories: Sequence[str] | None = None,
    class_agnostic: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build ``(ground_truth_dataset, detections)`` in COCO json form.

    Args:
        preds: parsed answers (pixels) or ``None`` for unparseable ones, one per image.
        targets: canonical detection targets (dicts or JSON strings), one per image.
        categories: category names; default: the sorted ground-truth labels.
        class_agnostic: put every box in one category (for formats without labels).
    """
    tgts = [as_target(t) or {} for t in targets]
    gt_labels = [[_label(x, class_agnostic) for x in t.get("labels", [])] for t in tgts]
    names = (
        sorted({x for labels in gt_labels for x in labels})
        if categories is None
        else [_label(c, class_agnostic) for c in categories]
    )
    cat_id = {name: i + 1 for i, name in enumerate(dict.fromkeys(names))}
    images, anns, dets = [], [], []
    for img_id, (pred, tgt, labels) in enumerate(zip(preds, tgts, gt_labels, strict=True), start=1):
        images.append({"id": img_id})
        for box, lab in zip(_xywh(as_boxes(tgt.get("boxes", []))), labels, strict=False):
            if lab in cat_id:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": img_id,
                        "category_id": cat_id[lab],
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                    }
                )
        dets.extend(_detections(pred, img_id, cat_id, class_agnostic))
    cats = [{"id": i, "name": n} for n, i in cat_id.items()]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def _detections(
    pred: ParsedAnswer | None, img_id: int, cat_id: Mapping[str, int], agnostic: bool
) -> list[dict[str, Any]]:
    if pred is None or len(pred.boxes) == 0:
        return []
    labels = [_label(x, agnostic) for x in pred.labels]
    return [
        {"image_id": img_id, "category_id": cat_id[lab], "bbox": box, "score": 1.0}
        for box, lab in zip(_xywh(pred.boxes), labels, strict=True)
        if lab in cat_id
    ]


def faster_coco_stats(gt: dict[str, Any], dets: list[dict[str, Any]]) -> dict[str, float]:
    """Run faster-coco-eval's COCOeval on prepared inputs; returns ``COCO_KEYS`` as fractions.

    COCO convention: -1 means "no ground truth to evaluate". With ground truth but no
    detections every value is 0 (COCO loaders reject an empty detection list, so it is special-cased).
    """
    if not dets:
        value = 0.0 if gt["annotations"] else -1.0
        return dict.fromkeys(COCO_KEYS, value)
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(ev.stats[i]) for k, i in zip(COCO_KEYS, _STAT_INDEX, strict=True)}


def coco_ap(
    preds: Sequence[ParsedAnswer | None],
    targets: Sequence[object],
    *,
    categories: Sequence[str] | None = None,
    class_agnostic: bool = False,
) -> dict[str, float]:
    """COCO AP, AP50, AP75, APs, APm, APl, AR100 (fractions in [0, 1]); see ``COCO_NOTE``."""
    gt, dets = coco_inputs(preds, targets, categories=categories, class_agnostic=class_agnostic)
    return faster_coco_stats(gt, dets)
