"""Synthetic perception-task generators with a perceptual-complexity knob.

``generate(name, params, split=..., n_samples=..., seed=...)`` returns deterministic :class:`Sample` s;
``GENERATORS`` maps generator names (``referring``, ``count_shapes``, ``shapes``, ``words``) to classes
whose ``Params`` pydantic model validates the task YAML's generator parameters.
"""

from __future__ import annotations

from pr1bench.data import counting, detection, ocr, referring  # noqa: F401  (registers generators)
from pr1bench.data.base import (
    GENERATORS,
    Generator,
    Sample,
    derive_seed,
    generate,
    iter_samples,
    validate_params,
)
from pr1bench.data.draw import PlacementError
from pr1bench.data.real import load_real

__all__ = [
    "GENERATORS",
    "Generator",
    "PlacementError",
    "Sample",
    "derive_seed",
    "generate",
    "iter_samples",
    "load_real",
    "validate_params",
]
