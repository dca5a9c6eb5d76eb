"""Answer formats: ground-truth formatters (for SFT targets) and hostile-input-safe parsers.

A parser reads untrusted model text and returns a :class:`ParsedAnswer` in absolute pixels, or
``None`` for "unparseable". It never raises and never evaluates text: everything is regular
expressions with linear-time shapes and ``json`` (whose recursion errors are caught). Work is
capped (``MAX_CHARS`` characters, ``MAX_ITEMS`` boxes/points) so a degenerate rollout cannot stall
a GRPO step. Formatters do the inverse, rounding coordinates to integers, so format -> parse
reproduces the target within rounding under both coordinate conventions.

Coordinate conventions (task YAML ``answer.coords``): ``normalized_1000`` (Qwen2-VL box tokens,
integers 0-1000 over the image) and ``absolute_pixels`` (Qwen2.5-VL JSON). Parsers always return
pixels so that rewards and metrics compare like with like.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pr1bench.perception.geometry import EMPTY_BOXES, EMPTY_POINTS, box_centers
from pr1bench.registry import Registry

MAX_CHARS = 20_000
MAX_ITEMS = 1_000
MAX_ABS_COORD = 1e6  # beyond any real image: such a "box" is junk, and squares stay finite
MAX_LABEL_CHARS = 200
COORDS: tuple[str, ...] = ("normalized_1000", "absolute_pixels")
COORDS_REGISTRY: Registry[str] = Registry("coordinate convention")
for _c in COORDS:
    COORDS_REGISTRY.add(_c, _c)

_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_BOX_TOKEN_RE = re.compile(
    r"(?:<\|object_ref_start\|>([^<]{0,200}?)<\|object_ref_end\|>\s*)?"
    r"(?:<\|box_start\|>)?\s*\(\s*"
    + _NUM
    + r"\s*,\s*"
    + _NUM
    + r"\s*\)\s*,\s*\(\s*"
    + _NUM
    + r"\s*,\s*"
    + _NUM
    + r"\s*\)\s*(?:<\|box_end\|>)?"
)
_BRACKET_RE = re.compile(r"\[\s*" + r"\s*,\s*".join([_NUM] * 4) + r"\s*\]")
_POINT_RE = re.compile(r"[\[(]\s*" + _NUM + r"\s*,\s*" + _NUM + r"\s*[\])]")
_COUNT_RE = re.compile(r"(?<![\w.+\-])(\d{1,9})(?!\w|\.\d)")
_EMPTY_LIST_RE = re.compile(r"^\s*\[\s*(?:\[\s*\]\s*)?\]\s*$")
_JSON_OBJ_RE = re.compile(r"\{[^{}]{0,2000}\}")
_FENCE_RE = re.compile(r"```(?:json)?")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ParsedAnswer:
    """A structured answer in absolute pixels.

    Attributes:
        boxes: ``(k, 4)`` float array ``[x1, y1, x2, y2]`` (read-only).
        labels: one label per box ("" when the format carries none).
        points: ``(k, 2)`` float array (read-only); box formats leave it empty.
        count: predicted count: the integer for ``count``, else the number of boxes/points.
        text: the free text for ``text``; ``None`` otherwise.
    """

    boxes: np.ndarray = field(default_factory=lambda: EMPTY_BOXES)
    labels: list[str] = field(default_factory=list)
    points: np.ndarray = field(default_factory=lambda: EMPTY_POINTS)
    count: int | None = None
    text: str | None = None

    def point_set(self) -> np.ndarray:
        """Points if given, else box centres: what counting rewards match against."""
        return self.points if len(self.points) else box_centers(self.boxes)


@dataclass(frozen=True)
class AnswerFormat:
    """One answer format: its parser, formatter and the kind of answer it carries."""

    name: str
    kind: str  # "boxes" | "points" | "count" | "text"
    parse: Callable[[str, float, float, str], ParsedAnswer | None]
    format: Callable[[Mapping[str, Any], float, float, str], str]


ANSWER_FORMATS: Registry[AnswerFormat] = Registry("answer format")


# ---------------------------------------------------------------- think / answer envelope
def think_answer_body(text: object) -> str | None:
    """The ``<answer>`` body if ``text`` is exactly ``<think>..</think><answer>..</answer>``, else None.

    Done with ``str.find`` rather than a regex so the check is linear however many tags a
    degenerate rollout repeats.
    """
    if not isinstance(text, str):
        return None
    s = text[:MAX_CHARS].strip()
    if not (s.startswith("<think>") and s.endswith("</answer>")):
        return None
    if any(s.count(tag) != 1 for tag in ("<think>", "</think>", "<answer>", "</answer>")):
        return None
    rest = s[s.find("</think>") + len("</think>") :].lstrip()
    if not rest.startswith("<answer>"):
        return None
    return rest[len("<answer>") : -len("</answer>")]


def extract_answer(text: object, *, require_think: bool = False) -> str | None:
    """The part of a completion to parse: the ``<answer>`` body when present, else the text.

    With ``require_think`` the think/answer shape is mandatory (the CoT variant's contract).
    Without it, a stray ``<answer>`` or ``</think>`` still narrows the text, since a model asked
    for a bare answer sometimes adds tags anyway.
    """
    if not isinstance(text, str):
        return None
    body = think_answer_body(text)
    if body is not None or require_think:
        return body
    text = text[:MAX_CHARS]
    start = text.find("<answer>")
    if start >= 0:
        end = text.find("</answer>", start)
        return text[start + len("<answer>") : end if end >= 0 else None]
    end_think = text.rfind("</think>")
    return text[end_think + len("</think>") :] if end_think >= 0 else text


# ---------------------------------------------------------------- coordinates
_ONES = {2: np.ones(2), 4: np.ones(4)}


def _scale(width: float, height: float, coords: str, n: int) -> np.ndarray | None:
    """Per-coordinate factor from answer units to pixels, or None for unusable image sizes."""
    if coords == "absolute_pixels":
        return _ONES[n]
    try:
        w, h = float(width), float(height)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        return None
    return np.array([w, h] * (n // 2)) / 1000.0


def _to_pixels(
    rows: list[list[float]], width: float, height: float, coords: str, n: int
) -> np.ndarray | None:
    """Convert answer-unit rows to pixels, dropping non-finite or absurd rows; None if size unusable."""
    factor = _scale(width, height, coords, n)
    if factor is None:
        return None
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, n) * factor
    keep = np.all(np.isfinite(arr) & (np.abs(arr) <= MAX_ABS_COORD), axis=1)
    out = arr[keep]
    out.setflags(write=False)
    return out


def _from_pixels(values: Any, width: float, height: float, coords: str, n: int) -> list[list[int]]:
    """Pixels -> integer answer units (the formatter's rounding)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1, n)
    if coords == "normalized_1000":
        if not (width > 0 and height > 0):
            raise ValueError(f"normalized_1000 needs a positive width/height, got {width}x{height}")
        arr = arr / (np.array([width, height] * (n // 2)) / 1000.0)
    return np.rint(arr).astype(np.int64).tolist()


def _float(tok: str) -> float:
    try:
        return float(tok)
    except (ValueError, OverflowError):
        return math.nan


def _first(it: Iterator[re.Match[str]]) -> list[re.Match[str]]:
    return list(itertools.islice(it, MAX_ITEMS))


# ---------------------------------------------------------------- parsers
def _parse_box_tokens(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    matches = _first(_BOX_TOKEN_RE.finditer(body))
    rows, labels, last = [], [], ""
    for m in matches:
        last = m.group(1).strip() if m.group(1) is not None else last
        rows.append([_float(m.group(i)) for i in range(2, 6)])
        labels.append(last)
    return _boxes_answer(rows, labels, width, height, coords)


def _parse_bracket_boxes(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    if _EMPTY_LIST_RE.match(body):
        return ParsedAnswer(count=0)
    rows = [[_float(m.group(i)) for i in range(1, 5)] for m in _first(_BRACKET_RE.finditer(body))]
    return _boxes_answer(rows, [""] * len(rows), width, height, coords)


def _boxes_answer(
    rows: list[list[float]], labels: list[str], w: float, h: float, coords: str
) -> ParsedAnswer | None:
    """Build a box answer; None when nothing matched or every box was junk."""
    if not rows:
        return None
    factor = _scale(w, h, coords, 4)
    if factor is None:
        return None
    boxes = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=4 * len(rows)).reshape(
        -1, 4
    )
    if coords != "absolute_pixels":
        boxes *= factor
    if not np.abs(boxes).max() <= MAX_ABS_COORD:  # slow path only when something is junk (NaN fails <=)
        keep = np.all(np.isfinite(boxes) & (np.abs(boxes) <= MAX_ABS_COORD), axis=1)
        if not keep.any():
            return None
        boxes = boxes[keep]
        labels = [lab for lab, k in zip(labels, keep.tolist(), strict=True) if k]
    boxes.setflags(write=False)
    return ParsedAnswer(boxes=boxes, labels=labels, count=len(boxes))


def _json_items(body: str) -> list[Any] | None:
    """Decode the first JSON list/object in ``body`` (ignoring fences and trailing junk).

    Falls back to decoding flat ``{...}`` objects one by one, which rescues a list cut off by
    the completion-length limit, a common failure for crowded detection images.
    """
    text = _FENCE_RE.sub(" ", body)
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if starts:
        try:
            value, _ = _DECODER.raw_decode(text, min(starts))
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            return value[:MAX_ITEMS]
    objs = []
    for m in _first(_JSON_OBJ_RE.finditer(text)):
        try:
            objs.append(json.loads(m.group(0)))
        except (ValueError, RecursionError):
            continue
    return objs or None


_NUMBER_TYPES = frozenset({int, float})


def _json_boxes(items: list[Any]) -> tuple[list[list[float]], list[str]]:
    """Rows and labels of the well-typed ``{"bbox_2d": [4 numbers], "label": str}`` items.

    Items with wrong types are skipped. Exact type checks (not ``isinstance``): bools and numeric
    strings are not coordinates. This loop is the per-object hot path of detection rewards,
    hence one flat loop with unrolled checks rather than a function call per item.
    """
    rows, labels, num = [], [], _NUMBER_TYPES
    for item in items:
        if type(item) is not dict:
            continue
        box = item.get("bbox_2d")
        if box is None:
            box = item.get("bbox")
        if type(box) is not list or len(box) != 4:
            continue
        x1, y1, x2, y2 = box
        if type(x1) in num and type(y1) in num and type(x2) in num and type(y2) in num:
            label = item.get("label", "")
            rows.append(box)
            labels.append(label.strip()[:MAX_LABEL_CHARS] if type(label) is str else "")
    return rows, labels


def _parse_json_boxes(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    items = _json_items(body)
    if items is None:
        return None
    if not items:
        return ParsedAnswer(count=0)
    return _boxes_answer(*_json_boxes(items), width, height, coords)


def _parse_points(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    if _EMPTY_LIST_RE.match(body):
        return ParsedAnswer(count=0)
    rows = [[_float(m.group(1)), _float(m.group(2))] for m in _first(_POINT_RE.finditer(body))]
    if not rows:
        return None
    pts = _to_pixels(rows, width, height, coords, 2)
    if pts is None or len(pts) == 0:
        return None
    return ParsedAnswer(points=pts, count=len(pts))


def _parse_count(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    m = _COUNT_RE.search(body)
    return ParsedAnswer(count=int(m.group(1))) if m else None


def _parse_text(body: str, width: float, height: float, coords: str) -> ParsedAnswer | None:
    text = body.strip()
    return ParsedAnswer(text=text) if text else None


# ---------------------------------------------------------------- formatters
def _target_boxes(target: Mapping[str, Any]) -> list[list[float]]:
    """The target's boxes; a points-only target (PixMo-Count) gives a zero-size box at each point, so a box
    answer format (Perception-R1's counting protocol asks for boxes) has an SFT answer whose centres are the
    annotated points."""
    boxes = target.get("boxes")
    if not boxes and target.get("points"):
        return [[float(x), float(y), float(x), float(y)] for x, y in target["points"]]
    return [list(map(float, b)) for b in boxes or []]


def _target_labels(target: Mapping[str, Any], n: int) -> list[str]:
    """Per-box labels: ``labels`` (grounding/detection) or the single ``label`` (counting)."""
    labels = target.get("labels")
    if isinstance(labels, list) and len(labels) == n:
        return [str(x) for x in labels]
    return [str(target.get("label", ""))] * n


def _format_box_tokens(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    boxes = _target_boxes(target)
    labels, per_box = _target_labels(target, len(boxes)), isinstance(target.get("labels"), list)
    parts = []
    for i, (b, lab) in enumerate(zip(_from_pixels(boxes, w, h, coords, 4), labels, strict=True)):
        ref = f"<|object_ref_start|>{lab}<|object_ref_end|>" if lab and (per_box or i == 0) else ""
        parts.append(f"{ref}<|box_start|>({b[0]},{b[1]}),({b[2]},{b[3]})<|box_end|>")
    return "".join(parts)


def _format_bracket_boxes(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    rows = _from_pixels(_target_boxes(target), w, h, coords, 4)
    body = ", ".join(f"[{', '.join(map(str, r))}]" for r in rows)
    return body if len(rows) == 1 else f"[{body}]"


def _format_json_boxes(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    boxes = _target_boxes(target)
    rows = _from_pixels(boxes, w, h, coords, 4)
    labels = _target_labels(target, len(boxes))
    return json.dumps([{"bbox_2d": r, "label": lab} for r, lab in zip(rows, labels, strict=True)])


def _format_points(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    pts = target.get("points")
    pts = pts if pts is not None else box_centers(np.asarray(_target_boxes(target)).reshape(-1, 4))
    rows = _from_pixels(pts, w, h, coords, 2)
    return "[" + ", ".join(f"[{x}, {y}]" for x, y in rows) + "]"


def _format_count(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    count = target.get("count")
    return str(int(count if count is not None else len(target.get("boxes", []))))


def _format_text(target: Mapping[str, Any], w: float, h: float, coords: str) -> str:
    return str(target.get("text", ""))


for _fmt in (
    AnswerFormat("box_tokens", "boxes", _parse_box_tokens, _format_box_tokens),
    AnswerFormat("bracket_boxes", "boxes", _parse_bracket_boxes, _format_bracket_boxes),
    AnswerFormat("json_boxes", "boxes", _parse_json_boxes, _format_json_boxes),
    AnswerFormat("points", "points", _parse_points, _format_points),
    AnswerFormat("count", "count", _parse_count, _format_count),
    AnswerFormat("text", "text", _parse_text, _format_text),
):
    ANSWER_FORMATS.add(_fmt.name, _fmt)


# ---------------------------------------------------------------- public entry points
def parse_answer(
    fmt: str, text: object, *, width: float, height: float, coords: str, require_think: bool = False
) -> ParsedAnswer | None:
    """Parse untrusted model text into pixels; ``None`` when it is not an answer in ``fmt``.

    Raises only for configuration errors (unknown ``fmt`` or ``coords``), never for ``text``.
    """
    ANSWER_FORMATS.get(fmt), COORDS_REGISTRY.get(coords)
    if not isinstance(text, str):
        return None
    try:
        return _parse_cached(
            fmt, text[:MAX_CHARS], _size_key(width), _size_key(height), coords, bool(require_think)
        )
    except Exception:  # noqa: BLE001 - model output must never crash training
        return None


def _size_key(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@functools.lru_cache(maxsize=1024)
def _parse_cached(
    fmt: str, text: str, width: float, height: float, coords: str, require_think: bool
) -> ParsedAnswer | None:
    """Cached parse: TRL calls every reward function on the same completions, so parse once."""
    body = extract_answer(text, require_think=require_think)
    if body is None:
        return None
    return ANSWER_FORMATS.get(fmt).parse(body, width, height, coords)


def clear_parse_cache() -> None:
    """Forget cached parses and matchings (benchmarks call this so timings include them)."""
    _parse_cached.cache_clear()
    for hook in _CLEAR_HOOKS:
        hook()


_CLEAR_HOOKS: list[Callable[[], None]] = []


def format_answer(fmt: str, target: Mapping[str, Any], *, width: float, height: float, coords: str) -> str:
    """The exact ground-truth answer text for ``target`` (used as the SFT completion)."""
    COORDS_REGISTRY.get(coords)
    return ANSWER_FORMATS.get(fmt).format(target, width, height, coords)
