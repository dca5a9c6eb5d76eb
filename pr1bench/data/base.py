"""Generator contract, seeding, the ``GENERATORS`` registry and :func:`generate`.

Design decisions (each chosen so that benchmark numbers are reproducible and comparable):

* **Seeding.** The split's base seed is a SHA-256 hash of ``(seed, split)`` (never Python's salted
  ``hash()``), so train and eval never share a stream and results are identical across processes and
  machines. Sample ``i`` gets its own ``numpy`` generator seeded with ``(base, i)``: the first 100 samples
  are the same whether 100 or 10,000 are generated, and a split can be regenerated piecewise.
* **Order stream.** The order of a multi-object target list comes from a *second* per-sample stream, so
  ``order: sorted`` and ``order: random`` produce the same images and the same object sets; only the
  list order differs, which makes the SFT-ordering ablation a clean single-variable change.
* **Complexity distribution.** ``n_distribution: balanced`` (default) cycles the complexity knob through
  its inclusive range (``lo + i % (hi - lo + 1)``), so every bucket of ``n`` gets the same number of samples
  (to within one) and per-bucket metrics have equal support. ``uniform`` samples it independently instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from PIL import Image
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from pr1bench.data.draw import BACKGROUND, PALETTE, SHAPES
from pr1bench.registry import Registry

#: The Qwen2-VL processor resizes images to multiples of 28 px; keeping sizes on that grid keeps the
#: model's input identical to the generated image, so absolute pixel targets stay exact.
PATCH_GRID = 28


def _check_range(value: tuple[int, int]) -> tuple[int, int]:
    lo, hi = value
    if lo < 0 or hi < lo:
        raise ValueError(f"range must be [lo, hi] with 0 <= lo <= hi, got [{lo}, {hi}]")
    return value


#: Inclusive integer range ``[lo, hi]``; YAML lists validate into it.
IntRange = Annotated[tuple[int, int], AfterValidator(_check_range)]


class BaseParams(BaseModel):
    """Parameters every generator accepts; unknown keys are errors so YAML typos fail fast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int | tuple[int, int] = 112
    background: tuple[int, int, int] = BACKGROUND
    n_distribution: Literal["balanced", "uniform"] = "balanced"

    @field_validator("image_size")
    @classmethod
    def _grid(cls, v: int | tuple[int, int]) -> int | tuple[int, int]:
        sizes = (v, v) if isinstance(v, int) else v
        for s in sizes:
            if s < PATCH_GRID or s % PATCH_GRID:
                raise ValueError(
                    f"image_size {v!r}: each side must be a positive multiple of {PATCH_GRID} "
                    "(the Qwen2-VL processor would otherwise resize the image and shift pixel targets)"
                )
        return v

    @property
    def width(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[0]

    @property
    def height(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[1]


def check_names(values: list[str], known: tuple[str, ...] | list[str], kind: str) -> list[str]:
    """Reject empty lists and unknown names with the list of known ones (used by Params validators)."""
    if not values:
        raise ValueError(f"at least one {kind} is needed")
    bad = [v for v in values if v not in known]
    if bad:
        raise ValueError(f"unknown {kind} {bad}; known: {', '.join(known)}")
    return values


ColourList = Annotated[list[str], AfterValidator(lambda v: check_names(v, list(PALETTE), "colour"))]
ShapeList = Annotated[list[str], AfterValidator(lambda v: check_names(v, SHAPES, "shape"))]


class MultiObjectParams(BaseParams):
    """Parameters of scenes whose target is a list of objects (counting, detection)."""

    n_objects: IntRange = (1, 10)
    object_size: IntRange = (12, 24)
    order: Literal["random", "sorted"] = "random"

    @field_validator("object_size")
    @classmethod
    def _visible(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 6:
            raise ValueError(f"object_size {v}: objects under 6 px are invisible to a 14 px-patch ViT")
        return v


@dataclass
class Sample:
    """One generated example.

    Attributes:
        id: ``f"{split}-{index:06d}"``, unique within a split.
        image: RGB image, ``width`` x ``height``.
        target: canonical answer (absolute integer pixel boxes, exclusive x2/y2); formatting into a
            model's answer syntax is the task layer's job.
        fields: strings that fill the task's prompt template (``{expression}``, ``{label}``, ...).
        n: number of ground-truth objects, i.e. the perceptual complexity (n! matchings).
        meta: JSON-serialisable per-sample facts (knob value, every drawn object, ...).
    """

    id: str
    image: Image.Image
    width: int
    height: int
    target: dict[str, Any]
    fields: dict[str, str]
    n: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Draft:
    """What a generator returns for one index; :func:`iter_samples` adds id, size and bookkeeping."""

    image: Image.Image
    target: dict[str, Any]
    fields: dict[str, str]
    n: int
    meta: dict[str, Any]


class Generator:
    """Base class: subclasses set ``Params``, ``task_type`` and ``knob`` and implement :meth:`make`.

    ``knob`` names the ``IntRange`` parameter that sets perceptual complexity; the base class picks its
    value per sample (see module docstring) so every generator spreads complexity the same way.
    """

    name: ClassVar[str]
    task_type: ClassVar[str]
    knob: ClassVar[str]
    Params: ClassVar[type[BaseParams]] = BaseParams

    def __init__(self, params: BaseParams):
        self.p = params

    def make(self, k: int, rng: np.random.Generator, order_rng: np.random.Generator) -> Draft:
        """Build one sample with knob value ``k`` from the two per-sample random streams."""
        raise NotImplementedError

    def pick_knob(self, index: int, rng: np.random.Generator) -> int:
        lo, hi = getattr(self.p, self.knob)
        if self.p.n_distribution == "balanced":
            return lo + index % (hi - lo + 1)
        return int(rng.integers(lo, hi + 1))


GENERATORS: Registry[type[Generator]] = Registry("generator")


def derive_seed(seed: int, split: str) -> int:
    """Stable 64-bit seed for ``(seed, split)``; identical in every process, unlike ``hash()``."""
    digest = hashlib.sha256(f"pr1bench-data|{int(seed)}|{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def validate_params(name: str, params: Mapping[str, Any] | BaseParams | None = None) -> BaseParams:
    """Validate generator parameters (unknown generator or key -> error) without generating anything."""
    cls = GENERATORS.get(name)
    if isinstance(params, cls.Params):
        return params
    return cls.Params.model_validate(dict(params or {}))


def iter_samples(
    name: str,
    params: Mapping[str, Any] | BaseParams | None,
    *,
    split: str,
    n_samples: int,
    seed: int,
    start: int = 0,
) -> Iterator[Sample]:
    """Yield samples ``start .. start + n_samples - 1`` lazily (same content as :func:`generate`).

    Every sample is seeded by its own index, so starting at ``start`` costs nothing for the samples before it
    (a pretraining that draws fresh samples at step k does not rebuild the k * batch samples before them).
    """
    cls = GENERATORS.get(name)
    gen = cls(validate_params(name, params))
    base = derive_seed(seed, split)
    for i in range(start, start + n_samples):
        rng = np.random.default_rng([base, i, 0])
        order_rng = np.random.default_rng([base, i, 1])
        k = gen.pick_knob(i, rng)
        d = gen.make(k, rng, order_rng)
        meta = {"generator": name, "split": split, "seed": seed, "index": i, cls.knob: k, **d.meta}
        yield Sample(
            id=f"{split}-{i:06d}",
            image=d.image,
            width=d.image.width,
            height=d.image.height,
            target=d.target,
            fields=d.fields,
            n=d.n,
            meta=meta,
        )


def generate(
    name: str,
    params: Mapping[str, Any] | BaseParams | None,
    *,
    split: str,
    n_samples: int,
    seed: int,
) -> list[Sample]:
    """Generate ``n_samples`` deterministic samples of generator ``name`` for ``split``.

    Args:
        name: registered generator (``referring``, ``count_shapes``, ``shapes``, ``words``).
        params: generator parameters (dict from YAML, or a validated ``Params``).
        split: split name; changes the random stream so splits never share images.
        n_samples: how many samples.
        seed: experiment seed; same (seed, split, params) gives byte-identical images and targets.

    Raises:
        UnknownNameError: unknown generator (with a did-you-mean hint).
        pydantic.ValidationError: bad or unknown parameter (a ``ValueError``).
        PlacementError: the objects cannot be placed without overlap (a ``ValueError``).
    """
    return list(iter_samples(name, params, split=split, n_samples=n_samples, seed=seed))
