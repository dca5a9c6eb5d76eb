"""Perceptual complexity: how many prediction-to-ground-truth matchings a sample admits (n!).

Perception-R1 argues RL helps most where this is large, and reports per task the mean of n!
(COCO: 3.47e83). That mean is dominated by a few crowded images, so we also report the mean of
log n! and the median n!. n! overflows a float past n = 170, so the mean is computed in log space
(``logsumexp``) and also returned as ``log10_mean_n_factorial``, which is always finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp

from pr1bench.perception.geometry import as_boxes, as_points
from pr1bench.perception.targets import as_target

DEFAULT_EDGES: tuple[int, ...] = (1, 2, 4, 7, 11)


def n_objects(target: object) -> int:
    """Objects to match in a target: its boxes, else points, else ``count``; 1 for OCR text."""
    t = as_target(target) or {}
    n = len(as_boxes(t.get("boxes", []))) or len(as_points(t.get("points", [])))
    if n == 0 and t.get("count") is not None:
        n = int(t["count"])
    if n == 0 and "text" in t:
        n = 1
    return n


def log_factorial(n: int) -> float:
    """ln(n!) via ``lgamma``, exact enough and finite for any n."""
    return math.lgamma(n + 1)


def factorial_float(n: int) -> float:
    """n! as a float (``inf`` past about n = 170)."""
    try:
        return float(math.factorial(n))
    except OverflowError:
        return math.inf


def sample_complexity(n: int) -> dict[str, float]:
    """``{"n", "n_factorial", "log_n_factorial"}`` for one sample."""
    return {"n": float(n), "n_factorial": factorial_float(n), "log_n_factorial": log_factorial(n)}


def task_complexity(ns: Sequence[int]) -> dict[str, float]:
    """Per-task statistics: mean n, mean n! (log-space), log10 of it, mean log n!, median n!.

    Values past float range are ``inf`` (use ``log10_mean_n_factorial``); no samples gives zeros.

    The median of n! is the factorial of the median n (n! is monotone); with an even count it
    is the mean of the two middle factorials, computed exactly in integers.
    """
    if not len(ns):
        return {
            "n_samples": 0.0,
            "mean_n": 0.0,
            "mean_n_factorial": 0.0,
            "log10_mean_n_factorial": 0.0,
            "mean_log_n_factorial": 0.0,
            "median_n_factorial": 0.0,
        }
    logs = np.array([log_factorial(int(n)) for n in ns])
    log_mean = float(logsumexp(logs) - math.log(len(ns)))
    ordered = sorted(int(n) for n in ns)
    mid = len(ordered) // 2
    middle = ordered[mid : mid + 1] if len(ordered) % 2 else ordered[mid - 1 : mid + 1]
    try:
        median = sum(math.factorial(n) for n in middle) / len(middle)
    except OverflowError:
        median = math.inf
    return {
        "n_samples": float(len(ns)),
        "mean_n": float(np.mean(ns)),
        "mean_n_factorial": math.exp(log_mean) if log_mean < 709.0 else math.inf,
        "log10_mean_n_factorial": log_mean / math.log(10),
        "mean_log_n_factorial": float(logs.mean()),
        "median_n_factorial": float(median),
    }


def targets_complexity(targets: Sequence[Mapping[str, Any] | str]) -> dict[str, float]:
    """``task_complexity`` over the object counts of canonical targets."""
    return task_complexity([n_objects(t) for t in targets])


def bucket(n: int, edges: Sequence[int] = DEFAULT_EDGES) -> str:
    """Report label for n given ascending lower edges: (1, 2, 4, 7, 11) -> "1", "2-3", "4-6", "7-10", "11+".

    Values below the first edge get ``"<first"`` (``"0"`` when the first edge is 1).
    """
    edges = list(edges)
    if n < edges[0]:
        return "0" if edges[0] == 1 and n == 0 else f"<{edges[0]}"
    for lo, hi in zip(edges, edges[1:], strict=False):
        if lo <= n < hi:
            return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}"
    return f"{edges[-1]}+"


def bucket_labels(edges: Sequence[int] = DEFAULT_EDGES) -> list[str]:
    """All bucket labels in order (for table rows and plot axes)."""
    return [bucket(e, edges) for e in edges]
