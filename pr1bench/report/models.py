"""Which model the reported runs started from, named by identity and never by a machine path.

A run records ``model_identity`` in run.json (see :func:`pr1bench.launch.run_model_identity`); the store
keeps it in ``runs.extra``. Runs from before that field existed are named from their ``model`` field instead:
the manifest identity when the checkpoint is still on this machine, else the path's last component, or the hub
id. A report shows the same name on every machine, and never leaks a home directory into a shared document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pr1bench.report.section import DASH, VARIANT_LABEL, VARIANT_ORDER, Section

if TYPE_CHECKING:
    from pr1bench.report.data import ReportData

UNKNOWN = "unknown model"


def run_identity(model: str | None, stored: Any = None) -> dict[str, Any]:
    """A run's model identity: the one it recorded (dict or JSON text), else one derived from ``model``."""
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            stored = None
    if isinstance(stored, dict) and stored.get("name"):
        return stored
    if not model or (isinstance(model, float) and model != model):  # None / NaN from a DataFrame
        return {"name": UNKNOWN}
    from pr1bench.models.loading import model_identity

    return model_identity(str(model))


def describe(ident: dict[str, Any]) -> str:
    """``name (builder vN, weights sha256 <prefix>, ...)``: tells two embedded models apart at a glance."""
    details = []
    if ident.get("builder_version") is not None:
        details.append(f"builder v{ident['builder_version']}")
    if ident.get("weights_sha256"):
        details.append(f"weights sha256 {str(ident['weights_sha256'])[:12]}")
    if ident.get("shipped"):
        details.append("shipped default")
    base = ident.get("base")
    if isinstance(base, dict) and base.get("name"):
        details.append(f"from {describe(base)}")
    name = str(ident.get("name") or UNKNOWN)
    return f"{name} ({', '.join(details)})" if details else name


def root(ident: dict[str, Any]) -> dict[str, Any]:
    """The model a chain of runs started from: a run that continues another's final model (``init_run``) records
    that run's identity as ``base``, so an SFT-then-GRPO pipeline counts as one model, not two."""
    seen = 0
    while isinstance(ident.get("base"), dict) and ident["base"].get("name") and seen < 32:
        ident, seen = ident["base"], seen + 1
    return ident


def describe_models(models: Iterable[str | None]) -> str:
    """Several ``model`` fields (paths or hub ids, e.g. a study's) as one comma-separated list of names."""
    seen: dict[str, None] = {}
    for m in models:
        seen.setdefault(describe(run_identity(m)), None)
    return ", ".join(seen) or UNKNOWN


def _variants(variants: Iterable[str]) -> str:
    got = set(variants)
    return ", ".join(
        VARIANT_LABEL.get(v, v) for v in (*VARIANT_ORDER, *sorted(got - set(VARIANT_ORDER))) if v in got
    )


def model_note(data: ReportData, task: str) -> str | None:
    """The note a task's main table carries: which model its runs (outside sweeps) started from."""
    runs = data.runs[(data.runs["task"] == task) & data.runs["sweep"].isna()]
    if not len(runs) or "model_identity" not in runs:
        return None
    by_model: dict[str, list[str]] = {}
    for ident, variant in zip(runs["model_identity"], runs["variant"], strict=True):
        by_model.setdefault(describe(root(ident)), []).append(variant)
    if len(by_model) == 1:
        return f"model: {next(iter(by_model))}"
    parts = "; ".join(f"{name} ({_variants(v)})" for name, v in by_model.items())
    return f"models differ between variants: {parts}; compare rows with care"


def models_section(data: ReportData) -> Section:
    """One row per starting model (:func:`root`): its identity and the tasks, variants and runs that used it."""
    sec = Section(
        key="models",
        title="Models the runs started from",
        group="models",
        columns=["model", "builder", "weights sha256", "tasks", "variants", "runs"],
    )
    if not len(data.runs) or "model_identity" not in data.runs:
        sec.missing = "no completed runs"
        return sec
    groups: dict[str, dict[str, Any]] = {}
    for ident, task, variant in zip(
        data.runs["model_identity"], data.runs["task"], data.runs["variant"], strict=True
    ):
        ident = root(ident)
        g = groups.setdefault(describe(ident), {"ident": ident, "tasks": set(), "variants": set(), "runs": 0})
        g["tasks"].add(task)
        g["variants"].add(variant)
        g["runs"] += 1
    records = []
    for g in groups.values():
        ident = g["ident"]
        builder = ident.get("builder_version")
        sha = str(ident.get("weights_sha256") or "")[:12]
        sec.rows.append(
            [
                str(ident.get("name")),
                DASH if builder is None else f"v{builder}",
                sha or DASH,
                ", ".join(sorted(g["tasks"])),
                _variants(g["variants"]),
                str(g["runs"]),
            ]
        )
        records.append(
            {
                "model": ident.get("name"),
                "builder_version": builder,
                "weights_sha256": ident.get("weights_sha256"),
                "tasks": ", ".join(sorted(g["tasks"])),
                "variants": _variants(g["variants"]),
                "runs": g["runs"],
            }
        )
    import pandas as pd

    sec.frame = pd.DataFrame(records)
    sec.notes.append(
        "models are named by identity (builder version and weights sha256 of a pr1bench checkpoint, "
        "else the hub id or the checkpoint's directory name), never by machine path"
    )
    return sec
