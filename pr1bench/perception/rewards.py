"""GRPO reward functions in TRL's contract, registered by their log name.

TRL calls ``reward(completions=..., **dataset_columns)`` and logs ``rewards/<__name__>/mean``, so
each reward is a small picklable class whose class attribute ``__name__`` is its registry name.
Two rules shape everything here:

* Configuration errors are loud: unknown constructor arguments raise ``TypeError`` and bad values
  (format, coordinates, matching mode, an answer format the reward cannot score) ``ValueError``,
  at construction, before any model loads.
* Model output errors are silent: any completion (garbage, ``None``, hostile text) yields a finite
  float inside the reward's documented ``range``; an unparseable answer scores the reward's floor
  and an internal failure scores 0.0. Non-finite values are impossible (guarded and clipped).

Dataset columns used: ``target`` (JSON strings or dicts in the canonical target schema), ``width``
and ``height`` (image size as the model sees it). Other columns are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from pr1bench.perception.formats import (
    _CLEAR_HOOKS,
    ANSWER_FORMATS,
    COORDS_REGISTRY,
    ParsedAnswer,
    parse_answer,
    think_answer_body,
)
from pr1bench.perception.geometry import as_boxes, as_points, box_centers, distance_matrix, iou_matrix
from pr1bench.perception.matching import check_matching, match
from pr1bench.perception.targets import as_target, target_count, target_labels
from pr1bench.perception.textdist import normalized_edit_distance
from pr1bench.registry import Registry, did_you_mean

COMMON_ARGS: tuple[str, ...] = ("answer_format", "coords", "matching", "require_think")
BOX_KINDS = frozenset({"boxes"})
REWARDS: Registry[type[Reward]] = Registry("reward")


# ---------------------------------------------------------------- inputs
def completion_text(completion: object) -> str | None:
    """Text of a completion: a string, or TRL's conversational ``[{"role", "content"}]`` list.

    ``content`` may itself be a list of ``{"type": "text", "text": ...}`` parts. Anything else
    (``None``, numbers, malformed messages) gives ``None``, which every reward scores as garbage.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        msgs = [m for m in completion if isinstance(m, Mapping)]
        chosen = [m for m in msgs if m.get("role") == "assistant"] or msgs
        texts = [t for t in (_content_text(m.get("content")) for m in chosen) if t is not None]
        return "".join(texts) if texts else None
    return None


def _content_text(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [p.get("text") if isinstance(p, Mapping) else p for p in content]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def _column(values: object, n: int, name: str) -> list[Any]:
    """A per-completion column: a length-``n`` sequence, a scalar broadcast, or ``None``s."""
    if values is None or isinstance(values, str | bytes | Mapping) or np.isscalar(values):
        return [values] * n
    seq = list(values)  # type: ignore[call-overload]
    if len(seq) != n:
        raise ValueError(f"column {name!r} has {len(seq)} values for {n} completions")
    return seq


def _size(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


# ---------------------------------------------------------------- base class
class Reward:
    """Base reward: validates configuration, iterates a batch, and guards every value.

    Subclasses set ``__name__`` (registry and log name), ``range``, ``kinds`` (answer kinds they can
    score, ``None`` for any) and ``options`` (their own keyword arguments with defaults), and
    implement :meth:`score`.
    """

    __name__: ClassVar[str] = "reward"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kinds: ClassVar[frozenset[str] | None] = None
    options: ClassVar[dict[str, Any]] = {}
    needs_target: ClassVar[bool] = True

    def __init__(
        self,
        *,
        answer_format: str,
        coords: str = "absolute_pixels",
        matching: str = "hungarian",
        require_think: bool = False,
        **options: Any,
    ) -> None:
        fmt = ANSWER_FORMATS.get(answer_format)
        COORDS_REGISTRY.get(coords)
        self.answer_format, self.coords = answer_format, coords
        self.matching, self.require_think = check_matching(matching), bool(require_think)
        if self.kinds is not None and fmt.kind not in self.kinds:
            ok = [n for n in ANSWER_FORMATS if ANSWER_FORMATS.get(n).kind in self.kinds]
            raise ValueError(
                f"reward {self.__name__!r} cannot score answer format {answer_format!r}; use one of {ok}"
            )
        for key, value in options.items():
            if key not in self.options:
                hint = did_you_mean(key, list(self.options))
                raise TypeError(
                    f"reward {self.__name__!r} got an unknown argument {key!r}.{hint} "
                    f"Known: {', '.join(reward_arg_names(self.__name__))}."
                )
            setattr(self, key, _check_option(self.__name__, key, value, self.options[key]))
        for key, default in self.options.items():
            if key not in options:
                setattr(self, key, default)

    def __repr__(self) -> str:
        args = {k: getattr(self, k) for k in (*COMMON_ARGS, *self.options)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"

    def __call__(
        self,
        completions: Sequence[object],
        target: object = None,
        width: object = None,
        height: object = None,
        **_: Any,
    ) -> list[float]:
        n = len(completions)
        cols = zip(
            completions,
            _column(target, n, "target"),
            _column(width, n, "width"),
            _column(height, n, "height"),
            strict=True,
        )
        return [self._guarded(c, t, w, h) for c, t, w, h in cols]

    def _guarded(self, completion: object, target: object, width: object, height: object) -> float:
        """One value, never raising and never non-finite: the model cannot crash training."""
        try:
            tgt = as_target(target)
            if self.needs_target and tgt is None:
                return 0.0
            value = float(self.score(completion_text(completion), tgt, _size(width), _size(height)))
        except Exception:  # noqa: BLE001 - hostile output must not stop a GRPO step
            return 0.0
        if not math.isfinite(value):
            return 0.0
        return min(max(value, self.range[0]), self.range[1]) + 0.0  # + 0.0 turns -0.0 into 0.0

    def parse(self, text: str | None, width: float | None, height: float | None) -> ParsedAnswer | None:
        """Parse ``text`` with this reward's format, coordinates and think requirement."""
        if text is None:
            return None
        return parse_answer(
            self.answer_format,
            text,
            width=width or math.nan,
            height=height or math.nan,
            coords=self.coords,
            require_think=self.require_think,
        )

    def score(
        self, text: str | None, target: Mapping[str, Any] | None, width: float | None, height: float | None
    ) -> float:
        raise NotImplementedError


def _check_option(reward: str, key: str, value: Any, default: Any) -> Any:
    """Type-check an option against its default's type (int accepted for float)."""
    expected = type(default)
    ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ValueError(f"reward {reward!r} argument {key!r} must be {expected.__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"reward {reward!r} argument {key!r} must be finite, got {value!r}")
    return value


def register(cls: type[Reward]) -> type[Reward]:
    """Class decorator: add a reward under its ``__name__``."""
    REWARDS.add(cls.__dict__["__name__"], cls)
    return cls


def reward_arg_names(name: str) -> tuple[str, ...]:
    """All constructor arguments of reward ``name`` (common ones first), for config validation."""
    return (*COMMON_ARGS, *REWARDS.get(name).options)


def build_reward(name: str, **kwargs: Any) -> Reward:
    """Construct reward ``name``; unknown names or arguments raise with a did-you-mean hint."""
    return REWARDS.get(name)(**kwargs)


# ---------------------------------------------------------------- format rewards
@register
class FormatReward(Reward):
    """1.0 if the answer parses in the task's format (and think/answer shape when required), else 0.0.

    Range [0, 1]. Image size only matters for unit conversion, so a missing size is replaced by 1000.
    """

    __name__ = "format"
    needs_target = False

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        return float(self.parse(text, width or 1000.0, height or 1000.0) is not None)


@register
class ThinkFormat(Reward):
    """1.0 if the completion is exactly ``<think>...</think><answer>...</answer>``, else 0.0. Range [0, 1]."""

    __name__ = "think_format"
    needs_target = False

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        return float(think_answer_body(text) is not None)


# ---------------------------------------------------------------- grounding / counting / OCR
@register
class GroundingIoU(Reward):
    """IoU of the first predicted box with the first ground-truth box (squared if ``squared``).

    Range [0, 1]. The released Perception-R1 code squared the IoU, which sharpens the signal near
    a perfect box; it is an option so the choice can be ablated.
    """

    __name__ = "grounding_iou"
    kinds = BOX_KINDS
    options = {"squared": False}

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        parsed = self.parse(text, width, height)
        gt = as_boxes(target.get("boxes", []))
        if parsed is None or len(parsed.boxes) == 0 or len(gt) == 0:
            return 0.0
        iou = float(iou_matrix(parsed.boxes[:1], gt[:1])[0, 0])
        return iou * iou if self.squared else iou


@register
class CountPoints(Reward):
    """Point-matching counting reward: sum of exp(-d / (sigma * diagonal)) over matched pairs / max(n_pred, n_gt).

    Range [0, 1]. Predictions are points (``points`` format) or box centres (box formats); ground
    truth is ``target["points"]`` or its box centres. Pairs come from the ``matching`` mode
    (Hungarian minimises total distance). Dividing by the larger set size charges both missed and
    extra objects; an exact answer scores 1, and 1.0 also when both sides are empty.
    ``sigma`` is a fraction of the image diagonal (default 0.05).
    """

    __name__ = "count_points"
    kinds = frozenset({"boxes", "points"})
    options = {"sigma": 0.05}

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        parsed = self.parse(text, width, height)
        if parsed is None or width is None or height is None or self.sigma <= 0:
            return 0.0
        pts = target.get("points")
        gt = as_points(pts) if pts is not None else box_centers(as_boxes(target.get("boxes", [])))
        pred = parsed.point_set()
        if len(pred) == 0 and len(gt) == 0:
            return 1.0
        dist = distance_matrix(pred, gt)
        rows, cols = match(dist, self.matching, maximize=False)
        scale = self.sigma * math.hypot(width, height)
        return float(np.exp(-dist[rows, cols] / scale).sum()) / max(len(pred), len(gt))


@register
class CountExact(Reward):
    """1.0 if the predicted count equals the ground-truth count, else 0.0. Range [0, 1].

    The predicted count is the integer (``count`` format) or the number of boxes/points.
    """

    __name__ = "count_exact"
    kinds = frozenset({"boxes", "points", "count"})

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        parsed = self.parse(text, width or 1000.0, height or 1000.0)
        return float(parsed is not None and parsed.count == target_count(target))


@register
class OCREdit(Reward):
    """1 - normalised edit distance (edit distance / longer length) to the target text. Range [0, 1]."""

    __name__ = "ocr_edit"
    kinds = frozenset({"text"})

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        parsed = self.parse(text, width, height)
        if parsed is None or parsed.text is None:
            return 0.0
        return 1.0 - normalized_edit_distance(parsed.text, str(target.get("text", "")).strip())


# ---------------------------------------------------------------- detection
_PAIR_CACHE: dict[tuple[int, int, str], tuple[object, object, tuple[np.ndarray, np.ndarray, int, int]]] = {}
_PAIR_CACHE_SIZE = 1024
_CLEAR_HOOKS.append(_PAIR_CACHE.clear)


_TARGET_CACHE: dict[int, tuple[object, tuple[np.ndarray, list[str]]]] = {}
_CLEAR_HOOKS.append(_TARGET_CACHE.clear)


def _target_boxes_labels(target: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Ground-truth boxes and labels, converted once per target object (G rollouts share one)."""
    hit = _TARGET_CACHE.get(id(target))
    if hit is not None and hit[0] is target:
        return hit[1]
    value = (as_boxes(target.get("boxes", [])), target_labels(target))
    if len(_TARGET_CACHE) >= _PAIR_CACHE_SIZE:
        _TARGET_CACHE.clear()
    _TARGET_CACHE[id(target)] = (target, value)
    return value


def _matched_pairs(
    reward: Reward, parsed: ParsedAnswer, target: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """IoU of matched pairs, whether their labels agree, and the prediction/ground-truth counts.

    TRL calls each detection term separately on the same batch, and parses and decoded targets
    are cached objects, so the matching is cached by their identity: the four terms cost one
    IoU matrix and one assignment per completion. Entries hold references to both objects,
    so an id cannot be reused while its entry lives.
    """
    key = (id(parsed), id(target), reward.matching)
    hit = _PAIR_CACHE.get(key)
    if hit is not None and hit[0] is parsed and hit[1] is target:
        return hit[2]
    gt, gt_labels = _target_boxes_labels(target)
    iou = iou_matrix(parsed.boxes, gt)
    rows, cols = match(iou, reward.matching, maximize=True)
    labels = [x.strip().lower() for x in parsed.labels]
    same = np.array(
        [
            i < len(labels) and j < len(gt_labels) and labels[i] == gt_labels[j]
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        ],
        dtype=bool,
    )
    result = (iou[rows, cols], same, len(parsed.boxes), len(gt))
    if len(_PAIR_CACHE) >= _PAIR_CACHE_SIZE:
        _PAIR_CACHE.clear()
    _PAIR_CACHE[key] = (parsed, target, result)
    return result


class _DetectionReward(Reward):
    kinds = BOX_KINDS

    def score(self, text, target, width, height) -> float:  # noqa: ANN001
        parsed = self.parse(text, width, height)
        if parsed is None:
            return self.unparsed(target)
        ious, same, n_pred, n_gt = _matched_pairs(self, parsed, target)
        return self.combine(ious, same, n_pred, n_gt)

    def unparsed(self, target: Mapping[str, Any]) -> float:
        return 0.0

    def combine(self, ious: np.ndarray, same: np.ndarray, n_pred: int, n_gt: int) -> float:
        raise NotImplementedError


@register
class BoxIoU(_DetectionReward):
    """Sum of matched-pair IoUs / max(n_pred, n_gt). Range [0, 1].

    Normalising by the larger side (not by the number of pairs) means extra or missing boxes
    lower the reward, so a single well-placed box cannot score 1 on a crowded image. 1.0 when
    both prediction and ground truth are empty.
    """

    __name__ = "box_iou"

    def combine(self, ious, same, n_pred, n_gt) -> float:  # noqa: ANN001
        return 1.0 if n_pred == n_gt == 0 else float(ious.sum()) / max(n_pred, n_gt)


@register
class LabelMatch(_DetectionReward):
    """Fraction of matched pairs (pairs that overlap, IoU > 0) whose labels agree. Range [0, 1].

    Labels compare case-insensitively after stripping. 0.0 when no pair overlaps; 1.0 when both
    sides are empty. It is a classification term only: recall_f1 and missing_penalty charge for
    the boxes it does not look at.
    """

    __name__ = "label_match"

    def combine(self, ious, same, n_pred, n_gt) -> float:  # noqa: ANN001
        if n_pred == n_gt == 0:
            return 1.0
        overlapping = ious > 0.0
        return float(same[overlapping].mean()) if overlapping.any() else 0.0


@register
class RecallF1(_DetectionReward):
    """F1 of matched pairs with IoU >= ``iou_threshold`` (default 0.5): 2 TP / (n_pred + n_gt). Range [0, 1].

    1.0 when both sides are empty.
    """

    __name__ = "recall_f1"
    options = {"iou_threshold": 0.5}

    def combine(self, ious, same, n_pred, n_gt) -> float:  # noqa: ANN001
        if n_pred == n_gt == 0:
            return 1.0
        return 2.0 * float((ious >= self.iou_threshold).sum()) / (n_pred + n_gt)


@register
class MissingPenalty(_DetectionReward):
    """Minus the fraction of ground-truth objects without a match at IoU >= ``iou_threshold``. Range [-1, 0].

    An unparseable answer misses everything and scores -1 (when there is ground truth): scoring
    it 0 would rank garbage above a partly right answer. 0.0 for an image with no objects.
    """

    __name__ = "missing_penalty"
    range = (-1.0, 0.0)
    options = {"iou_threshold": 0.5}

    def unparsed(self, target: Mapping[str, Any]) -> float:
        return -1.0 if len(as_boxes(target.get("boxes", []))) else 0.0

    def combine(self, ious, same, n_pred, n_gt) -> float:  # noqa: ANN001
        if n_gt == 0:
            return 0.0
        return -(n_gt - float((ious >= self.iou_threshold).sum())) / n_gt
