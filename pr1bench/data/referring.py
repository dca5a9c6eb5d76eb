"""``referring``: referring expressions over coloured shapes (task type grounding).

A scene holds one target and ``n_distractors`` distractors. Most distractors copy the target and change
one or two attributes, and some are exact duplicates, so a correct expression often needs two attributes
or a spatial relation -- the synthetic analogue of RefCOCO's hard negatives.

The expression is chosen by search, not by template luck: attribute subsets (always with the shape noun)
from shortest to longest, then superlatives ("leftmost ...") and relations to a uniquely described anchor
("... left of the red circle"). Each candidate is checked with :func:`judge`, which demands a *clear*
answer: the target satisfies it and every other object clearly does not (margins below), so no expression
is borderline for a human reader. If no expression is clear the scene is resampled (bounded).

The expression omits the leading article because the prompt template supplies it
("Output the bounding box of the {expression} in the image.").
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import model_validator

from pr1bench.data.base import (
    GENERATORS,
    BaseParams,
    ColourList,
    Draft,
    Generator,
    IntRange,
    ShapeList,
)
from pr1bench.data.draw import Obj, place, render

ATTRS = ("size", "colour", "shape")
SUPERLATIVES = {"leftmost": (0, -1), "rightmost": (0, 1), "top": (1, -1), "bottom": (1, 1)}
RELATIONS = ("left of", "right of", "above", "below")
#: Centres must differ by at least this many pixels for a superlative to count as clear.
SUPERLATIVE_MARGIN = 4
P_DUPLICATE, P_NEAR = 0.1, 0.7
SCENE_TRIES = 30
#: Chance to prefer a valid relation over a valid superlative, so both spatial forms are common.
P_RELATION = 0.5


class ReferringParams(BaseParams):
    """Parameters of ``referring``; ``n_distractors`` is the complexity knob (n is always 1)."""

    n_distractors: IntRange = (1, 5)
    colours: ColourList = ["red", "green", "blue", "yellow"]
    shapes: ShapeList = ["circle", "square", "triangle"]
    small_size: IntRange = (10, 15)
    large_size: IntRange = (21, 28)

    @model_validator(mode="after")
    def _sizes_distinct(self) -> ReferringParams:
        if self.small_size[0] < 6 or self.large_size[0] - self.small_size[1] < 4:
            raise ValueError(
                f"small_size {self.small_size} / large_size {self.large_size}: need small >= 6 px and a gap "
                "of at least 4 px so 'small' and 'large' are visibly different"
            )
        return self


def attrs_of(o: Obj) -> dict[str, str]:
    return {"size": o.extra["size_class"], "colour": o.colour, "shape": o.shape}


def describe(attrs: dict[str, str]) -> str:
    """Noun phrase without article, attributes in English order: ``small blue square``."""
    return " ".join(attrs[a] for a in ATTRS if a in attrs)


def phrase(spec: dict[str, Any]) -> str:
    """Render a spec (see :func:`judge`) as text."""
    desc = describe(spec["attrs"])
    rel = spec.get("relation")
    if rel is None:
        return desc
    if rel in SUPERLATIVES:
        return f"{rel} {desc}"
    return f"{desc} {rel} the {describe(spec['anchor'])}"


def _matches(o: Obj, attrs: dict[str, str]) -> bool:
    a = attrs_of(o)
    return all(a[k] == v for k, v in attrs.items())


def _relation(a: Obj, b: Obj, rel: str) -> bool | None:
    """True if ``a`` is clearly ``rel`` ``b`` (boxes separated), False if clearly not, None if borderline."""
    axis = 0 if rel in ("left of", "right of") else 1
    sign = -1 if rel in ("left of", "above") else 1
    a_lo, a_hi, b_lo, b_hi = a.box[axis], a.box[axis + 2], b.box[axis], b.box[axis + 2]
    if (a_hi <= b_lo) if sign < 0 else (a_lo >= b_hi):
        return True
    ca, cb = (a_lo + a_hi) / 2, (b_lo + b_hi) / 2
    if (ca >= cb) if sign < 0 else (ca <= cb):
        return False
    return None


def judge(spec: dict[str, Any], objs: list[Obj]) -> tuple[list[int], list[int]]:
    """Return ``(yes, unclear)``: indices the spec clearly refers to, and borderline ones.

    Spec shape: ``{"attrs": {...}, "relation": None | superlative | relation, "anchor": {...}}`` where the
    anchor is an attribute dict that must itself select exactly one object. An expression is valid for
    target ``t`` iff ``yes == [t]`` and ``unclear == []``.
    """
    cands = [i for i, o in enumerate(objs) if _matches(o, spec["attrs"])]
    rel = spec.get("relation")
    if rel is None:
        return cands, []
    if rel in SUPERLATIVES:
        axis, sign = SUPERLATIVES[rel]
        ranked = sorted(cands, key=lambda i: sign * -objs[i].centre[axis])
        if len(ranked) < 2:
            return ranked, []
        gap = abs(objs[ranked[0]].centre[axis] - objs[ranked[1]].centre[axis])
        return ([ranked[0]], []) if gap >= SUPERLATIVE_MARGIN else ([], ranked[:2])
    anchors = [i for i, o in enumerate(objs) if _matches(o, spec["anchor"])]
    if len(anchors) != 1:
        return [], anchors
    b = objs[anchors[0]]
    verdicts = {i: _relation(objs[i], b, rel) for i in cands if i != anchors[0]}
    return [i for i, v in verdicts.items() if v], [i for i, v in verdicts.items() if v is None]


def _subsets(rng: np.random.Generator) -> list[tuple[str, ...]]:
    """Attribute subsets with the shape noun, shortest first, equal lengths in random order."""
    out: list[tuple[str, ...]] = []
    for r in range(0, 3):
        group = [(*c, "shape") for c in itertools.combinations(("size", "colour"), r)]
        out += [group[i] for i in rng.permutation(len(group)).tolist()]
    return out


def find_expression(objs: list[Obj], t: int, rng: np.random.Generator) -> dict[str, Any] | None:
    """Shortest clear spec for target ``t`` (attributes first, then spatial), or None."""
    full = attrs_of(objs[t])
    subsets = [{a: full[a] for a in keep} for keep in _subsets(rng)]
    for attrs in subsets:
        spec = {"attrs": attrs, "relation": None}
        if judge(spec, objs) == ([t], []):
            return spec
    anchors = []
    for j, o in enumerate(objs):
        if j != t:
            a = next(
                (
                    s
                    for s in ({k: attrs_of(o)[k] for k in sub} for sub in _subsets(rng))
                    if judge({"attrs": s}, objs) == ([j], [])
                ),
                None,
            )
            if a is not None:
                anchors.append(a)
    for attrs in subsets:
        options = [{"attrs": attrs, "relation": s} for s in SUPERLATIVES]
        options += [{"attrs": attrs, "relation": r, "anchor": a} for r in RELATIONS for a in anchors]
        valid = [s for s in options if judge(s, objs) == ([t], [])]
        relations = [s for s in valid if s["relation"] in RELATIONS]
        if relations and (len(relations) == len(valid) or rng.random() < P_RELATION):
            valid = relations  # relations are rarer to be valid; keep them well represented
        if valid:
            return valid[int(rng.integers(len(valid)))]
    return None


@GENERATORS.register("referring")
class Referring(Generator):
    """One target among distractors; the answer is the target's box, the prompt its expression."""

    task_type = "grounding"
    knob = "n_distractors"
    Params = ReferringParams
    p: ReferringParams

    def _random_attrs(self, rng: np.random.Generator) -> dict[str, str]:
        return {key: (vals := self._values(key))[int(rng.integers(len(vals)))] for key in ATTRS}

    def _distractor(self, target: dict[str, str], rng: np.random.Generator) -> dict[str, str]:
        r = rng.random()
        if r < P_DUPLICATE:
            return dict(target)
        if r >= P_DUPLICATE + P_NEAR:
            return self._random_attrs(rng)
        out = dict(target)
        for key in rng.permutation(ATTRS)[: int(rng.integers(1, 3))].tolist():
            others = [v for v in self._values(key) if v != target[key]]
            if others:  # a one-value attribute (e.g. a single colour) cannot change
                out[key] = others[int(rng.integers(len(others)))]
        return out

    def _values(self, key: str) -> list[str]:
        return {"size": ["small", "large"], "colour": self.p.colours, "shape": self.p.shapes}[key]

    def _obj(self, attrs: dict[str, str], role: str, rng: np.random.Generator) -> Obj:
        lo, hi = self.p.small_size if attrs["size"] == "small" else self.p.large_size
        size = int(rng.integers(lo, hi + 1))
        return Obj(attrs["shape"], attrs["colour"], size, role=role, extra={"size_class": attrs["size"]})

    def make(self, k: int, rng: np.random.Generator, order_rng: np.random.Generator) -> Draft:
        p = self.p
        for _ in range(SCENE_TRIES):
            target = self._random_attrs(rng)
            objs = [self._obj(target, "target", rng)]
            objs += [self._obj(self._distractor(target, rng), "distractor", rng) for _ in range(k)]
            place(objs, p.width, p.height, rng)
            spec = find_expression(objs, 0, rng)
            if spec is not None:
                break
        else:
            raise ValueError(f"no unambiguous referring expression found in {SCENE_TRIES} scenes")
        # Shuffle drawing/meta order so the target is not always object 0 in the metadata.
        perm = order_rng.permutation(len(objs)).tolist()
        objs = [objs[i] for i in perm]
        expression = phrase(spec)
        box = list(objs[perm.index(0)].box)
        return Draft(
            image=render(objs, p.width, p.height, p.background),
            target={"boxes": [box], "labels": [expression]},
            fields={"expression": expression},
            n=1,
            meta={
                "n_distractors": k,
                "strategy": "attributes"
                if spec["relation"] is None
                else ("superlative" if spec["relation"] in SUPERLATIVES else "relation"),
                "spec": spec,
                "target_index": perm.index(0),
                "objects": [o.to_meta() for o in objs],
            },
        )
