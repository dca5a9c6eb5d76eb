"""Model families: which answer format, coordinate convention and pixel limits a model was trained to use.

Why: the three Qwen VL generations answer boxes differently, and a mismatch between what the model says and
how the harness parses it is the most common cause of failed reproductions (a Qwen2.5-VL answer in pixels read
as 0-1000, or the reverse, scores near zero with nothing visibly wrong):

============  ===================================  ===================  ==========================
family        boxes                                coordinates          image grid (patch x merge)
============  ===================================  ===================  ==========================
qwen2_vl      ``<|box_start|>(x1,y1),(x2,y2)``     0-1000               28 px (14 x 2)
qwen2_5_vl    JSON ``{"bbox_2d": [...]}``          absolute pixels      28 px (14 x 2)
qwen3_vl      JSON ``{"bbox_2d": [...]}``          0-1000               32 px (16 x 2)
============  ===================================  ===================  ==========================

A task pins its answer with concrete ``answer.format`` / ``answer.coords`` values, or leaves either to the
model with ``auto`` (the shipped real-data tasks do). :func:`resolve` fills ``auto`` from the model's family
(read from its ``config.json`` ``model_type``, or from a hub id's name), picks the real-data resize grid and
pixel limits from the model's processor unless the task sets ``data.min_pixels`` / ``max_pixels`` /
``resize_factor``, warns at once when a pinned convention contradicts the family, and returns a record of the
choice that ``run.json`` stores as ``model_family``. The embedded model (a Qwen2-VL architecture pretrained by
pr1bench on the tasks' own conventions, ``pr1bench_model.json`` in its directory) has no native convention, so
it never triggers the warning and ``auto`` falls back to :data:`TYPE_DEFAULTS`.

No torch here: only JSON files are read, so the CLI can resolve a family before anything heavy loads.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pr1bench.registry import Registry

log = logging.getLogger("pr1bench.models.family")

#: Paper setting: about 1e6 pixels per image (``--max_pixels 1000000`` in Perception-R1's scripts).
PAPER_MAX_PIXELS = 1280 * 28 * 28


@dataclass(frozen=True)
class Family:
    """A model family's native conventions.

    Attributes:
        name: the ``model_type`` of its ``config.json``.
        box_format: answer format for box tasks (grounding, detection).
        coords: coordinate convention of its boxes and points.
        factor: image side granularity of its processor (patch size x spatial merge).
        min_pixels: default lower pixel limit.
        max_pixels: default upper pixel limit (the paper's ~1e6 rather than the processor's 12.8M default).
    """

    name: str
    box_format: str
    coords: str
    factor: int
    min_pixels: int
    max_pixels: int


FAMILIES: Registry[Family] = Registry("model family")
for _f in (Family("qwen2_vl", "box_tokens", "normalized_1000", 28, 56 * 56, PAPER_MAX_PIXELS),
           Family("qwen2_5_vl", "json_boxes", "absolute_pixels", 28, 56 * 56, PAPER_MAX_PIXELS),
           Family("qwen3_vl", "json_boxes", "normalized_1000", 32, 64 * 64, PAPER_MAX_PIXELS)):
    FAMILIES.add(_f.name, _f)

#: ``model_type`` values that belong to a family (MoE variants answer like their dense siblings).
MODEL_TYPES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl",
               "qwen3_vl_moe": "qwen3_vl"}
#: Hub-id patterns, for models not on disk (checked in order: the most specific first).
NAME_PATTERNS = ((re.compile(r"qwen3[-_.]?vl", re.I), "qwen3_vl"), (re.compile(r"qwen2\.5[-_.]?vl", re.I), "qwen2_5_vl"),
                 (re.compile(r"qwen2[-_.]?vl", re.I), "qwen2_vl"))
#: ``auto`` answers when the model has no native convention (the embedded model, an unknown model): the
#: conventions of the synthetic tasks the embedded model was pretrained on, which are also the paper's.
TYPE_DEFAULTS = {"grounding": ("box_tokens", "normalized_1000"), "detection": ("json_boxes", "absolute_pixels"),
                 "counting": ("points", "absolute_pixels"), "ocr": ("text", "absolute_pixels")}
EMBEDDED_MANIFEST = "pr1bench_model.json"


@dataclass(frozen=True)
class Detected:
    """What could be learnt about a model without loading it."""

    family: Family | None
    source: str
    native: bool
    processor: dict[str, int] | None = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def processor_limits(model_dir: Path) -> dict[str, int] | None:
    """``min_pixels``, ``max_pixels`` and ``factor`` from a saved image processor, when one is there."""
    for name in ("preprocessor_config.json", "processor_config.json"):
        cfg = _read_json(model_dir / name)
        if cfg is None:
            continue
        ip = cfg.get("image_processor", cfg)
        if not isinstance(ip, dict):
            continue
        size = ip.get("size") if isinstance(ip.get("size"), dict) else {}
        lo = ip.get("min_pixels") or size.get("shortest_edge")
        hi = ip.get("max_pixels") or size.get("longest_edge")
        patch, merge = ip.get("patch_size"), ip.get("merge_size")
        out = {k: int(v) for k, v in (("min_pixels", lo), ("max_pixels", hi)) if isinstance(v, int | float)}
        if isinstance(patch, int) and isinstance(merge, int):
            out["factor"] = patch * merge
        return out or None
    return None


def detect(model: str | Path | None) -> Detected:
    """The family of a model directory (``config.json``) or hub id (its name); never raises."""
    if model is None or str(model) == "":
        return Detected(None, "no model given", False)
    path = Path(str(model)).expanduser()
    if path.is_dir():
        cfg = _read_json(path / "config.json") or {}
        mtype = str(cfg.get("model_type", ""))
        fam = FAMILIES.get(MODEL_TYPES[mtype]) if mtype in MODEL_TYPES else None
        limits = processor_limits(path)
        if (path / EMBEDDED_MANIFEST).is_file():
            return Detected(fam, f"config.json model_type {mtype!r}; pr1bench embedded model (trained on the "
                                 "tasks' own conventions)", False, limits)
        parent = _read_json(path.parent / "run.json")
        if parent is not None:  # a model a pr1bench run trained: it keeps the conventions of what it started from
            return _inherited(parent, path, fam, limits)
        source = f"config.json model_type {mtype!r}" if mtype else "no model_type in config.json"
        return Detected(fam, source, fam is not None, limits)
    for pattern, name in NAME_PATTERNS:
        if pattern.search(str(model)):
            return Detected(FAMILIES.get(name), f"model name {str(model)!r}", True)
    return Detected(None, f"unrecognised model {str(model)!r}", False)


def _inherited(run: dict[str, Any], path: Path, fam: Family | None, limits: dict[str, int] | None) -> Detected:
    rec = run.get("model_family") if isinstance(run.get("model_family"), dict) else None
    if rec is not None:
        native = bool(rec.get("native_conventions"))
        name = rec.get("family")
        fam = FAMILIES.get(name) if name in FAMILIES.names() else fam
    else:  # runs from before model families: only the embedded model was trained without --model
        native = "embedded" not in str((run.get("model_identity") or {}).get("name", "embedded"))
    return Detected(fam, f"trained by run {run.get('run_id', path.parent.name)} (inherits its model's conventions)",
                    native and fam is not None, limits)


def native_answer(family: Family, task_type: str) -> tuple[str, str]:
    """``(format, coords)`` the family answers a task type in."""
    if task_type in ("grounding", "detection"):
        return family.box_format, family.coords
    if task_type == "counting":
        return "points", family.coords
    return "text", "absolute_pixels"


def _pixels(task: Any, det: Detected) -> tuple[dict[str, Any], dict[str, Any]]:
    """Data keys to set (real data only) and the record of the resize settings."""
    x = task.data.extras()
    fam, proc = det.family, det.processor or {}
    choice = {"factor": proc.get("factor") or (fam.factor if fam else 28),
              "min_pixels": max(proc.get("min_pixels", 0), fam.min_pixels if fam else 56 * 56),
              "max_pixels": min(proc.get("max_pixels", PAPER_MAX_PIXELS), fam.max_pixels if fam else PAPER_MAX_PIXELS)}
    chosen_by = "model processor" if proc else (f"family {fam.name}" if fam else "defaults")
    keys = {"factor": "resize_factor", "min_pixels": "min_pixels", "max_pixels": "max_pixels"}
    record, update = {}, {}
    for k, data_key in keys.items():
        if x.get(data_key):
            record[k], record[f"{k}_by"] = int(x[data_key]), "task"
        else:
            record[k], record[f"{k}_by"] = int(choice[k]), chosen_by
            update[data_key] = int(choice[k])
    if task.data.source == "synthetic":
        return {}, {**record, "applies_to": "nothing (synthetic images are generated on their own grid)"}
    return update, record


def resolve(task: Any, model: str | Path | None) -> tuple[Any, dict[str, Any]]:
    """The task with ``auto`` answers and unset pixel limits filled from ``model``'s family, and the record.

    Warnings (a pinned convention contradicting the family, a synthetic grid the processor will resize) are
    logged at once and listed in the record.
    """
    from pr1bench.spec import TaskSpec

    det = detect(model)
    native = det.family if det.native else None
    fmt, coords = task.answer.format, task.answer.coords
    want = native_answer(native, task.type) if native else TYPE_DEFAULTS[task.type]
    by = f"family {native.name}" if native else "type default (model has no native convention)"
    chosen = {"format": (fmt, "task") if fmt != "auto" else (want[0], by),
              "coords": (coords, "task") if coords != "auto" else (want[1], by)}
    warnings = []
    if native and task.type != "ocr":
        nf, nc = native_answer(native, task.type)
        fmt_off = fmt not in ("auto", nf) and fmt not in ("count",)
        if task.type == "counting" and fmt == native.box_format:  # Perception-R1's box protocol for counting
            fmt_off = False
        coords_off = coords not in ("auto", nc)
        if fmt_off or coords_off:
            warnings.append(
                f"task {task.task!r} pins answer {chosen['format'][0]}/{chosen['coords'][0]} but {model} is a "
                f"{native.name} model, which answers in {nf}/{nc}; its answers will be parsed and rewarded in the "
                f"pinned convention. Fix: set answer.format: auto and answer.coords: auto in the task YAML to follow "
                f"the model (or keep the pin if you train the model into it)")
    update, pixels = _pixels(task, det)
    if task.data.source == "synthetic" and pixels["factor"] != 28 and chosen["coords"][0] == "absolute_pixels":
        warnings.append(f"{model} resizes images on a {pixels['factor']} px grid but synthetic images are made on a "
                        f"28 px grid, so absolute-pixel targets will not match what the model sees. Fix: use "
                        f"data.image_size: 224 (a multiple of both) or answer.coords: normalized_1000")
    for w in warnings:
        log.warning("%s", w)
    d = task.model_dump(mode="python")
    d["answer"] = {"format": chosen["format"][0], "coords": chosen["coords"][0]}
    d["data"] = {**d["data"], **update}
    record = {"family": det.family.name if det.family else None, "detected_from": det.source,
              "native_conventions": det.native, "answer_format": chosen["format"][0],
              "answer_format_by": chosen["format"][1], "coords": chosen["coords"][0],
              "coords_by": chosen["coords"][1], "pixels": pixels, "warnings": warnings}
    return TaskSpec.model_validate(d), record


def resolve_answer_defaults(task: Any) -> Any:
    """``task`` with any ``auto`` answer filled by :data:`TYPE_DEFAULTS` (no model known); unchanged otherwise."""
    if task.answer.format != "auto" and task.answer.coords != "auto":
        return task
    fmt, coords = TYPE_DEFAULTS[task.type]
    answer = {"format": fmt if task.answer.format == "auto" else task.answer.format,
              "coords": coords if task.answer.coords == "auto" else task.answer.coords}
    return task.model_copy(update={"answer": task.answer.model_copy(update=answer)})
