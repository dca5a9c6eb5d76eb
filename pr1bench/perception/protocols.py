"""Evaluation protocols: ``perception-r1`` (the released Perception-R1 code's semantics) and ``pr1bench``.

A task's ``eval.protocol`` decides how answers are parsed and scored. ``pr1bench`` is this harness's own
lenient parsing (:mod:`pr1bench.perception.formats`) and metrics (:mod:`pr1bench.perception.metrics`).
``perception-r1`` reproduces what the released evaluation scripts compute, so that numbers can be put beside
the paper's. The release is the repository linkangheng/PR1 (``eval/evaluate_*.py``) with the counting and
detection rewards of its pull request #12 (``src/open_r1/rewards.py``, ``src/open_r1/utils.py``). Written
from reading that code, not copied from it.

Each release quirk this module mirrors, where it comes from, and whether it is judged a bug:

Grounding (``eval/evaluate_grounding.py``: ``parse_float_sequence_within``, ``extract_bbox_answer``,
``compute_iou``, ``compute_center_accuracy``):

* G1 -- the first of three patterns that matches anywhere in the text wins, in a fixed priority:
  ``[a, b, c, d]``, then ``(a, b, c, d)``, then ``(a, b), (c, d)``; so ``[x1,y1,x2,y2]`` inside box tokens
  is accepted, and a bracketed list elsewhere in the text beats a later box-token pair. Not a bug (a choice).
* G2 -- numbers are ``-?\\d+\\.?\\d*`` (no exponent, no leading ``+`` or ``.5``) and no space may precede a
  comma. Not a bug (a choice).
* G3 -- nothing matched means the box ``[0, 0, 0, 0]`` (IoU 0; its "centre" is the origin). Not a bug.
* G4 -- the coordinates are 0-1000 units when the text contains ``<|box_start|>``; otherwise every value is
  multiplied by 1000 and truncated to an integer and compared with the pixel ``solution``. Only the
  Qwen2-VL box-token answer is scored meaningfully. **Bug** (a Qwen2.5-VL pixel answer is scaled by 1000).
* G5 -- IoU divides by ``union + 1e-10``, so an IoU of exactly 0.5 fails Acc@0.5. **Bug** (tiny, kept).
* G6 -- box areas are not clamped: an inverted box has a negative area. Its intersection is always 0, so
  the IoU is 0 (or -0.0) and nothing changes in practice. **Bug** (harmless).
* G7 -- ``Center_ACC``: the predicted box's centre lies inside the ground-truth box (borders included).

Counting (``eval/evaluate_counting.py``: ``extract_boxes``, ``parse_output``; prompt
``"Output all the bounding boxes of the {question}"``):

* C1 -- the model is asked for bounding boxes, not points; the count is the number of
  ``<|box_start|>..<|box_end|>`` blocks whose content evaluates to two coordinate pairs. The release
  ``eval``s that content; here it is read with :func:`ast.literal_eval`, which accepts the same literals
  (``(1,2),(3,4)``, ``[1,2],[3,4]``, ``((1,2),(3,4))``) and never runs code. Arithmetic such as ``(1+1,2)``
  is the only thing ``eval`` would read that this does not (``literal_eval`` reads only ``+``/``-`` between
  numbers). Not a bug (``eval`` of model output is a security bug; the literals are the protocol).
* C2 -- no parsable block gives the answer ``None``, which never equals a count, not even 0. **Bug**
  (irrelevant on PixMo-Count, whose eval counts are all >= 2).

OCR (``eval/evaluate_ocr.py``: ``cal_per_metrics``, ``contain_chinese_string``):

* O1 -- the prediction is the raw decoded text (nothing stripped) and so is the ground truth.
* O2 -- tokens: if either text contains a CJK ideograph (U+4E00-U+9FA5), both are segmented with
  ``jieba.lcut``; otherwise both are ``str.split()``.
* O3 -- BLEU is ``nltk.translate.bleu`` (4-gram, uniform weights, no smoothing) on the token lists, METEOR
  ``nltk.translate.meteor_score`` on them (it needs the WordNet corpus; see :func:`ocr_metrics`).
* O4 -- precision, recall and F1 are ``nltk.metrics`` ``precision``/``recall``/``f_measure`` on token
  **sets**: repeated tokens collapse. Not a bug (a choice), but unusual for OCR.
* O5 -- edit distance is ``nltk.edit_distance`` on the raw strings over the longer length.
* O6 -- an empty (or whitespace-only) prediction or ground truth makes nltk return ``None`` for precision,
  recall and F1, and two empty strings divide 0 by 0; the release's summation then crashes. **Bug**: here
  each of those values is a defined 0 (edit distance of two empty strings: 0).

Detection (``eval/evaluate_detection.py``: ``COCOEvaluator._parse_output``, ``_run_coco_eval``):

* D1 -- the answer is the text between ``<answer>`` and ``</answer>`` when ``<answer>`` occurs, with
  ```` ```json ```` / ```` ``` ```` removed, then ``json.loads`` of all of it: anything that is not clean JSON
  gives no detections. Not a bug (strict by design).
* D2 -- labels are matched to category names exactly (case and spaces count); an unknown label skips its
  item. Not a bug.
* D3 -- an item that raises (not an object, no ``label``/``bbox_2d``, a box that is not four numbers)
  ends the answer: items before it are kept, items after it are lost. **Bug** (mirrored).
* D4 -- every detection has score 1.0; COCOeval breaks the ties by sorted image id, then answer order.
* D5 -- boxes go to COCOeval as ``[x1, y1, x2 - x1, y2 - y1]`` unclamped: an inverted box has a negative
  width, a negative area, and COCOeval then ignores it (it is never a false positive). Mirrored.
* D6 -- the numbers of a Qwen2.5-VL answer (pixels of the processor-resized image) are scored as pixels of
  the original image. **Bug** (with max_pixels 1e6 COCO images are only rounded to multiples of 28, a scale
  error under 3%); mirrored, since the paper's AP was computed so. 0-1000 answers (Qwen3-VL) have no rule in
  the release; here they are mapped onto the original image.
* D7 -- COCOeval runs on the annotation file itself: crowd regions (``iscrowd``) are ignored regions, area
  ranges use the annotation ``area`` (the mask area), zero-area boxes stay. Mirrored exactly.
* D8 -- the release evaluates ``getImgIds()[:sample_num]`` with ``sample_num=-1`` (all images but the last)
  while COCOeval counts every image of the file. **Bug**, not mirrored: pr1bench scores the images it
  evaluated (on val2017 the difference is one image's objects).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pr1bench.perception.formats import MAX_CHARS, MAX_ITEMS, ParsedAnswer, extract_answer, parse_answer

PROTOCOLS: tuple[str, ...] = ("perception-r1", "pr1bench")
DEFAULT_PROTOCOL = "pr1bench"
RELEASE = "linkangheng/PR1 (with PR #12 'detection_update')"

# ---------------------------------------------------------------- grounding
_EVAL_NUM = r"(-?\d+\.?\d*)"  # eval/evaluate_grounding.py
_REWARD_NUM = r"(-?\d+(?:\.\d+)?)"  # src/open_r1/utils.py


def _box_patterns(num: str, loose_pairs: bool) -> tuple[re.Pattern[str], ...]:
    four = r",\s*".join([num] * 4)
    pair_sep = r"\)\s*,\s*\(" if loose_pairs else r"\),\s*\("
    tail = r"\s*\)" if loose_pairs else r"\)"
    return (re.compile(r"\[\s*" + four + r"\s*\]"), re.compile(r"\(\s*" + four + r"\s*\)"),
            re.compile(r"\(\s*" + num + r",\s*" + num + pair_sep + r"\s*" + num + r",\s*" + num + tail))


_EVAL_PATTERNS = _box_patterns(_EVAL_NUM, loose_pairs=True)
_REWARD_PATTERNS = _box_patterns(_REWARD_NUM, loose_pairs=False)


def release_box(text: str, *, reward: bool = False) -> tuple[list[float] | None, bool]:
    """(box, has_box_token) as the release reads a grounding answer (quirks G1-G4).

    ``box`` is the first four numbers of the first pattern that matches, in answer units (``None`` when
    none matches: the release's ``[0, 0, 0, 0]``). Without ``<|box_start|>`` every value is multiplied by
    1000 and truncated (G4). ``reward=True`` uses ``src/open_r1/utils.py``'s slightly stricter patterns (the
    reward's copy of the parser), else ``eval/evaluate_grounding.py``'s.
    """
    text = text[:MAX_CHARS]
    has_token = "<|box_start|>" in text
    for pat in _REWARD_PATTERNS if reward else _EVAL_PATTERNS:
        m = pat.search(text)
        if m:
            vals = [float(m.group(i)) for i in range(1, 5)]
            if not all(math.isfinite(v) for v in vals):
                return None, has_token
            return (vals if has_token else [float(int(v * 1000)) for v in vals]), has_token
    return None, has_token


def release_iou(a: Sequence[float], b: Sequence[float], *, eps: float = 1e-10) -> float:
    """IoU with the release's unclamped areas and ``+eps`` in the union (G5, G6); 0.0 where it would divide by 0."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + eps
    if union == 0:
        return 0.0
    value = inter / union
    return value + 0.0 if math.isfinite(value) else 0.0


def center_inside(gt: Sequence[float], pred: Sequence[float]) -> bool:
    """G7: the predicted box's centre lies inside the ground-truth box, borders included."""
    cx, cy = (pred[0] + pred[2]) / 2, (pred[1] + pred[3]) / 2
    return bool(gt[0] <= cx <= gt[2] and gt[1] <= cy <= gt[3])


def _grounding(text: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    box, has_token = release_box(text)
    if box is None:
        return None
    arr = np.asarray(box, dtype=np.float64)
    if has_token and coords == "normalized_1000":  # 0-1000 units of the image the model saw
        arr = arr * np.array([width, height, width, height]) / 1000.0
    if not np.all(np.isfinite(arr)):
        return None
    arr = arr.reshape(1, 4)
    arr.setflags(write=False)
    return ParsedAnswer(boxes=arr, labels=[""], count=1)


# ---------------------------------------------------------------- counting
_BOX_BLOCK = re.compile(r"<\|box_start\|>(.*?)<\|box_end\|>", re.S)
_MAX_LITERAL = 200


def _number(x: object) -> bool:
    return type(x) in (int, float, bool) and math.isfinite(float(x))  # type: ignore[arg-type]


def release_box_centres(text: str) -> list[tuple[float, float]]:
    """Centres of the ``<|box_start|>..<|box_end|>`` blocks that read as two coordinate pairs (C1).

    The release's ``extract_boxes`` (both ``eval/evaluate_counting.py`` and ``src/open_r1/utils.py``).
    Units are the answer's (0-1000 for Qwen2-VL).
    """
    out: list[tuple[float, float]] = []
    for m in _BOX_BLOCK.finditer(text[:MAX_CHARS]):
        if len(out) >= MAX_ITEMS:
            break
        body = m.group(1)
        if len(body) > _MAX_LITERAL:
            continue
        try:
            value = ast.literal_eval(body.strip() or "None")
            (x1, y1), (x2, y2) = value
        except Exception:  # noqa: BLE001 - the release skips what does not unpack
            continue
        if all(_number(v) for v in (x1, y1, x2, y2)):
            out.append(((float(x1) + float(x2)) / 2, (float(y1) + float(y2)) / 2))
    return out


def _counting(text: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    centres = release_box_centres(text.replace("<|endoftext|>", ""))
    if not centres:
        return None  # C2: the release's None, never equal to a count
    pts = np.asarray(centres, dtype=np.float64)
    if coords == "normalized_1000":
        pts = pts * np.array([width, height]) / 1000.0
    if not np.all(np.isfinite(pts)):
        return None
    pts.setflags(write=False)
    return ParsedAnswer(points=pts, count=len(pts))


# ---------------------------------------------------------------- detection
def release_json_body(text: str) -> str:
    """D1: the ``<answer>`` body when ``<answer>`` occurs, code fences removed."""
    if "<answer>" in text:
        text = text.split("<answer>")[1].split("</answer>")[0]
    return text.replace("```json", "").replace("```", "")


def release_detections(text: str, is_category: Callable[[str], bool] | None = None
                       ) -> list[tuple[str, list[float]]]:
    """(label, [x1, y1, x2, y2]) items as ``COCOEvaluator._parse_output`` keeps them (D1-D3).

    ``is_category`` says whether a label names a category exactly (D2); ``None`` accepts every string
    label (used before the category list is known). Coordinates are the answer's own numbers.
    """
    try:
        value = json.loads(release_json_body(text[:MAX_CHARS]))
    except (ValueError, RecursionError):
        return []
    if isinstance(value, (int, float, bool)) or value is None:
        return []  # iterating a number raises: nothing kept
    out: list[tuple[str, list[float]]] = []
    for item in value if not isinstance(value, str) else list(value):
        if len(out) >= MAX_ITEMS:
            break
        if not isinstance(item, dict) or "label" not in item:
            break  # D3: item["label"] raises, ending the answer
        label = item["label"]
        if isinstance(label, (list, dict)):
            break  # unhashable: the dict lookup raises
        if not isinstance(label, str) or (is_category is not None and not is_category(label)):
            continue  # D2: unknown category, skipped
        box = item.get("bbox_2d")
        if not isinstance(box, list) or len(box) != 4 or not all(_number(v) for v in box):
            break  # D3: unpacking or subtracting raises
        out.append((label, [float(v) for v in box]))
    return out


def _detection(text: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    body = release_json_body(text[:MAX_CHARS])
    items = release_detections(text)
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return None
    boxes = np.asarray([b for _, b in items], dtype=np.float64).reshape(-1, 4)
    if coords == "normalized_1000":
        with np.errstate(all="ignore"):  # huge numbers overflow to inf, then are refused
            boxes = boxes * np.array([width, height, width, height]) / 1000.0
    keep = np.all(np.isfinite(boxes), axis=1)
    boxes = boxes[keep]
    boxes.setflags(write=False)
    labels = [lab for (lab, _), k in zip(items, keep.tolist(), strict=True) if k]
    # text keeps the raw answer: COCO AP re-reads it against the file's category names (D2, D3)
    return ParsedAnswer(boxes=boxes, labels=labels, count=len(boxes), text=text[:MAX_CHARS])


# ---------------------------------------------------------------- OCR
def _ocr(text: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    return ParsedAnswer(text=text)  # O1: raw text; an empty answer is scored, not dropped


_CJK = re.compile(r"[\u4e00-\u9fa5]")


def ocr_tokens(pred: str, gt: str) -> tuple[list[str], list[str]]:
    """O2: jieba words for both when either contains a CJK ideograph, else whitespace tokens."""
    if _CJK.search(gt) or _CJK.search(pred):
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        return list(jieba.lcut(pred)), list(jieba.lcut(gt))
    return pred.split(), gt.split()


class _NoSynonyms:
    """A WordNet stand-in with no synsets: METEOR's exact and stem stages only."""

    def synsets(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def wordnet_available() -> bool:
    """Whether nltk can load its WordNet corpus (METEOR's synonym stage needs it; it is not on PyPI)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return True
    except Exception:  # noqa: BLE001 - LookupError, or a broken corpus
        return False


def ocr_metrics(pred: str, gt: str) -> dict[str, float]:
    """The release's ``cal_per_metrics`` (O2-O6), each value finite.

    Keys: ``ned`` (edit distance / longer length), ``bleu``, ``meteor`` (with WordNet) or ``meteor_nosyn``
    (without it: METEOR's exact and Porter-stem matching only, equal to the release's METEOR whenever its
    synonym stage adds no match), ``precision``, ``recall``, ``f1`` (token sets).
    """
    import warnings

    from nltk.metrics import f_measure, precision, recall
    from nltk.translate import bleu
    from nltk.translate.meteor_score import meteor_score

    from pr1bench.perception.textdist import levenshtein

    hyp, ref = ocr_tokens(pred, gt)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on zero n-gram overlaps and returns 0
        out["bleu"] = _finite(bleu([ref], hyp))
        key, wn = ("meteor", None) if wordnet_available() else ("meteor_nosyn", _NoSynonyms())
        try:
            out[key] = _finite(meteor_score([ref], hyp) if wn is None else meteor_score([ref], hyp, wordnet=wn))
        except (ZeroDivisionError, LookupError, ValueError):
            out[key] = 0.0
    rs, hs = set(ref), set(hyp)
    out["f1"] = _finite(f_measure(rs, hs))  # None for an empty side: a defined 0 (O6)
    out["precision"] = _finite(precision(rs, hs))
    out["recall"] = _finite(recall(rs, hs))
    longest = max(len(pred), len(gt))
    out["ned"] = levenshtein(pred, gt) / longest if longest else 0.0
    return out


def _finite(x: object) -> float:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


# ---------------------------------------------------------------- entry point
_PARSERS: dict[str, Callable[[str, float, float, str], ParsedAnswer | None]] = {
    "grounding": _grounding, "counting": _counting, "detection": _detection, "ocr": _ocr,
}


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return protocol


def parse_for(protocol: str, task_type: str, fmt: str, text: object, *, width: float, height: float,
              coords: str, require_think: bool = False) -> ParsedAnswer | None:
    """Parse one completion under ``protocol``; never raises for model text.

    ``pr1bench``: :func:`pr1bench.perception.formats.parse_answer`. ``perception-r1``: the release's parser
    for the task type. Counting uses the release's box parser only for box-token answers (the release has
    no other); other formats keep pr1bench's parser. With ``require_think`` (CoT) the ``<answer>`` body
    is what the release parsers read (the release evaluates plain answers only).
    """
    check_protocol(protocol)
    if protocol == "pr1bench" or task_type not in _PARSERS or (task_type == "counting" and fmt != "box_tokens"):
        return parse_answer(fmt, text, width=width, height=height, coords=coords, require_think=require_think)
    if not isinstance(text, str):
        return None
    body = extract_answer(text, require_think=True) if require_think else text
    if body is None:
        return None
    try:
        w, h = float(width), float(height)
        return _PARSERS[task_type](body[:MAX_CHARS], w, h, coords)
    except Exception:  # noqa: BLE001 - model output must never crash an evaluation
        return None
