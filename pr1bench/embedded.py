"""The embedded default model: the offline tiny Qwen2-VL, warmed up once by `pr1bench model bootstrap`.

``--model`` defaults to the bootstrapped tiny model under ``<results>/models/``. A path that exists is used
as is; anything else that looks like a hub id (``org/name``) is passed through for real users.
"""

from __future__ import annotations

from pathlib import Path

from pr1bench.paths import models_dir

TINY_NAME = "tiny-qwen2vl"
BOOTSTRAP_NAME = "tiny-qwen2vl-bootstrap"


def tiny_path() -> Path:
    return models_dir() / TINY_NAME


def bootstrap_path() -> Path:
    return models_dir() / BOOTSTRAP_NAME


def is_ready(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "pr1bench_model.json").is_file()


def resolve_model(model: str | None) -> str:
    """The model directory or hub id a run uses; ``None`` means the bootstrapped embedded default."""
    if model is None or model in ("tiny", "embedded"):
        return str(bootstrap_path())
    if model == "tiny-raw":
        return str(tiny_path())
    p = Path(model).expanduser()
    if p.exists():
        return str(p.resolve())
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return model  # a hub id; loading it is the user's network's business
    raise FileNotFoundError(
        f"model path {model!r} does not exist. Pass a local model directory or a hub id (org/name), or omit "
        f"--model to use the embedded tiny model (built by `pr1bench model bootstrap`)."
    )
