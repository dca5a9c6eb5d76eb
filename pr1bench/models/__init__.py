"""Policy models: the offline tiny Qwen2-VL builder, loading, inspection and batched generation.

Importing this package is free: torch and transformers load only when one of the functions below is first used
(``pr1bench --help`` must stay fast). Names resolve lazily through :func:`__getattr__`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TinyConfig": "pr1bench.models.tiny",
    "build_tiny": "pr1bench.models.tiny",
    "load_model_and_processor": "pr1bench.models.loading",
    "model_info": "pr1bench.models.loading",
    "ModelNotFoundError": "pr1bench.models.loading",
    "generate_batch": "pr1bench.models.generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
