"""The embedded default model: a tiny Qwen2-VL pretrained once by this project, shipped in the package.

``--model`` defaults to the shipped checkpoint (``pr1bench/models/weights/tiny-qwen2vl-v3s6``: recipe, sha256 and
evaluation in its ``RECIPE.md``), so no command trains anything before it starts. ``pr1bench model bootstrap``
reproduces it from scratch under ``<results>/models/`` (six stages, about 4.5 hours on one core); pass that directory as
``--model`` to use the rebuilt copy. A path that exists is used as is; anything that looks like a hub id
(``org/name``) is passed through for real users.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pr1bench.paths import models_dir

TINY_NAME = "tiny-qwen2vl"
SHIPPED_STAGE = 6
"""The pretraining stage of the shipped checkpoint (``pr1bench.train.pretrain.LAST_STAGE``; a test ties the two)."""


def stage_name(stage: int) -> str:
    """The directory name of pretraining stage ``stage`` of builder version 3 (stage 1 has no stage suffix)."""
    return "tiny-qwen2vl-v3" + (f"s{stage}" if stage > 1 else "")


WEIGHTS_DIR = Path(__file__).resolve().parent / "models" / "weights"
SHIPPED_NAME = stage_name(SHIPPED_STAGE)
SHIPPED_DIR = WEIGHTS_DIR / SHIPPED_NAME
"""The checkpoint that ships with the package (the embedded default): the last stage of the pretraining."""
STAGE1_DIR = WEIGHTS_DIR / stage_name(1)
"""Stage 1 of the pretraining (the embedded default before issue 20's later stages), shipped as their start so that
``pr1bench model bootstrap --from-stage1 shipped`` reproduces the default without the ~95 minutes of stage 1."""
EMBEDDED_WORDS = ("tiny", "embedded")
"""Words that name the shipped embedded default wherever a model path is accepted."""


def tiny_path() -> Path:
    """Where ``pr1bench model build-tiny`` puts the random-init model by default."""
    return models_dir() / TINY_NAME


def bootstrap_path() -> Path:
    """Where ``pr1bench model bootstrap`` reproduces the shipped model."""
    return stage_bootstrap_path(SHIPPED_STAGE)


def stage_bootstrap_path(stage: int) -> Path:
    """Where ``pr1bench model bootstrap`` rebuilds pretraining stage ``stage`` (the last one is :func:`bootstrap_path`)."""
    return models_dir() / f"{stage_name(stage)}-bootstrap"


def is_ready(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "pr1bench_model.json").is_file()


def resolve_model(model: str | None) -> str:
    """The model directory or hub id a run uses; ``None`` means the shipped embedded default."""
    if model is None or model in EMBEDDED_WORDS:
        if not is_ready(SHIPPED_DIR):
            raise FileNotFoundError(
                f"the shipped embedded model is missing from {SHIPPED_DIR} (a partial checkout?); reinstall "
                f"pr1bench, or rebuild it with `pr1bench model bootstrap` and pass --model {bootstrap_path()}")
        return str(SHIPPED_DIR)
    if model == "tiny-raw":
        return str(tiny_path())
    p = Path(model).expanduser()
    if p.exists():
        return str(p.resolve())
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return model  # a hub id; loading it is the user's network's business
    raise FileNotFoundError(
        f"model path {model!r} does not exist. Pass a local model directory or a hub id (org/name), or omit "
        f"--model to use the embedded tiny model shipped with pr1bench."
    )


def identity(path: str | Path) -> dict[str, Any] | None:
    """How results name a local model: ``embedded-v<builder>:<sha256[:12]>`` plus the manifest facts behind it.

    Reads only the manifest (no torch). ``None`` for a hub id or a checkpoint without a pr1bench manifest.
    """
    p = Path(str(path))
    manifest = p / "pr1bench_model.json"
    if not manifest.is_file():
        return None
    m = json.loads(manifest.read_text())
    sha = next(iter((m.get("weights_sha256") or {}).values()), None)
    version = m.get("builder_version")
    pretrained = "pretrain" in m or "bootstrap" in m
    stages = len(m.get("earlier_stages") or []) + 1  # pretraining stages behind it
    name = f"embedded-v{version}" + (f"s{stages}" if stages > 1 else "") + ("" if pretrained else "-raw")
    return {"name": f"{name}:{sha[:12]}" if sha else name, "builder_version": version, "weights_sha256": sha,
            "shipped": p.resolve() == SHIPPED_DIR, "pretrained": pretrained}
