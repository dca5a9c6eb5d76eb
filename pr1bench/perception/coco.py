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
    protocol: str = "pr1bench",
    coords: str = "absolute_pixels",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build ``(ground_truth_dataset, detections)`` in COCO json form.

    Args:
        preds: parsed answers (pixels) or ``None`` for unparseable ones, one per image.
        targets: canonical detection targets (dicts or JSON strings), one per image.
        categories: category names; default: the sorted ground-truth labels.
        class_agnostic: put every box in one category (for formats without labels).
        protocol: ``pr1bench`` (labels compared stripped and lower-cased, image ids in row order, box
            areas, no crowd regions) or ``perception-r1`` (:func:`release_coco_inputs`).
        coords: the answer's coordinate convention (``perception-r1`` re-reads the raw answer numbers).
    """
    if protocol == "perception-r1" and not class_agnostic:
        return release_coco_inputs(preds, targets, categories=categories, coords=coords)
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


def release_coco_inputs(
    preds: Sequence[ParsedAnswer | None],
    targets: Sequence[object],
    *,
    categories: Sequence[str] | None = None,
    coords: str = "absolute_pixels",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCOeval inputs as ``eval/evaluate_detection.py`` builds them (quirks D1-D7 of :mod:`..protocols`).

    A target with a ``coco`` block (the COCO adapter's: ``image_id``, original ``width``/``height``,
    ``categories`` as ``[id, name]`` and ``anns`` as ``[category_id, x, y, w, h, area, iscrowd]`` straight
    from the annotation file) contributes that image exactly as the file has it: its own id, crowd regions,
    annotation areas, zero-area boxes. A target without one gets id = its position (from 1) and its
    ``boxes``/``labels`` with box areas. Detections are the answer's items re-read with exact category
    names, ``[x1, y1, x2 - x1, y2 - y1]`` unclamped, score 1.0; pixel answers are taken as pixels of the
    annotated image (D6), 0-1000 answers are mapped onto the annotated image's size.
    """
    from pr1bench.perception.protocols import release_detections

    tgts = [as_target(t) or {} for t in targets]
    blocks = [t.get("coco") if isinstance(t.get("coco"), dict) else None for t in tgts]
    cat_id: dict[str, int] = {}
    for b in blocks:
        for cid, name in (b or {}).get("categories") or []:
            cat_id.setdefault(str(name), int(cid))
    plain_names = [str(x) for t, b in zip(tgts, blocks, strict=True) if b is None for x in t.get("labels", [])]
    extra = sorted(set(plain_names) - set(cat_id)) if categories is None else [str(c) for c in categories]
    for name in extra:
        cat_id.setdefault(name, max(cat_id.values(), default=0) + 1)
    images: dict[int, dict[str, Any]] = {}
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for pos, (pred, tgt, block) in enumerate(zip(preds, tgts, blocks, strict=True), start=1):
        if block is not None:
            img_id, size = int(block["image_id"]), (float(block.get("width") or 0), float(block.get("height") or 0))
            if img_id not in images:
                images[img_id] = {"id": img_id}
                for cid, x, y, w, h, area, crowd in block.get("anns") or []:
                    anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": int(cid),
                                 "bbox": [x, y, w, h], "area": area, "iscrowd": int(bool(crowd))})
        else:
            img_id, size = pos, None
            images[img_id] = {"id": img_id}
            for box, lab in zip(_xywh(as_boxes(tgt.get("boxes", []))), tgt.get("labels", []), strict=False):
                if str(lab) in cat_id:
                    anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat_id[str(lab)],
                                 "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        dets.extend(_release_dets(pred, img_id, cat_id, coords, size, release_detections))
    cats = [{"id": i, "name": n} for n, i in sorted(cat_id.items(), key=lambda kv: kv[1])]
    return {"images": list(images.values()), "annotations": anns, "categories": cats}, dets


def _release_dets(pred: ParsedAnswer | None, img_id: int, cat_id: Mapping[str, int], coords: str,
                  size: tuple[float, float] | None, reader: Any) -> list[dict[str, Any]]:
    if pred is None:
        return []
    if pred.text is not None:  # the release parser's answer: re-read against the category names (D2, D3)
        items = reader(pred.text, cat_id.__contains__)
        scale = None
        if coords == "normalized_1000" and size and size[0] > 0 and size[1] > 0:
            scale = (size[0] / 1000.0, size[1] / 1000.0)
        rows = []
        for lab, (x1, y1, x2, y2) in items:
            if scale is not None:
                x1, x2, y1, y2 = x1 * scale[0], x2 * scale[0], y1 * scale[1], y2 * scale[1]
            rows.append((lab, [x1, y1, x2 - x1, y2 - y1]))
    else:  # pixels from another parser: unclamped widths, exact labels
        rows = [(lab, [b[0], b[1], b[2] - b[0], b[3] - b[1]]) for lab, b in zip(pred.labels, pred.boxes.tolist(),
                                                                                 strict=True)]
    return [{"image_id": img_id, "category_id": cat_id[lab], "bbox": box, "score": 1.0}
            for lab, box in rows if lab in cat_id]


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
    protocol: str = "pr1bench",
    coords: str = "absolute_pixels",
) -> dict[str, float]:
    """COCO AP, AP50, AP75, APs, APm, APl, AR100 (fractions in [0, 1]); see ``COCO_NOTE``.

    Under ``protocol="perception-r1"`` the inputs are :func:`release_coco_inputs`'s, and the figures equal
    pycocotools' COCOeval on the annotation file (``benchmarks/bench_coco.py`` checks it).
    """
    gt, dets = coco_inputs(preds, targets, categories=categories, class_agnostic=class_agnostic,
                           protocol=protocol, coords=coords)
    return faster_coco_stats(gt, dets)
