"""Box geometry: IoU matrices and point distances, vectorised with numpy.

Boxes are ``(k, 4)`` float arrays ``[x1, y1, x2, y2]`` in absolute pixels. An inverted box
(``x2 < x1`` or ``y2 < y1``) has zero area rather than a negative one, so a model cannot earn
overlap by emitting a flipped box; IoU with a zero-area box is 0. All functions return finite
values for finite input: parsers drop non-finite coordinates before anything reaches here, and
every division is guarded so 0/0 becomes 0 instead of NaN.
"""

from __future__ import annotations

import numpy as np

EMPTY_BOXES = np.zeros((0, 4), dtype=np.float64)
EMPTY_POINTS = np.zeros((0, 2), dtype=np.float64)


def _as_rows(values: object, width: int, empty: np.ndarray) -> np.ndarray:
    """Coerce ``values`` to a ``(k, width)`` float64 array; ``empty`` when it cannot be read."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return empty
    if arr.size == 0:
        return empty
    if arr.ndim == 1 and arr.shape[0] == width:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        return empty
    return arr


def as_boxes(boxes: object) -> np.ndarray:
    """Coerce ``boxes`` to a ``(k, 4)`` float64 array (empty when it cannot be read)."""
    return _as_rows(boxes, 4, EMPTY_BOXES)


def as_points(points: object) -> np.ndarray:
    """Coerce ``points`` to a ``(k, 2)`` float64 array (empty when it cannot be read)."""
    return _as_rows(points, 2, EMPTY_POINTS)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``(k, 4)`` boxes; inverted boxes count as zero area."""
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0)
    return wh[:, 0] * wh[:, 1]


def box_centers(boxes: np.ndarray) -> np.ndarray:
    """Centres ``(k, 2)`` of boxes; counting uses them as the points a box answer implies."""
    boxes = as_boxes(boxes)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0], axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(len(a), len(b))`` by broadcasting, in ``[0, 1]``.

    Why broadcasting: one pass over ``n*m`` pairs in C replaces a Python double loop, which is
    what makes a detection reward over a GRPO batch cheap (see ``benchmarks/bench_rewards.py``).
    """
    a, b = as_boxes(a), as_boxes(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    wh = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:]) - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(all="ignore"):  # only reachable with inf input: inf - inf
        iou = inter / np.maximum(union, 1e-300)  # union == 0 implies inter == 0, so 0/tiny = 0
        np.fmax(iou, 0.0, out=iou)  # fmax/fmin map a NaN to the bound
    return np.fmin(iou, 1.0, out=iou)


def box_iou(a: object, b: object) -> float:
    """IoU of two single boxes (0.0 when either cannot be read)."""
    m = iou_matrix(as_boxes(a)[:1], as_boxes(b)[:1])
    return float(m[0, 0]) if m.size else 0.0


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances ``(len(a), len(b))`` between point sets."""
    a, b = as_points(a), as_points(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    diff = a[:, None, :] - b[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
