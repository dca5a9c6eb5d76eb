"""The released Perception-R1 reward formulas, by name, so a run can train as the release did.

Written from reading linkangheng/PR1 ``src/open_r1/rewards.py`` and ``src/open_r1/utils.py`` as of its pull
request #12 ("detection_update"), and the training scripts ``local_scripts/train/train_qwen2_2b_vl_*.sh`` (which
set the rewards per task: grounding ``pr1_grounding pr1_grounding_format``, counting ``pr1_counting``, detection
``pr1_detection`` with ``DO_PENAIlty=False``). Not copied. Each reward keeps pr1bench's contract: it never
raises and never returns a non-finite value; where the release would raise out of a reward (and so stop the
training step) the value here is 0.0, and each such place is named below.

Units: the release's grounding and counting rewards work in Qwen2-VL's 0-1000 box units; pr1bench targets
are pixels of the image the model saw, so targets are converted to 0-1000 with the row's width and height (and so
are box-token answers in pixels, a convention the release does not have). The detection reward works in the answer's own numbers (pixels for Qwen2.5-VL), as the release does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from pr1bench.perception.geometry import as_boxes, as_points, box_centers
from pr1bench.perception.protocols import release_box, release_box_centres, release_iou
from pr1bench.perception.rewards import BOX_KINDS, Reward, register

#: The release's category table (``utils.get_cate_to_id``): COCO names -> COCO category ids.
COCO_IDS: dict[str, int] = dict(zip(
    ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
     "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
     "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
     "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
     "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
     "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
     "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
     "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
     "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"),
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
     34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
     62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90),
    strict=True,
))
N_LOGITS = 90  # the release's one-hot width: ids run to 90, so id 90 ("toothbrush") indexes out of range


def _to_1000(values: np.ndarray, width: float | None, height: float | None) -> np.ndarray | None:
    if width is None or height is None:
        return None
    n = values.shape[1]
    return values * 1000.0 / np.array([width, height] * (n // 2))


# ---------------------------------------------------------------- grounding
@register
class ReleaseGroundingIoU(Reward):
    """``pr1_grounding_reward``: IoU squared of the answer's box with the ground truth, in 0-1000 units.

    Release behaviour (``rewards.py`` ``pr1_grounding_reward``, ``utils.py`` ``extract_bbox_answer`` and
    ``compute_iou``): ``<|endoftext|>`` is removed; the box is the first of ``[a,b,c,d]``, ``(a,b,c,d)``,
    ``(a,b),(c,d)`` in that priority (``utils.py``'s patterns: no space before ``)`` in the pair form); with no
    ``<|box_start|>`` in the text each value is multiplied by 1000 and truncated; no match is ``[0,0,0,0]``.
    The IoU has no epsilon: a zero union divides by zero and the release's training step fails; here it is
    0.0. Range [0, 1].
    """

    __name__ = "pr1_grounding"
    kinds = BOX_KINDS

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        if text is None:
            return 0.0
        gt = as_boxes(target.get("boxes", []))
        gt1000 = _to_1000(gt[:1], width, height) if len(gt) else None
        if gt1000 is None:
            return 0.0
        box, has_token = release_box(text.replace("<|endoftext|>", ""), reward=True)
        if box is not None and has_token and self.coords == "absolute_pixels":  # pr1bench's pixel box tokens
            box = _to_1000(np.asarray([box], dtype=np.float64), width, height)[0].tolist()  # type: ignore[index]
        iou = release_iou(box or [0.0, 0.0, 0.0, 0.0], gt1000[0].tolist(), eps=0.0)
        return iou * iou


_FORMAT_PREFIXES = ("<", ">", "object_ref_start", "object_ref_end", "box_start", "box_end", "im_end")


@register
class ReleaseGroundingFormat(Reward):
    """``pr1_grounding_format_reward``: 1.0 when the completion starts with ``<`` or ``>`` (or one of the
    words ``object_ref_start``, ``object_ref_end``, ``box_start``, ``box_end``, ``im_end``), else 0.0.

    That is what the release's pattern does: its ``|`` are not escaped, so
    ``^<|object_ref_start|>.*?<|object_ref_end|>...`` is an alternation of short prefixes under ``re.match``,
    not the box-token shape it was meant to check. **Bug**, mirrored (it was the paper's training signal).
    ``<|endoftext|>`` is removed first, as in the release. Range [0, 1].
    """

    __name__ = "pr1_grounding_format"
    needs_target = False

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        if text is None:
            return 0.0
        return float(text.replace("<|endoftext|>", "").startswith(_FORMAT_PREFIXES))


# ---------------------------------------------------------------- counting
_COUNT_FORMAT = re.compile(
    r"<\|object_ref_start\|>[^<]*<\|object_ref_end\|>(?:<\|box_start\|>[^<]*<\|box_end\|>)+(?:<\|im_end\|>|$)"
)


@register
class ReleaseCountingFormat(Reward):
    """``pr1_counting_format_reward``: 1.0 when the completion starts with
    ``<|object_ref_start|>label<|object_ref_end|>`` and one or more ``<|box_start|>..<|box_end|>`` blocks
    (no ``<`` inside), then ``<|im_end|>``.

    Deviation: the release decodes with special tokens, so its completions end in ``<|im_end|>``;
    pr1bench's decoder stops at the end-of-turn token and drops it, so the end of the text stands for it.
    Range [0, 1].
    """

    __name__ = "pr1_counting_format"
    needs_target = False

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        return float(text is not None and _COUNT_FORMAT.match(text[:20_000]) is not None)


@register
class ReleaseCounting(Reward):
    """``pr1_counting_reward``: min(n_pred, n_gt) / max(n_pred, n_gt) x (1 - mean matched distance / (1000 sqrt 2)),
    gated by :class:`ReleaseCountingFormat` (0.0 when the format fails).

    Release behaviour (``rewards.py`` ``pr1_counting_reward``, ``utils.py`` ``extract_boxes``,
    ``match_and_compute_distances``, ``num_scale``): the predicted points are the centres of the box-token
    blocks that read as two pairs (0-1000 units), the ground truth the annotated points (``clicks``, 0-1000),
    matched by the Hungarian algorithm on Euclidean distance. No readable block (or no ground-truth point)
    raises inside the release's ``try`` and scores 0.0. Deviation: an answer far outside the 0-1000 frame
    can make the release's value negative; here it is clipped at 0 (an out-of-frame answer must not rank
    below garbage). Range [0, 1].
    """

    __name__ = "pr1_counting"
    kinds = frozenset({"boxes"})

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        if text is None or _COUNT_FORMAT.match(text[:20_000]) is None:
            return 0.0
        pred = np.asarray(release_box_centres(text.replace("<|endoftext|>", "")), dtype=np.float64).reshape(-1, 2)
        pts = target.get("points")
        gt_px = as_points(pts) if pts is not None else box_centers(as_boxes(target.get("boxes", [])))
        gt = _to_1000(gt_px, width, height)
        if gt is None or len(pred) == 0 or len(gt) == 0:
            return 0.0
        if self.coords == "absolute_pixels":  # pixel box tokens (pr1bench's own convention): to 0-1000 as well
            pred = _to_1000(pred, width, height)  # type: ignore[assignment]
        dist = np.sqrt(((pred[:, None, :] - gt[None, :, :]) ** 2).sum(-1))
        rows, cols = linear_sum_assignment(dist)
        dist_score = 1.0 - float(dist[rows, cols].mean()) / (1000.0 * math.sqrt(2.0))
        return max(0.0, min(len(pred), len(gt)) / max(len(pred), len(gt)) * dist_score)


# ---------------------------------------------------------------- detection
def _cxcywh(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def _iou_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``utils.box_iou``: unclamped areas, ``+1e-8`` in the union."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / (union + 1e-8), union


def _giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iou, union = _iou_union(a, b)
    lt = np.minimum(a[:, None, :2], b[None, :, :2])
    rb = np.maximum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    area = wh[..., 0] * wh[..., 1] + 1e-8
    return iou - (area - union) / area


class _ReleaseFailure(Exception):
    """Where the release raises inside its ``try``: the reward is 0.0."""


@register
class ReleaseDetection(Reward):
    """``pr1_detection_reward``: 0.25 x format + 0.75 x F1 + class accuracy + mean IoU of matched pairs, in [0, 3].

    Release behaviour (``rewards.py`` ``pr1_detection_reward``; ``utils.py`` ``parse_json``,
    ``HungarianMatcher``, ``calculate_reward``, ``get_cate_to_id``), each point mirrored:

    * the completion must be clean JSON once ```` ```json ```` and ```` ``` ```` are removed, else 0.0;
    * format = the fraction of items with a ``bbox_2d`` and a ``label`` that names a category exactly; no such
      item gives 0.0 (the release's unpacking fails);
    * the boxes must form an ``n x 4`` array of numbers, and be valid (x2 >= x1, y2 >= y1) for the GIoU
      cost, else 0.0 (the release's ``assert`` fails inside its ``try``): **bug**, an inverted box zeroes
      the whole answer;
    * no ground truth: 0.25 x format;
    * matching: ``linear_sum_assignment`` on 5 x L1 (cx, cy, w, h) - 1 x class probability - 2 x GIoU, with
      the class probability from a softmax over a one-hot of width 90 at the predicted id, read at the
      ground truth's ``id - 1``: **bug**, the class term rewards the neighbouring id (it is ~0.02 against
      pixel-scale box costs, so it only breaks ties); a predicted id of 90 ("toothbrush") indexes out of the
      one-hot and gives 0.0 (**bug**); pairs are kept when their IoU (``+1e-8`` in the union) exceeds 0.5;
    * no kept pair: 0.25 x format; else + 0.75 x 2PR/(P+R+1e-8) with P = kept/n_pred, R = kept/n_gt,
      + mean(predicted id == ground-truth id) + mean IoU over kept pairs;
    * the missing/extra penalty ``-(fp + fn) x 0.5`` is off, as the detection script sets
      ``DO_PENAIlty=False`` (``missing_penalty=True`` turns it on); the coverage bonus has scale 0; the value
      is clamped to [0, 3].

    Ground-truth labels that are not COCO names (synthetic tasks) get ids 91, 92, ... in sorted order, and
    the one-hot is widened to hold them (the release has only COCO).
    """

    __name__ = "pr1_detection"
    kinds = BOX_KINDS
    range = (0.0, 3.0)
    options = {"missing_penalty": False}

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        if text is None:
            return 0.0
        try:
            return self._score(text, target, width, height)
        except _ReleaseFailure:
            return 0.0

    def _score(self, text: str, target: Mapping[str, Any], width: float | None, height: float | None) -> float:
        try:
            content = json.loads(text[:20_000].replace("```json", "").replace("```", ""))
        except (ValueError, RecursionError):
            raise _ReleaseFailure from None
        gt_labels = [str(x) for x in target.get("labels", [])]
        ids = dict(COCO_IDS)
        for name in sorted(set(gt_labels) - set(ids)):
            ids[name] = max(ids.values()) + 1
        if isinstance(content, (int, float, bool)) or content is None:
            raise _ReleaseFailure
        items = list(content)  # a dict iterates its keys and a string its characters: every item is wrong
        pred_ids, pred_boxes, wrong = [], [], 0
        for it in items[:1000]:
            if isinstance(it, dict) and "bbox_2d" in it and isinstance(it.get("label"), str) and it["label"] in ids:
                pred_boxes.append(it["bbox_2d"])
                pred_ids.append(ids[it["label"]])
            else:
                wrong += 1
        if not pred_ids:
            raise _ReleaseFailure
        fmt = 1.0 - wrong / len(items)
        reward = 0.25 * fmt
        if not all(isinstance(b, list) and len(b) == 4 and all(type(v) in (int, float, bool) for v in b)
                   for b in pred_boxes):
            raise _ReleaseFailure
        pb = np.asarray(pred_boxes, dtype=np.float64)
        if self.coords == "normalized_1000" and width and height:
            with np.errstate(all="ignore"):  # huge numbers overflow to inf, then are refused
                pb = pb * np.array([width, height, width, height]) / 1000.0
        gt = as_boxes(target.get("boxes", []))
        if not np.all(np.isfinite(pb)):
            raise _ReleaseFailure
        if len(gt) == 0:
            return reward
        tid = np.array([ids[x] for x in gt_labels[: len(gt)]] + [0] * (len(gt) - len(gt_labels)), dtype=np.int64)
        pid = np.asarray(pred_ids, dtype=np.int64)
        width_logits = max(ids.values()) + 1 if len(ids) > len(COCO_IDS) else N_LOGITS
        if pid.max() >= width_logits:
            raise _ReleaseFailure  # the one-hot index is out of range (toothbrush)
        if np.any(pb[:, 2:] < pb[:, :2]) or np.any(gt[:, 2:] < gt[:, :2]):
            raise _ReleaseFailure  # generalized_box_iou's assert
        e = math.e
        p_hit, p_miss = e / (e + width_logits - 1), 1.0 / (e + width_logits - 1)
        cost_class = -np.where(pid[:, None] == (tid - 1)[None, :], p_hit, p_miss)
        cost_bbox = np.abs(_cxcywh(pb)[:, None, :] - _cxcywh(gt)[None, :, :]).sum(-1)
        cost = 5.0 * cost_bbox + 1.0 * cost_class - 2.0 * _giou(pb, gt)
        if not np.all(np.isfinite(cost)):
            raise _ReleaseFailure
        rows, cols = linear_sum_assignment(cost)
        iou, _ = _iou_union(pb[rows], gt[cols])
        matched = np.diag(iou) > 0.5
        rows, cols, ious = rows[matched], cols[matched], np.diag(iou)[matched]
        if len(rows) == 0:
            return reward
        precision, recall = len(rows) / len(pb), len(rows) / len(gt)
        reward += 0.75 * (2 * precision * recall / (precision + recall + 1e-8))
        reward += float(np.mean(pid[rows] == tid[cols])) + float(np.mean(ious))
        if self.missing_penalty:
            reward -= ((len(pb) - len(rows)) / len(pb) + (len(gt) - len(rows)) / len(gt)) * 0.5
        return min(max(reward, 0.0), 3.0)
