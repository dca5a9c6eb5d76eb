"""Prediction-to-ground-truth assignment: Hungarian (the paper's method) or sequential (its ablation).

Perception-R1 treats multi-object rewards as a bipartite matching problem: predictions and ground
truths are the two sides, the edge weight is IoU (boxes) or negative distance (points), and
``scipy.optimize.linear_sum_assignment`` picks the assignment with the best total. The ablation
pairs the i-th prediction with the i-th ground truth, which punishes a correct answer listed in a
different order; comparing the two is one of the headline ablations.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from pr1bench.registry import did_you_mean

MatchingMode = Literal["hungarian", "sequential"]
MATCHING_MODES: tuple[str, ...] = ("hungarian", "sequential")


def check_matching(mode: str) -> str:
    """Return ``mode`` or raise ``ValueError`` naming the valid modes (config errors are loud)."""
    if mode not in MATCHING_MODES:
        raise ValueError(
            f"unknown matching {mode!r}.{did_you_mean(str(mode), list(MATCHING_MODES))} "
            f"Known: {', '.join(MATCHING_MODES)}."
        )
    return mode


def match(weights: np.ndarray, mode: str, *, maximize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Assign rows (predictions) to columns (ground truths).

    Args:
        weights: ``(n_pred, n_gt)`` edge weights (IoU, or distances with ``maximize=False``).
        mode: ``"hungarian"`` for the optimal assignment, ``"sequential"`` for i-th to i-th.
        maximize: whether larger weights are better.

    Returns:
        ``(rows, cols)`` index arrays of equal length ``min(n_pred, n_gt)``.
    """
    n, m = weights.shape
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if mode == "sequential":
        k = np.arange(min(n, m), dtype=np.int64)
        return k, k
    rows, cols = linear_sum_assignment(weights, maximize=maximize)
    return rows.astype(np.int64), cols.astype(np.int64)
