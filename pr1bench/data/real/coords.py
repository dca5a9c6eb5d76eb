"""Image resizing and coordinate conversion between the original image and the image the model sees.

Why this module exists: a real image is resized before the model sees it (the Qwen2-VL processor
keeps sides on a 28 px grid within ``[min_pixels, max_pixels]``). We do that resize ourselves, up
front, with the same rule, so that

* the canonical target is in absolute pixels of *exactly* the image in the row (the processor then
  leaves it untouched, so a pixel target means the same thing to the model and to the reward), and
* evaluation can map a prediction back to the original image with the per-sample factors stored in
  ``Sample.meta`` (:func:`to_original`), which is what comparisons with published numbers need.

Conventions (``coords`` arguments):

* ``absolute_pixels``: pixels of the image named by the function (original for annotations, resized
  for targets and parsed predictions).
* ``normalized_1000``: Qwen2-VL box tokens, integers 0-1000 over the image width/height. A 0-1000
  value is the same on the original and the resized image (the resize only stretches), so it
  converts to either image's pixels with that image's size. Its quantisation step is
  ``size / 1000`` px, i.e. up to half a pixel for sides up to 1000 px.
* ``percent``: 0-100 over the image (PixMo's point annotations); only used when reading annotations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

#: Qwen2-VL merges 2x2 patches of 14 px: image sides must be multiples of 28.
RESIZE_FACTOR = 28
#: Qwen2-VL processor default lower pixel limit.
DEFAULT_MIN_PIXELS = 56 * 56
#: About 1e6 pixels, as in the paper (1280 * 28 * 28). The processor's own default is 12845056.
DEFAULT_MAX_PIXELS = 1280 * 28 * 28
#: Qwen2-VL refuses more extreme aspect ratios.
MAX_ASPECT_RATIO = 200
#: Units per image side for each convention (``None``: absolute pixels).
_UNITS: dict[str, float | None] = {"absolute_pixels": None, "normalized_1000": 1000.0, "percent": 100.0}


def smart_resize(
    width: int,
    height: int,
    *,
    factor: int = RESIZE_FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Target ``(width, height)`` under the Qwen2-VL rule: multiples of ``factor`` within the pixel limits.

    Each side is first rounded to the nearest multiple of ``factor``; if the area then exceeds
    ``max_pixels`` both sides shrink by the same factor and round down, if it falls below
    ``min_pixels`` both grow and round up. Aspect ratio is kept up to the grid rounding.

    Raises:
        ValueError: non-positive sides or an aspect ratio above 200 (the model cannot take it).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio of {width}x{height} is above {MAX_ASPECT_RATIO}")
    w = max(factor, round(width / factor) * factor)
    h = max(factor, round(height / factor) * factor)
    if w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w = max(factor, math.floor(width / beta / factor) * factor)
        h = max(factor, math.floor(height / beta / factor) * factor)
    elif w * h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        w = math.ceil(width * beta / factor) * factor
        h = math.ceil(height * beta / factor) * factor
    return int(w), int(h)


@dataclass(frozen=True)
class ResizeInfo:
    """Original and resized sizes of one image; the meta keys evaluation needs to map back."""

    orig_width: int
    orig_height: int
    width: int
    height: int

    @property
    def scale_x(self) -> float:
        return self.width / self.orig_width

    @property
    def scale_y(self) -> float:
        return self.height / self.orig_height

    def meta(self) -> dict[str, Any]:
        """JSON-serialisable facts stored in ``Sample.meta`` (read back by :func:`to_original`)."""
        return {"orig_width": self.orig_width, "orig_height": self.orig_height, "resized_width": self.width,
                "resized_height": self.height, "scale_x": self.scale_x, "scale_y": self.scale_y}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ResizeInfo:
        try:
            return cls(int(meta["orig_width"]), int(meta["orig_height"]),
                       int(meta["resized_width"]), int(meta["resized_height"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"sample meta lacks resize information ({e}); was it loaded by load_real?") from None


def resize_image(image: Image.Image, *, min_pixels: int = DEFAULT_MIN_PIXELS,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, ResizeInfo]:
    """Resize ``image`` to its smart-resize size (bicubic, as the Qwen2-VL processor does)."""
    w, h = smart_resize(image.width, image.height, min_pixels=min_pixels, max_pixels=max_pixels)
    info = ResizeInfo(image.width, image.height, w, h)
    if (w, h) != image.size:
        image = image.resize((w, h), Image.Resampling.BICUBIC)
    return image, info


def _scaled(values: Any, fx: float, fy: float) -> Any:
    """Multiply x by ``fx`` and y by ``fy`` in a box, a point, or a list of them (shape kept)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return [] if not isinstance(values, np.ndarray) else arr
    if arr.shape[-1] not in (2, 4):
        raise ValueError(f"expected boxes (x1,y1,x2,y2) or points (x,y), got shape {arr.shape}")
    out = arr * np.array([fx, fy] * (arr.shape[-1] // 2))
    return out if isinstance(values, np.ndarray) else out.tolist()


def _units(coords: str) -> float | None:
    if coords not in _UNITS:
        raise ValueError(f"unknown coordinate convention {coords!r}; known: {', '.join(_UNITS)}")
    return _UNITS[coords]


def to_pixels(values: Any, width: float, height: float, coords: str) -> Any:
    """Values in ``coords`` over an image of ``width`` x ``height`` -> that image's pixels."""
    unit = _units(coords)
    return _scaled(values, 1.0, 1.0) if unit is None else _scaled(values, width / unit, height / unit)


def to_resized(values: Any, meta: Mapping[str, Any] | ResizeInfo, coords: str = "absolute_pixels") -> Any:
    """Original-image coordinates (boxes or points, in ``coords``) -> pixels of the resized image.

    This is what builds canonical targets from annotations; :func:`to_original` inverts it.
    """
    info = meta if isinstance(meta, ResizeInfo) else ResizeInfo.from_meta(meta)
    if _units(coords) is not None:
        return to_pixels(values, info.width, info.height, coords)
    return _scaled(values, info.scale_x, info.scale_y)


def to_original(values: Any, meta: Mapping[str, Any] | ResizeInfo, coords: str = "absolute_pixels") -> Any:
    """Resized-image coordinates -> absolute pixels of the original image (for evaluation).

    Args:
        values: a box ``[x1, y1, x2, y2]``, a point ``[x, y]``, or a list/array of them, as the model
            sees them: pixels of the resized image (canonical targets, parsed predictions) or 0-1000
            (raw ``normalized_1000`` answers).
        meta: ``Sample.meta`` / ``Row.meta`` of the sample (or its :class:`ResizeInfo`).
        coords: ``absolute_pixels`` or ``normalized_1000``.
    """
    info = meta if isinstance(meta, ResizeInfo) else ResizeInfo.from_meta(meta)
    if _units(coords) is not None:
        return to_pixels(values, info.orig_width, info.orig_height, coords)
    return _scaled(values, 1.0 / info.scale_x, 1.0 / info.scale_y)


def xywh_to_xyxy(box: Sequence[float]) -> list[float]:
    """COCO ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``."""
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def check_boxes(boxes: Sequence[Sequence[float]], width: int, height: int, *, tol: float = 1.0) -> list[list[float]]:
    """Validate original-pixel boxes against the image and clip them to it.

    A box more than ``tol`` px outside the image, or with no area, means the annotation does not
    belong to this image (or its convention was misread): that is a bad sample, not something to
    silently clip away.

    Raises:
        ValueError: with the offending box.
    """
    out = []
    for b in boxes:
        x1, y1, x2, y2 = (float(v) for v in b)
        if not all(map(math.isfinite, (x1, y1, x2, y2))) or x2 <= x1 or y2 <= y1:
            raise ValueError(f"degenerate box {list(b)}")
        if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
            raise ValueError(f"box {list(b)} lies outside the {width}x{height} image")
        out.append([max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)])
    return out


def check_points(points: Sequence[Sequence[float]], width: int, height: int, *, tol: float = 1.0) -> list[list[float]]:
    """Validate original-pixel points against the image and clip them to it (see :func:`check_boxes`)."""
    out = []
    for p in points:
        x, y = (float(v) for v in p)
        if not (math.isfinite(x) and math.isfinite(y)) or x < -tol or y < -tol or x > width + tol or y > height + tol:
            raise ValueError(f"point {list(p)} lies outside the {width}x{height} image")
        out.append([min(max(0.0, x), float(width)), min(max(0.0, y), float(height))])
    return out


def rounded(values: Any, ndigits: int = 2) -> Any:
    """Round nested coordinate lists (targets travel as JSON; 0.01 px is far below any metric's resolution)."""
    if isinstance(values, dict):
        return {k: rounded(v, ndigits) for k, v in values.items()}
    if isinstance(values, list):
        return [rounded(v, ndigits) for v in values]
    return round(float(values), ndigits)
