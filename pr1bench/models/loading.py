"""Load a policy (local checkpoint or hub id) and describe a checkpoint without loading it.

``model_info`` reads only JSON files and safetensors headers, so ``pr1bench model info PATH`` answers in
milliseconds without importing torch. ``load_model_and_processor`` imports transformers lazily.
:func:`model_identity` is how run provenance and reports name a model: by manifest identity, never by a
machine path.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from pr1bench.embedded import EMBEDDED_WORDS, identity, resolve_model
from pr1bench.models.tiny import MANIFEST_NAME

BUILD_HINT = (
    "run `pr1bench model build-tiny` to build the offline tiny model there, or pass an existing checkpoint"
)


class ModelNotFoundError(FileNotFoundError):
    """A local model path is missing or is not a transformers checkpoint (no ``config.json``)."""


def _looks_local(path_or_id: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else (absolute, ``./``, ``~``, deeper paths) is a path."""
    if Path(path_or_id).expanduser().exists():
        return True
    return path_or_id.startswith(("/", ".", "~")) or path_or_id.count("/") > 1 or "\\" in path_or_id


def resolve_local(path_or_id: str | Path) -> Path | None:
    """Return the checkpoint directory for a local path, ``None`` for a hub id; raise if a local path is unusable."""
    text = str(path_or_id)
    if not _looks_local(text):
        return None
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise ModelNotFoundError(f"model path {path} does not exist; {BUILD_HINT}")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"{path} has no config.json, so it is not a model checkpoint; {BUILD_HINT}")
    return path


def model_identity(path_or_id: str | Path) -> dict[str, Any]:
    """How results name a model, without its machine path (paths differ per machine; identities do not).

    Returns:
        The manifest identity (:func:`pr1bench.embedded.identity`) of a pr1bench checkpoint; ``{"name": <last
        path component>}`` for a local checkpoint without a manifest (or one no longer on this machine);
        ``{"name": <hub id>}`` for a hub id. Reads at most one small JSON file, no torch; an unreadable
        manifest counts as none, so a report never fails on an old run's checkpoint.
    """
    text = str(path_or_id)
    if not _looks_local(text):
        return {"name": text}
    try:
        found = identity(Path(text).expanduser())
    except (OSError, ValueError, TypeError):
        found = None
    return found if found is not None else {"name": Path(text).name or text}


def _torch_dtype(dtype: Any) -> Any:
    """Accept ``None`` (float32: CPU-safe), ``"auto"``, a dtype name like ``"bfloat16"``, or a ``torch.dtype``."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, str) and dtype != "auto":
        return getattr(torch, dtype)
    return dtype


def load_model_and_processor(
    path_or_id: str | Path, *, device: str = "cpu", dtype: Any = None
) -> tuple[Any, Any]:
    """Load ``(model, processor)`` ready for generation: eval mode, on ``device``, left padding.

    Args:
        path_or_id: a local checkpoint directory (checked, with a fix-it message when missing) or a hub id
            (passed through to transformers unchanged; needs network or a warm cache).
        device: torch device string.
        dtype: see :func:`_torch_dtype`; ``None`` means float32.

    Returns:
        The ``AutoModelForImageTextToText`` model and the ``AutoProcessor``.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    local = resolve_local(path_or_id)
    source = str(local) if local is not None else str(path_or_id)
    processor = AutoProcessor.from_pretrained(source)
    processor.tokenizer.padding_side = "left"  # decoder-only batched generation needs left padding
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=_torch_dtype(dtype))
    model.to(device)
    model.eval()
    return model, processor


def visual_tokens(
    height: int, width: int, *, patch: int, merge: int, min_pixels: int, max_pixels: int
) -> int:
    """Number of ``<|image_pad|>`` tokens Qwen2-VL uses for an image, mirroring its ``smart_resize``.

    The image is resized to multiples of ``patch * merge`` with area in ``[min_pixels, max_pixels]``; each
    ``merge x merge`` block of patches becomes one token.
    """
    from pr1bench.data.real.coords import smart_resize  # one implementation of Qwen2-VL's resize rule

    w, h = smart_resize(width, height, factor=patch * merge, min_pixels=min_pixels, max_pixels=max_pixels)
    return (h // patch) * (w // patch) // (merge * merge)


def safetensors_param_count(path: Path) -> int:
    """Count parameters from safetensors headers alone (8-byte length + JSON), no torch needed."""
    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with file.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict, or ``{}`` when absent (older checkpoints lack some files)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def _image_limits(path: Path) -> dict[str, int]:
    """Patch/merge/pixel limits from the processor config (5.x ``processor_config.json`` or legacy file)."""
    proc = _read_json(path / "processor_config.json").get("image_processor") or _read_json(
        path / "preprocessor_config.json"
    )
    size = proc.get("size", {})
    return {
        "patch": proc.get("patch_size", 14),
        "merge": proc.get("merge_size", 2),
        "min_pixels": proc.get("min_pixels", size.get("shortest_edge", 56 * 56)),
        "max_pixels": proc.get("max_pixels", size.get("longest_edge", 28 * 28 * 1280)),
    }


def model_info(path: str | Path, *, image_sizes: tuple[int, ...] = (112, 224, 448)) -> dict[str, Any]:
    """Describe a local checkpoint for ``pr1bench model info PATH`` (cheap: no weights are loaded).

    Returns:
        A JSON-serialisable dict: path, architecture, model_type, param_count, vocab_size, text/vision sizes,
        image pixel limits, visual tokens per square image of each size in ``image_sizes``, manifest (or None),
        the per-task evaluation recorded beside the weights (``bootstrap_eval.json``, or None),
        identity (how results name it, see :func:`pr1bench.embedded.identity`; None without a manifest) and
        disk_bytes. ``path`` may also be one of :data:`pr1bench.embedded.EMBEDDED_WORDS`, the shipped embedded default.
    """
    if str(path) in EMBEDDED_WORDS:
        path = resolve_model(str(path))
    local = resolve_local(path)
    if local is None:
        raise ModelNotFoundError(f"model info needs a local checkpoint, got hub id {path!r}; {BUILD_HINT}")
    config = _read_json(local / "config.json")
    text, vision = config.get("text_config", config), config.get("vision_config", {})
    limits = _image_limits(local)
    manifest = _read_json(local / MANIFEST_NAME) or None
    return {
        "path": str(local),
        "architecture": (config.get("architectures") or [None])[0],
        "model_type": config.get("model_type"),
        "param_count": safetensors_param_count(local),
        "vocab_size": text.get("vocab_size"),
        "hidden_size": text.get("hidden_size"),
        "num_layers": text.get("num_hidden_layers"),
        "vision_depth": vision.get("depth"),
        "dtype": config.get("dtype") or text.get("dtype"),
        "image": limits,
        "visual_tokens": {str(s): visual_tokens(s, s, **limits) for s in image_sizes},
        "manifest": manifest,
        "identity": identity(local),
        "bootstrap_eval": _read_json(local / "bootstrap_eval.json") or None,
        "disk_bytes": sum(f.stat().st_size for f in local.rglob("*") if f.is_file()),
    }
