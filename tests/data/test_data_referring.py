"""Referring expressions: unique, clear, consistent with the box, and diverse in strategy."""

from __future__ import annotations

import collections

import numpy as np

from pr1bench.data import generate
from pr1bench.data.draw import Obj
from pr1bench.data.referring import judge, phrase


def _objs(meta: dict) -> list[Obj]:
    out = []
    for o in meta["objects"]:
        obj = Obj(o["shape"], o["colour"], o["size"], o["role"], extra={"size_class": o["size_class"]})
        obj.box = o["box"]
        out.append(obj)
    return out


def test_expression_uniquely_identifies_target() -> None:
    samples = generate("referring", {}, split="t", n_samples=150, seed=0)
    for s in samples:
        objs, t = _objs(s.meta), s.meta["target_index"]
        assert s.meta["objects"][t]["role"] == "target"
        assert s.target["boxes"] == [s.meta["objects"][t]["box"]]
        assert s.fields["expression"] == s.target["labels"][0] == phrase(s.meta["spec"])
        assert judge(s.meta["spec"], objs) == ([t], [])
        assert s.n == 1 and len(objs) == s.meta["n_distractors"] + 1


def test_attribute_expressions_checked_independently() -> None:
    """Brute force, without the generator's resolver: words of an attribute-only expression match one object."""
    for s in generate("referring", {}, split="t", n_samples=150, seed=1):
        if s.meta["strategy"] != "attributes":
            continue
        words = set(s.fields["expression"].split())
        hits = [o for o in s.meta["objects"] if words <= {o["shape"], o["colour"], o["size_class"]}]
        assert len(hits) == 1 and hits[0]["role"] == "target"


def test_strategies_and_hard_negatives_occur() -> None:
    samples = generate("referring", {}, split="t", n_samples=300, seed=2)
    strategies = collections.Counter(s.meta["strategy"] for s in samples)
    assert set(strategies) == {"attributes", "superlative", "relation"}
    lengths = collections.Counter(len(s.meta["spec"]["attrs"]) for s in samples)
    assert len(lengths) >= 2  # shape alone is not always enough


def test_small_and_large_are_visibly_different() -> None:
    for s in generate("referring", {}, split="t", n_samples=50, seed=3):
        sizes = {o["size_class"]: [] for o in s.meta["objects"]}
        for o in s.meta["objects"]:
            sizes[o["size_class"]].append(o["size"])
        if len(sizes) == 2:
            assert max(sizes["small"]) + 4 <= min(sizes["large"])


def test_target_box_contains_target_colour() -> None:
    for s in generate("referring", {}, split="t", n_samples=50, seed=4):
        x1, y1, x2, y2 = s.target["boxes"][0]
        rgb = s.meta["objects"][s.meta["target_index"]]["rgb"]
        crop = np.asarray(s.image)[y1:y2, x1:x2].reshape(-1, 3)
        assert (crop == rgb).all(axis=1).mean() > 0.3


def test_relation_semantics() -> None:
    a, b = (
        Obj("circle", "red", 12, extra={"size_class": "small"}),
        Obj("square", "blue", 12, extra={"size_class": "small"}),
    )
    a.box, b.box = [2, 40, 14, 52], [40, 40, 52, 52]
    objs = [a, b]
    assert judge(
        {"attrs": {"shape": "circle"}, "relation": "left of", "anchor": {"shape": "square"}}, objs
    ) == ([0], [])
    assert judge(
        {"attrs": {"shape": "circle"}, "relation": "right of", "anchor": {"shape": "square"}}, objs
    ) == ([], [])
    assert judge({"attrs": {"shape": "square"}, "relation": "leftmost"}, objs) == ([1], [])
    spec = {
        "attrs": {"colour": "red", "shape": "circle"},
        "relation": "above",
        "anchor": {"size": "small", "shape": "square"},
    }
    assert phrase(spec) == "red circle above the small square"
