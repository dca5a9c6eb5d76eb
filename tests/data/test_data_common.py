"""Contract tests shared by every generator: determinism, split separation, bounds, params, n spread."""

from __future__ import annotations

import collections

import numpy as np
import pydantic
import pytest

from pr1bench.data import GENERATORS, Sample, derive_seed, generate, validate_params
from pr1bench.registry import UnknownNameError

NAMES = ["referring", "count_shapes", "shapes", "words"]


def _fingerprint(samples: list[Sample]) -> list[tuple]:
    return [(s.id, s.image.tobytes(), repr(s.target), repr(s.fields), s.n, repr(s.meta)) for s in samples]


def test_registry_has_all_generators() -> None:
    assert set(NAMES) <= set(GENERATORS.names())


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name: str) -> None:
    a = generate(name, {}, split="train", n_samples=12, seed=3)
    b = generate(name, {}, split="train", n_samples=12, seed=3)
    assert _fingerprint(a) == _fingerprint(b)


@pytest.mark.parametrize("name", NAMES)
def test_prefix_stable(name: str) -> None:
    """Sample i does not depend on how many samples are generated."""
    short = generate(name, {}, split="eval", n_samples=4, seed=0)
    long = generate(name, {}, split="eval", n_samples=9, seed=0)
    assert _fingerprint(short) == _fingerprint(long[:4])


@pytest.mark.parametrize("name", NAMES)
def test_split_and_seed_change_images(name: str) -> None:
    train = {s.image.tobytes() for s in generate(name, {}, split="train", n_samples=20, seed=0)}
    evals = {s.image.tobytes() for s in generate(name, {}, split="eval", n_samples=20, seed=0)}
    other = {s.image.tobytes() for s in generate(name, {}, split="train", n_samples=20, seed=1)}
    assert not train & evals
    assert not train & other


def test_derive_seed_is_stable() -> None:
    # A fixed value: a change here silently changes every dataset, so it must be deliberate.
    assert derive_seed(0, "train") == derive_seed(0, "train")
    assert derive_seed(0, "train") != derive_seed(0, "eval")
    assert derive_seed(0, "train") == 2552103414886710223


@pytest.mark.parametrize("name", NAMES)
def test_sample_shape_and_bounds(name: str) -> None:
    for s in generate(name, {}, split="train", n_samples=30, seed=5):
        assert s.image.mode == "RGB" and s.image.size == (s.width, s.height)
        assert s.width % 28 == 0 and s.height % 28 == 0
        assert s.id.startswith("train-") and s.n >= 1
        for x1, y1, x2, y2 in s.target.get("boxes", []):
            assert all(isinstance(v, int) for v in (x1, y1, x2, y2))
            assert 0 <= x1 < x2 <= s.width and 0 <= y1 < y2 <= s.height


@pytest.mark.parametrize(
    ("name", "knob", "lo", "hi"),
    [
        ("count_shapes", "n_objects", 1, 10),
        ("shapes", "n_objects", 1, 10),
        ("referring", "n_distractors", 1, 5),
        ("words", "n_words", 1, 3),
    ],
)
def test_balanced_knob_covers_range_evenly(name: str, knob: str, lo: int, hi: int) -> None:
    samples = generate(name, {}, split="train", n_samples=3 * (hi - lo + 1), seed=0)
    counts = collections.Counter(s.meta[knob] for s in samples)
    assert counts == {k: 3 for k in range(lo, hi + 1)}
    if knob == "n_objects":
        assert [s.n for s in samples] == [s.meta[knob] for s in samples]


def test_uniform_knob_covers_range() -> None:
    samples = generate(
        "shapes", {"n_distribution": "uniform", "n_objects": [2, 5]}, split="t", n_samples=80, seed=0
    )
    assert {s.n for s in samples} == {2, 3, 4, 5}


@pytest.mark.parametrize("name", NAMES)
def test_params_reject_unknown_keys(name: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="extra"):
        validate_params(name, {"n_objectz": [1, 2]})


@pytest.mark.parametrize("size", [100, [112, 50], 0])
def test_image_size_must_be_multiple_of_28(size: object) -> None:
    with pytest.raises(ValueError, match="multiple of 28"):
        validate_params("shapes", {"image_size": size})


def test_non_square_images() -> None:
    s = generate("shapes", {"image_size": [168, 112]}, split="t", n_samples=1, seed=0)[0]
    assert (s.width, s.height) == (168, 112)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("shapes", {"n_objects": [5, 2]}),
        ("shapes", {"classes": ["circel"]}),
        ("count_shapes", {"target_classes": ["red blob"]}),
        ("shapes", {"n_objects": [0, 3]}),
        ("words", {"n_words": [0, 2]}),
        ("referring", {"small_size": [10, 20]}),
    ],
)
def test_bad_params_are_clear_errors(name: str, params: dict) -> None:
    with pytest.raises(ValueError):
        validate_params(name, params)


def test_unknown_generator_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match="shapes"):
        generate("shape", {}, split="t", n_samples=1, seed=0)


def test_meta_is_json_serialisable() -> None:
    import json

    for name in NAMES:
        for s in generate(name, {}, split="t", n_samples=5, seed=0):
            json.dumps({"target": s.target, "fields": s.fields, "meta": s.meta})
            assert np.asarray(s.image).dtype == np.uint8
