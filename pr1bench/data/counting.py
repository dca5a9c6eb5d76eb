"""``count_shapes``: count one colour+shape class among distractors (task type counting).

The counted class shares colour or shape with most distractors ("hard" distractors), so the model must
bind both attributes instead of counting a colour blob. The target lists every counted object as a box
and as a point (box centre), in random or canonical order (see :func:`pr1bench.data.draw.arrange`).
"""

from __future__ import annotations

import numpy as np
from pydantic import field_validator, model_validator

from pr1bench.data.base import (
    GENERATORS,
    ColourList,
    Draft,
    Generator,
    IntRange,
    MultiObjectParams,
    ShapeList,
)
from pr1bench.data.draw import PALETTE, SHAPES, Obj, arrange, place, render

#: Probability that a distractor shares the counted class's colour or shape (when such a class exists).
HARD_DISTRACTOR_P = 2 / 3


def parse_class(text: str) -> tuple[str, str]:
    """Split ``"red circle"`` into ``("red", "circle")``, validating both names."""
    parts = text.split()
    if len(parts) != 2 or parts[0] not in PALETTE or parts[1] not in SHAPES:
        raise ValueError(
            f"target class {text!r} must be '<colour> <shape>' with colour in {list(PALETTE)} "
            f"and shape in {list(SHAPES)}"
        )
    return parts[0], parts[1]


class CountParams(MultiObjectParams):
    """Parameters of ``count_shapes``; ``n_objects`` (the counted objects) is the complexity knob."""

    n_objects: IntRange = (1, 10)
    n_distractors: IntRange = (0, 3)
    target_classes: list[str] = ["red circle", "blue square", "green triangle"]
    colours: ColourList = ["red", "green", "blue", "yellow"]
    shapes: ShapeList = ["circle", "square", "triangle"]

    @field_validator("target_classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one target class is needed")
        for t in v:
            parse_class(t)
        return v

    @model_validator(mode="after")
    def _has_distractors(self) -> CountParams:
        if self.n_distractors[1] > 0 and len(self.colours) * len(self.shapes) < 2:
            raise ValueError("distractors need at least two colour/shape classes (colours x shapes)")
        return self


def pick_distractor(target: tuple[str, str], p: CountParams, rng: np.random.Generator) -> tuple[str, str]:
    """A (colour, shape) different from ``target``, sharing one attribute with it most of the time."""
    pool = [(c, s) for c in p.colours for s in p.shapes if (c, s) != target]
    hard = [cs for cs in pool if cs[0] == target[0] or cs[1] == target[1]]
    if hard and rng.random() < HARD_DISTRACTOR_P:
        pool = hard
    return pool[int(rng.integers(len(pool)))]


@GENERATORS.register("count_shapes")
class CountShapes(Generator):
    """Scenes of ``n`` objects of one class plus distractors; the answer is their boxes and centres."""

    task_type = "counting"
    knob = "n_objects"
    Params = CountParams
    p: CountParams

    def make(self, k: int, rng: np.random.Generator, order_rng: np.random.Generator) -> Draft:
        p = self.p
        label = p.target_classes[int(rng.integers(len(p.target_classes)))]
        target = parse_class(label)
        lo, hi = p.n_distractors
        classes = [target] * k + [
            pick_distractor(target, p, rng) for _ in range(int(rng.integers(lo, hi + 1)))
        ]
        sizes = rng.integers(p.object_size[0], p.object_size[1] + 1, size=len(classes)).tolist()
        objs = [
            Obj(shape=s, colour=c, size=z, role="target" if i < k else "distractor")
            for i, ((c, s), z) in enumerate(zip(classes, sizes, strict=True))
        ]
        place(objs, p.width, p.height, rng)
        image = render(objs, p.width, p.height, p.background)
        counted = arrange(objs[:k], p.order, order_rng)
        return Draft(
            image=image,
            target={
                "boxes": [list(o.box) for o in counted],
                "points": [o.point() for o in counted],
                "count": k,
                "label": label,
            },
            fields={"label": f"{label}s"},
            n=k,
            meta={"n_distractors": len(objs) - k, "order": p.order, "objects": [o.to_meta() for o in objs]},
        )
