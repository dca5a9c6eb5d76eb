"""Shape rendering and non-overlapping placement shared by the shape generators.

Every shape is rendered once per (shape, size) into a binary mask (supersampled, then thresholded, so the
edges are clean but every drawn pixel has exactly the object's colour). The mask is cropped to its tight
bounding box, so a target box is the object's true extent by construction, not an estimate.

Box convention: ``[x1, y1, x2, y2]`` in absolute pixels with exclusive right/bottom edges (width = x2 - x1),
as in COCO; the object occupies pixels ``x1 .. x2-1`` and ``y1 .. y2-1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

#: Well-separated, saturated colours that stay visible on the light background.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (30, 150, 60),
    "blue": (40, 80, 220),
    "yellow": (225, 185, 0),
    "purple": (140, 60, 180),
    "orange": (240, 120, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star")
BACKGROUND: tuple[int, int, int] = (245, 245, 240)

_SUPERSAMPLE = 4


class PlacementError(ValueError):
    """Raised when ``n`` objects cannot be placed without overlap in the bounded number of tries.

    We raise instead of silently dropping objects because a silently smaller ``n`` would bias the
    perceptual-complexity distribution the benchmark is built to measure.
    """


@dataclass
class Obj:
    """One drawn object: attributes, its mask and (after placement) its box."""

    shape: str
    colour: str
    size: int
    role: str = "object"
    extra: dict[str, Any] = field(default_factory=dict)
    box: list[int] = field(default_factory=list)

    @property
    def mask(self) -> Image.Image:
        return shape_mask(self.shape, self.size)

    @property
    def centre(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2

    def point(self) -> list[int]:
        """Integer box centre; inside every shape we draw (all are convex or star-cored)."""
        x1, y1, x2, y2 = self.box
        return [(x1 + x2) // 2, (y1 + y2) // 2]

    def to_meta(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "colour": self.colour,
            "rgb": list(PALETTE[self.colour]),
            "size": self.size,
            "role": self.role,
            "box": list(self.box),
            **self.extra,
        }


def _unit_polygon(shape: str) -> list[tuple[float, float]]:
    """Vertices in [0, 1]^2, touching all four sides, so the rendered mask fills its square."""
    if shape == "triangle":
        return [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)]
    if shape == "diamond":
        return [(0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)]
    if shape == "star":
        pts = []
        for k in range(10):
            r = 1.0 if k % 2 == 0 else 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((r * math.cos(a), r * math.sin(a)))
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return [((x - min(xs)) / (max(xs) - min(xs)), (y - min(ys)) / (max(ys) - min(ys))) for x, y in pts]
    raise ValueError(f"no polygon for shape {shape!r}")


@lru_cache(maxsize=1024)
def shape_mask(shape: str, size: int) -> Image.Image:
    """Binary ``L`` mask (0/255) of ``shape`` fitting a ``size`` x ``size`` square, cropped tight.

    Cached because a dataset reuses a few dozen (shape, size) pairs thousands of times.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    big = size * _SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    if shape == "circle":
        draw.ellipse([0, 0, big - 1, big - 1], fill=255)
    elif shape == "square":
        draw.rectangle([0, 0, big - 1, big - 1], fill=255)
    else:
        draw.polygon([(x * (big - 1), y * (big - 1)) for x, y in _unit_polygon(shape)], fill=255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    mask = small.point(lambda v: 255 if v >= 128 else 0)
    bbox = mask.getbbox()
    assert bbox is not None, (shape, size)
    return mask.crop(bbox)


def _overlaps(box: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]], gap: int) -> bool:
    x1, y1, x2, y2 = box
    for a1, b1, a2, b2 in placed:
        if x1 < a2 + gap and a1 < x2 + gap and y1 < b2 + gap and b1 < y2 + gap:
            return True
    return False


def place(
    objs: list[Obj],
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    gap: int = 2,
    margin: int = 2,
    tries_per_object: int = 60,
    scene_tries: int = 30,
) -> None:
    """Assign non-overlapping boxes to ``objs`` in place (rejection sampling, largest first).

    Objects keep at least ``gap`` pixels between boxes and ``margin`` pixels from the border, so boxes
    never touch and each object is unambiguous. The whole scene is retried ``scene_tries`` times before
    :class:`PlacementError`; both bounds keep generation time predictable.
    """
    order = sorted(range(len(objs)), key=lambda i: -objs[i].size)
    for _ in range(scene_tries):
        placed: list[tuple[int, int, int, int]] = []
        for i in order:
            w, h = objs[i].mask.size
            hi_x, hi_y = width - margin - w, height - margin - h
            if hi_x < margin or hi_y < margin:
                raise PlacementError(
                    f"a {objs[i].size} px {objs[i].shape} does not fit a {width}x{height} image"
                )
            xs = rng.integers(margin, hi_x + 1, size=tries_per_object)
            ys = rng.integers(margin, hi_y + 1, size=tries_per_object)
            for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
                box = (x, y, x + w, y + h)
                if not _overlaps(box, placed, gap):
                    placed.append(box)
                    break
            else:
                break
        if len(placed) == len(objs):
            for i, box in zip(order, placed, strict=True):
                objs[i].box = list(box)
            return
    raise PlacementError(
        f"could not place {len(objs)} non-overlapping objects (sizes {sorted(o.size for o in objs)}) in a "
        f"{width}x{height} image after {scene_tries} scene tries; lower n_objects/n_distractors or the "
        "object size, or raise image_size"
    )


def render(objs: list[Obj], width: int, height: int, background: tuple[int, int, int]) -> Image.Image:
    """Paint placed objects on a plain background; colours are exact (binary masks, no blending)."""
    img = Image.new("RGB", (width, height), tuple(background))
    for o in objs:
        img.paste(PALETTE[o.colour], (o.box[0], o.box[1]), o.mask)
    return img


def arrange(objs: list[Obj], order: str, rng: np.random.Generator) -> list[Obj]:
    """Return target objects in the requested order.

    ``sorted`` is the canonical reading order (box centre top-to-bottom, then left-to-right), so SFT
    has one fixed target sequence; ``random`` is a uniform permutation, like real annotations, so SFT
    must imitate one of n! orderings while set-matching rewards treat them all alike.
    """
    if order == "sorted":
        return sorted(objs, key=lambda o: (o.centre[1], o.centre[0]))
    if order == "random":
        return [objs[i] for i in rng.permutation(len(objs)).tolist()]
    raise ValueError(f"unknown order {order!r}; use 'random' or 'sorted'")
