"""``shapes``: detect and classify every shape in the scene (task type detection).

With ``colour_mode: fixed`` each class has one colour (an easy, colour-separable setting); with
``random`` colours are drawn independently of the class, so only the shape identifies it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import field_validator, model_validator

from pr1bench.data.base import GENERATORS, Draft, Generator, IntRange, MultiObjectParams, check_names
from pr1bench.data.draw import PALETTE, SHAPES, Obj, arrange, place, render

#: Class colours for ``colour_mode: fixed`` (every class distinct).
CLASS_COLOURS: dict[str, str] = {
    "circle": "red",
    "square": "blue",
    "triangle": "green",
    "diamond": "orange",
    "star": "purple",
}


class ShapesParams(MultiObjectParams):
    """Parameters of ``shapes``; ``n_objects`` (all objects are ground truth) is the complexity knob."""

    n_objects: IntRange = (1, 10)
    classes: list[str] = ["circle", "square", "triangle"]
    colour_mode: Literal["fixed", "random"] = "fixed"
    colours: list[str] = list(PALETTE)

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        check_names(v, SHAPES, "shape class")
        if len(set(v)) != len(v):
            raise ValueError(f"classes has duplicates: {v}")
        return v

    @field_validator("colours")
    @classmethod
    def _colours(cls, v: list[str]) -> list[str]:
        return check_names(v, list(PALETTE), "colour")

    @model_validator(mode="after")
    def _min_one(self) -> ShapesParams:
        if self.n_objects[0] < 1:
            raise ValueError("n_objects must start at 1 for detection (an empty scene has no answer list)")
        return self


@GENERATORS.register("shapes")
class Shapes(Generator):
    """Scenes of ``n`` shapes from ``classes``; the answer is every box with its class label."""

    task_type = "detection"
    knob = "n_objects"
    Params = ShapesParams
    p: ShapesParams

    def _colour(self, shape: str, rng: np.random.Generator) -> str:
        if self.p.colour_mode == "fixed":
            return CLASS_COLOURS[shape]
        return self.p.colours[int(rng.integers(len(self.p.colours)))]

    def make(self, k: int, rng: np.random.Generator, order_rng: np.random.Generator) -> Draft:
        p = self.p
        objs = []
        for _ in range(k):
            shape = p.classes[int(rng.integers(len(p.classes)))]
            size = int(rng.integers(p.object_size[0], p.object_size[1] + 1))
            objs.append(Obj(shape=shape, colour=self._colour(shape, rng), size=size, role="target"))
        place(objs, p.width, p.height, rng)
        image = render(objs, p.width, p.height, p.background)
        listed = arrange(objs, p.order, order_rng)
        return Draft(
            image=image,
            target={"boxes": [list(o.box) for o in listed], "labels": [o.shape for o in listed]},
            fields={"categories": ", ".join(p.classes)},
            n=k,
            meta={"order": p.order, "colour_mode": p.colour_mode, "objects": [o.to_meta() for o in objs]},
        )
