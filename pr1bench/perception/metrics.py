"""Evaluation metrics per task type, and a per-sample correct/score for ``samples.parquet``.

Every metric takes parsed predictions (``ParsedAnswer`` in pixels, or ``None`` when the answer
did not parse) and canonical targets (dicts or JSON strings), and returns a dict of floats in
[0, 1] (fractions, not percentages). An unparseable answer counts as wrong, never as skipped, so
a model cannot raise its score by refusing to answer. Notes that qualify a metric (e.g. COCO's
score-1.0 convention) are in ``METRIC_NOTES`` rather than in the dict, which stays all-float.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pr1bench.perception.coco import COCO_NOTE, coco_ap
from pr1bench.perception.formats import ParsedAnswer
from pr1bench.perception.geometry import as_boxes, iou_matrix
from pr1bench.perception.matching import match
from pr1bench.perception.targets import as_target, target_count, target_labels
from pr1bench.perception.textdist import normalized_edit_distance, token_prf
from pr1bench.registry import Registry

Preds = Sequence[ParsedAnswer | None]
MetricFn = Callable[..., dict[str, float]]
METRICS: Registry[MetricFn] = Registry("metric")
METRIC_NOTES: dict[str, str] = {"coco_ap": COCO_NOTE}
TASK_TYPES: tuple[str, ...] = ("grounding", "counting", "ocr", "detection")
OCR_CORRECT_NED = 0.05
METRICS.add("coco_ap", coco_ap)
METRIC_NOTES["coco_ap@perception-r1"] = (
    "perception-r1 protocol: COCOeval on the annotation file's own image ids, crowd regions and areas; labels "
    "matched exactly; only clean JSON answers count; every box score 1.0 (Perception-R1 eval/evaluate_detection.py)."
)
METRIC_NOTES["ocr@perception-r1"] = (
    "perception-r1 protocol: Perception-R1 eval/evaluate_ocr.py cal_per_metrics (raw strings, jieba for Chinese, "
    "token-set precision/recall/F1, nltk BLEU; meteor_nosyn = METEOR without WordNet synonyms when the WordNet "
    "corpus is not installed); an empty side scores 0 where the release crashes."
)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _targets(targets: Sequence[object]) -> list[dict[str, Any]]:
    return [dict(as_target(t) or {}) for t in targets]


def first_box_iou(pred: ParsedAnswer | None, target: dict[str, Any]) -> float:
    """IoU of the first predicted and first ground-truth box (0.0 if either is missing)."""
    gt = as_boxes(target.get("boxes", []))
    if pred is None or len(pred.boxes) == 0 or len(gt) == 0:
        return 0.0
    return float(iou_matrix(pred.boxes[:1], gt[:1])[0, 0])


def release_first_box_iou(pred: ParsedAnswer | None, target: dict[str, Any]) -> float:
    """The release's IoU (``eval/evaluate_grounding.py`` ``compute_iou``: unclamped areas, ``+1e-10``)."""
    from pr1bench.perception.protocols import release_iou

    gt = as_boxes(target.get("boxes", []))
    if len(gt) == 0:
        return 0.0
    box = pred.boxes[0].tolist() if pred is not None and len(pred.boxes) else [0.0, 0.0, 0.0, 0.0]
    return release_iou(gt[0].tolist(), box)


@METRICS.register("grounding_acc")
def grounding_acc(preds: Preds, targets: Sequence[object], *, protocol: str = "pr1bench",
                  coords: str = "absolute_pixels") -> dict[str, float]:
    """Acc@IoU>=0.5/0.75/0.95 (``acc50``, ``acc75``, ``acc95``), their mean ``avg`` (the paper's
    "Avg"), mean IoU ``miou`` and the parse rate.

    ``perception-r1`` (``eval/evaluate_grounding.py``): the release's IoU (quirks G3, G5, G6 of
    :mod:`pr1bench.perception.protocols`), plus its ``acc10``, ``acc30`` and ``center_acc``.
    """
    tg = _targets(targets)
    if protocol == "perception-r1":
        from pr1bench.perception.protocols import center_inside

        ious = np.array([release_first_box_iou(p, t) for p, t in zip(preds, tg, strict=True)])
        thresholds: tuple[float, ...] = (0.1, 0.3, 0.5, 0.75, 0.95)
        centre = [
            float(bool(len(as_boxes(t.get("boxes", []))))
                  and center_inside(as_boxes(t.get("boxes", []))[0].tolist(),
                                    p.boxes[0].tolist() if p is not None and len(p.boxes) else [0.0] * 4))
            for p, t in zip(preds, tg, strict=True)
        ]
    else:
        ious = np.array([first_box_iou(p, t) for p, t in zip(preds, tg, strict=True)])
        thresholds, centre = (0.5, 0.75, 0.95), []
    accs = {f"acc{int(round(thr * 100))}": _mean(ious >= thr) for thr in thresholds}
    avg = _mean([accs["acc50"], accs["acc75"], accs["acc95"]])
    out = {**accs, "avg": avg, "miou": _mean(ious), "parse_rate": _parse_rate(preds)}
    if protocol == "perception-r1":
        out["center_acc"] = _mean(centre)
    return out


@METRICS.register("count_acc")
def count_acc(preds: Preds, targets: Sequence[object], *, protocol: str = "pr1bench",
              coords: str = "absolute_pixels") -> dict[str, float]:
    """Exact-count accuracy ``acc``, mean absolute error ``mae`` (unparseable = predicted 0), parse rate.

    Same under both protocols; under ``perception-r1`` the parser is the release's (quirks C1, C2 of
    :mod:`pr1bench.perception.protocols`: boxes counted, no box means ``None``, never equal to a count).
    """
    gts = [target_count(t) for t in _targets(targets)]
    counts = [p.count if p is not None and p.count is not None else None for p in preds]
    acc = [float(c == g) for c, g in zip(counts, gts, strict=True)]
    mae = [abs((c or 0) - g) for c, g in zip(counts, gts, strict=True)]
    return {"acc": _mean(acc), "mae": _mean(mae), "parse_rate": _parse_rate(preds)}


@METRICS.register("ocr")
def ocr(preds: Preds, targets: Sequence[object], *, protocol: str = "pr1bench",
        coords: str = "absolute_pixels") -> dict[str, float]:
    """Mean normalised edit distance ``ned`` (lower is better; unparseable = 1), token
    ``precision``/``recall``/``f1`` (multiset overlap, unparseable = 0), exact-match rate ``exact``.

    ``perception-r1``: the release's ``cal_per_metrics`` per sample, averaged (quirks O1-O6 of
    :mod:`pr1bench.perception.protocols`): raw strings, jieba for Chinese, token sets, BLEU and METEOR.
    """
    if protocol == "perception-r1":
        return _release_ocr(preds, _targets(targets))
    rows = [_ocr_row(p, t) for p, t in zip(preds, _targets(targets), strict=True)]
    keys = ("ned", "precision", "recall", "f1")
    out = {k: _mean([r[i] for r in rows]) for i, k in enumerate(keys)}
    return {**out, "exact": _mean([float(r[0] == 0.0) for r in rows]), "parse_rate": _parse_rate(preds)}


def _release_ocr(preds: Preds, targets: list[dict[str, Any]]) -> dict[str, float]:
    from pr1bench.perception.protocols import ocr_metrics

    rows = [ocr_metrics(p.text if p is not None and p.text is not None else "", str(t.get("text", "")))
            for p, t in zip(preds, targets, strict=True)]
    keys = list(rows[0]) if rows else ["ned", "bleu", "precision", "recall", "f1"]
    out = {k: _mean([r.get(k, 0.0) for r in rows]) for k in keys}
    return {**out, "exact": _mean([float(r["ned"] == 0.0) for r in rows]), "parse_rate": _parse_rate(preds)}


def _ocr_row(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[float, float, float, float]:
    if pred is None or pred.text is None:
        return 1.0, 0.0, 0.0, 0.0
    gt = str(target.get("text", "")).strip()
    return (normalized_edit_distance(pred.text, gt), *token_prf(pred.text, gt))


def _parse_rate(preds: Preds) -> float:
    return _mean([float(p is not None) for p in preds])


# ---------------------------------------------------------------- per-sample scores
def _grounding_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """Score = IoU of the first box; correct at IoU >= 0.5 (the paper's Acc@0.5)."""
    iou = first_box_iou(pred, target)
    return iou >= 0.5, iou


def _counting_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """Correct = exact count; score = max(0, 1 - |pred - gt| / max(gt, 1)) (unparseable = 0)."""
    gt = target_count(target)
    if pred is None or pred.count is None:
        return False, 0.0
    return pred.count == gt, max(0.0, 1.0 - abs(pred.count - gt) / max(gt, 1))


def _ocr_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """Score = 1 - normalised edit distance; correct when NED <= ``OCR_CORRECT_NED`` (0.05),
    i.e. at most one character error in twenty, since exact page transcripts are rare."""
    ned = _ocr_row(pred, target)[0]
    return ned <= OCR_CORRECT_NED, 1.0 - ned


def _labelled_box_f1(pred: ParsedAnswer | None, target: dict[str, Any],
                     labels: Callable[[ParsedAnswer, dict[str, Any]], tuple[list[str], list[str]]]
                     ) -> tuple[bool, float]:
    """F1 at IoU >= 0.5 with matching labels (Hungarian on IoU); correct when F1 == 1. ``labels`` gives the
    (predicted, ground-truth) label lists to compare, which is where the protocols differ."""
    gt = as_boxes(target.get("boxes", []))
    n_pred = 0 if pred is None else len(pred.boxes)
    if n_pred == 0 and len(gt) == 0:
        return pred is not None, 1.0 if pred is not None else 0.0
    if pred is None or n_pred == 0 or len(gt) == 0:
        return False, 0.0
    iou = iou_matrix(pred.boxes, gt)
    rows, cols = match(iou, "hungarian")
    pl, gl = labels(pred, target)
    tp = sum(
        iou[i, j] >= 0.5 and i < len(pl) and j < len(gl) and pl[i] == gl[j]
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
    )
    f1 = 2.0 * tp / (n_pred + len(gt))
    return f1 == 1.0, f1


def _detection_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """Score = F1 at IoU >= 0.5 with matching labels (compared lower-cased and stripped); correct when F1 == 1,
    i.e. every object found, correctly labelled, and nothing extra."""
    return _labelled_box_f1(pred, target, lambda p, t: ([x.strip().lower() for x in p.labels], target_labels(t)))


SCORERS: Registry[Callable[[ParsedAnswer | None, dict[str, Any]], tuple[bool, float]]] = Registry("task type")
SCORERS.add("grounding", _grounding_sample)
SCORERS.add("counting", _counting_sample)
SCORERS.add("ocr", _ocr_sample)
SCORERS.add("detection", _detection_sample)


def _release_grounding_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """perception-r1: the release's IoU, correct at >= 0.5 (its ACC@0.5)."""
    iou = release_first_box_iou(pred, target)
    return iou >= 0.5, max(0.0, min(1.0, iou))


def _release_ocr_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """perception-r1: score = 1 - the release's edit distance (raw strings); correct at <= 0.05."""
    from pr1bench.perception.protocols import ocr_metrics

    ned = ocr_metrics(pred.text if pred is not None and pred.text is not None else "",
                      str(target.get("text", "")))["ned"]
    return ned <= OCR_CORRECT_NED, 1.0 - ned


def _release_detection_sample(pred: ParsedAnswer | None, target: dict[str, Any]) -> tuple[bool, float]:
    """perception-r1: as ``_detection_sample`` with labels compared exactly (the release's D2)."""
    return _labelled_box_f1(pred, target, lambda p, t: (list(p.labels), [str(x) for x in t.get("labels", [])]))


RELEASE_SCORERS = {"grounding": _release_grounding_sample, "ocr": _release_ocr_sample,
                   "detection": _release_detection_sample}


def score_samples(task_type: str, preds: Preds, targets: Sequence[object], *, protocol: str = "pr1bench"
                  ) -> list[dict[str, Any]]:
    """Per-sample ``{"correct": bool, "score": float in [0, 1]}`` for ``samples.parquet``.

    The rules per task type are in the docstrings of ``_grounding_sample``, ``_counting_sample``,
    ``_ocr_sample`` and ``_detection_sample`` (``_release_*_sample`` under ``perception-r1``).
    """
    scorer = SCORERS.get(task_type)
    if protocol == "perception-r1":
        scorer = RELEASE_SCORERS.get(task_type, scorer)
    out = []
    for p, t in zip(preds, _targets(targets), strict=True):
        correct, score = scorer(p, t)
        out.append({"correct": bool(correct), "score": float(score)})
    return out
