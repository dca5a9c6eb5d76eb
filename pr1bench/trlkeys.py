"""TRL config field names without importing TRL, so a sweep file validates in well under a second.

``import trl`` costs several seconds (it pulls in torch and transformers), which would break the rule that a bad
config fails in under a second. The field names of ``GRPOConfig``/``SFTConfig`` are plain annotated class
attributes, so reading them from the installed sources with :mod:`ast` gives the same set in ~0.1 s. If the
sources ever move (a TRL refactor), we fall back to the exact but slow :func:`pr1bench.runspec.trl_fields`.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import Any, Literal

from pr1bench.registry import did_you_mean
from pr1bench.runspec import RESERVED_TRAINER_KEYS
from pr1bench.spec import ConfigError

# (package, module path inside it, class name), most derived first; the chain must end at TrainingArguments.
_CHAINS: dict[str, list[tuple[str, str, str]]] = {
    "grpo": [
        ("trl", "trainer/grpo_config.py", "GRPOConfig"),
        ("trl", "trainer/base_config.py", "_BaseConfig"),
        ("transformers", "training_args.py", "TrainingArguments"),
    ],
    "sft": [
        ("trl", "trainer/sft_config.py", "SFTConfig"),
        ("trl", "trainer/base_config.py", "_BaseConfig"),
        ("transformers", "training_args.py", "TrainingArguments"),
    ],
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _class_fields(path: Path, cls: str) -> set[str] | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
    return None


@functools.cache
def fast_trl_fields(kind: Literal["grpo", "sft"]) -> frozenset[str]:
    """Field names of TRL's GRPOConfig/SFTConfig, read from source (exact import as a fallback)."""
    out: set[str] = set()
    try:
        for pkg, rel, cls in _CHAINS[kind]:
            root = _package_dir(pkg)
            found = _class_fields(root / rel, cls) if root and (root / rel).is_file() else None
            if not found:
                raise LookupError(f"{cls} not found")
            out |= found
    except (LookupError, OSError, SyntaxError):
        from pr1bench.runspec import trl_fields

        return trl_fields(kind)
    return frozenset(out)


def check_trainer_keys(keys: dict[str, Any], kind: Literal["grpo", "sft"], section: str) -> None:
    """Raise a ConfigError (no file yet) for a reserved or unknown trainer key, with a did-you-mean."""
    if not keys:
        return
    fields = fast_trl_fields(kind)
    cls = "GRPOConfig" if kind == "grpo" else "SFTConfig"
    for k in keys:
        if k in RESERVED_TRAINER_KEYS:
            raise ConfigError(None, f"{section}.{k}", "is set by pr1bench itself and cannot be overridden")
        if k not in fields:
            raise ConfigError(
                None, f"{section}.{k}", f"TRL's {cls} has no field {k!r}.{did_you_mean(k, sorted(fields))}"
            )
