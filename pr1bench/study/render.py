"""The study report (Markdown + plots) and its reference numbers (JSON) for `nox -s repro`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pr1bench.report.stats import diff_ci, mean_ci
from pr1bench.study.findings import Finding, StudyData, buckets_of, combine, fmt_est, values_of

VARIANTS = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
REFERENCE_VERSION = 1


def _cell(values: np.ndarray) -> str:
    est = mean_ci(values)
    if est is None:
        return "-"
    if est.has_interval:
        return f"{est.value:.3f} [{est.lo:.3f}, {est.hi:.3f}]"
    return f"{est.value:.3f} (n={est.n})"


def main_table(d: StudyData, tasks: list[str], metric_of: dict[str, str], title: str) -> list[str]:
    out = [f"### {title}", "", "| task | metric | " + " | ".join(VARIANTS) + " |",
           "|---|---|" + "---|" * len(VARIANTS)]
    for task in tasks:
        metric = metric_of[task]
        cells = [_cell(values_of(d, arm="main", task=task, variant=v, metric=metric)) for v in VARIANTS]
        out.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return [*out, ""]


def bucket_table(d: StudyData, task: str, arms: list[tuple[str, str]]) -> list[str]:
    metric = d.primary[task]
    labels = buckets_of(d, task)
    out = [f"#### {task}: {metric} per complexity bucket (mean [95% CI] over seeds)", "",
           "| bucket | arm | sft | grpo | grpo - sft | sampled reward sft | sampled reward grpo |",
           "|---|---|---|---|---|---|---|"]
    for b in labels:
        for arm, label in arms:
            g, s = (values_of(d, arm=arm, task=task, variant=v, metric=metric, bucket=b) for v in ("grpo", "sft"))
            if not g.size and not s.size:
                continue
            gain = diff_ci(g, s) if g.size and s.size else None
            rs, rg = (values_of(d, arm=arm, task=task, variant=v, metric="reward_sampled", bucket=b)
                      for v in ("sft", "grpo"))
            out.append(f"| {b} | {label} | {_cell(s)} | {_cell(g)} | {fmt_est(gain)} | {_cell(rs)} | {_cell(rg)} |")
    return [*out, ""]


def finding_block(i: int, f: Finding) -> list[str]:
    out = [f"### Finding {i}: {f.claim}: **{f.verdict}**", "", f.sentence, "",
           "| task | measure | A | B | mean A | mean B | A - B [95% CI] | verdict | note |",
           "|---|---|---|---|---|---|---|---|---|"]
    for ln in f.lines:
        a = "-" if ln.a_value is None else f"{ln.a_value:.3f}"
        b = "-" if ln.b_value is None else f"{ln.b_value:.3f}"
        flag = "" if ln.decides else " (reported)"
        out.append(f"| {ln.task} | {ln.measure}{flag} | {ln.a} | {ln.b} | {a} | {b} | {fmt_est(ln.est)} | "
                   f"{ln.verdict} | {ln.note} |")
    return [*out, ""]


def model_text(meta: dict[str, Any]) -> str:
    """The study's model(s) by identity, never by machine path: study.md is shipped and read elsewhere.

    ``meta["model_identity"]`` (identity dicts or names, when the caller has them) wins; else each model in
    ``meta["model"]`` (the store's comma-separated ``runs.model`` values) is named by its manifest identity if
    the checkpoint is on this machine, else by its last path component, or its hub id.
    """
    from pr1bench.report.models import describe, describe_models

    idents = meta.get("model_identity")
    if idents:
        items = idents if isinstance(idents, list | tuple) else [idents]
        names = (describe(i if isinstance(i, dict) else {"name": str(i)}) for i in items)
        return ", ".join(dict.fromkeys(names))
    model = meta.get("model")
    if not model:
        return "embedded tiny Qwen2-VL (identity not recorded)"
    return describe_models(str(model).split(", "))


def task_verdicts(f: Finding) -> dict[str, str]:
    """Each task's verdict on the finding's deciding lines (a task whose lines disagree is inconclusive)."""
    tasks: dict[str, list[Any]] = {}
    for ln in f.lines:
        if ln.decides:
            tasks.setdefault(ln.task, []).append(ln)
    return {t: combine(lns) for t, lns in tasks.items()}


def per_task_verdicts(f: Finding) -> str:
    return "; ".join(f"{t}: {v}" for t, v in task_verdicts(f).items()) or "-"


def markdown(study: Any, d: StudyData, findings: list[Finding], *, quick: bool, meta: dict[str, Any]) -> str:
    from pr1bench.study.findings import __doc__ as stats_doc

    tasks = [t for t in study.tasks if t in d.primary]
    order_arm = next((n for n, ab in study.ablations.items() if "data.order" in ab.set), None)
    lines = [f"# Study `{study.study}`{' (quick form)' if quick else ''}", "", study.description.strip(), "",
             f"Seeds: {', '.join(map(str, d.seeds))}. Completed runs: {meta.get('runs', '?')}. "
             f"Wall time from the first run's start to the last run's end: {meta.get('span_seconds', 0) / 60:.1f} min "
             f"(summed over runs: {meta.get('run_seconds', 0) / 60:.1f} min). "
             f"Model: {model_text(meta)}.", ""]
    lines += ["## Verdicts", "",
              "A finding's verdict is the tasks' verdicts when they agree, else inconclusive; the last column is "
              "each task's own verdict on its deciding line(s).", "",
              "| # | claim | verdict | per task |", "|---|---|---|---|"]
    lines += [f"| {i} | {f.claim} | {f.verdict} | {per_task_verdicts(f)} |" for i, f in enumerate(findings, 1)]
    lines += ["", "## Findings", ""]
    for i, f in enumerate(findings, 1):
        lines += finding_block(i, f)
    lines += ["## Results", ""]
    lines += main_table(d, tasks, d.primary, "Greedy primary metric per variant (mean [95% CI] over seeds)")
    lines += main_table(d, tasks, {t: "reward_sampled" for t in tasks},
                        "Sampled reward per variant (task rewards at the training temperature)")
    arms = [("main", "random")] + ([(order_arm, "sorted")] if order_arm else [])
    for task in study.high_complexity:
        if task in tasks:
            lines += bucket_table(d, task, arms)
    lines += compute_table(meta.get("compute") or {}, tasks)
    lines += ["## Hyperparameters and their provenance", "", "| task | phase | source | sweep | trial | params |",
              "|---|---|---|---|---|---|"]
    for task, hp in meta.get("hparams", {}).items():
        for phase, h in hp.items():
            params = ", ".join(f"{k}={_short(v)}" for k, v in h.get("params", {}).items())
            lines.append(f"| {task} | {phase} | {h.get('source')} | {h.get('sweep') or '-'} | "
                         f"{h.get('trial') if h.get('trial') is not None else '-'} | {params or '-'} |")
    lines += ["", "## Statistics", "", (stats_doc or "").strip(), ""]
    return "\n".join(lines)


def compute_table(compute: dict[str, dict[str, dict[str, float]]], tasks: list[str]) -> list[str]:
    """What each variant was given to train on: the claim "same compute for SFT and GRPO" as numbers."""
    if not compute:
        return []
    out = ["## Training compute per variant", "",
           "Mean over seeds, main arm, from the trainers' logs: optimizer steps, sequences trained on (GRPO: sampled "
           "completions), tokens, and seconds in the training loop (GRPO's rollouts included; model loading and "
           "evaluation not). sft-grpo counts its parent SFT run too.", "",
           "| task | variant | steps | sequences | tokens | train seconds | processes |",
           "|---|---|---|---|---|---|---|"]
    for task in tasks:
        for v in VARIANTS:
            c = compute.get(task, {}).get(v)
            if c:
                out.append(f"| {task} | {v} | {c['steps']:.0f} | {c['sequences']:.0f} | {c['tokens']:,.0f} | "
                           f"{c['seconds']:.1f} | {c.get('layout') or '1 process'} |")
    return [*out, ""]


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def plot_gains(findings: list[Finding], out: Path) -> list[Path]:
    """GRPO - SFT per bucket, random vs sorted order, one panel per task."""
    from pr1bench.report.plots import _grid, _plt, _save

    grow = next((f for f in findings if f.key == "gain_grows"), None)
    if grow is None:
        return []
    tasks = [t for t in grow.extra if t != "x"]
    if not tasks:
        return []
    plt = _plt()
    fig, axes = _grid(plt, len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for arm, per in grow.extra[task].items():
            labels = list(per)
            ys = [per[b] if per[b] is not None else math.nan for b in labels]
            ax.plot(range(len(labels)), ys, marker="o", label=arm)
            ax.set_xticks(range(len(labels)), labels)
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_title(task)
        ax.set_xlabel("objects per image (bucket)")
        ax.set_ylabel("GRPO - SFT (greedy)")
        ax.legend(loc="best")
    return _save(fig, out, "study_gain_vs_complexity")


def plot_variants(d: StudyData, tasks: list[str], out: Path) -> list[Path]:
    """Greedy primary metric and sampled reward per variant (mean and 95% CI over seeds), one panel per task."""
    from pr1bench.report.plots import COLORS, _grid, _plt, _save

    if not tasks:
        return []
    plt = _plt()
    fig, axes = _grid(plt, 2 * len(tasks), w=3.2, h=2.6)
    for i, task in enumerate(tasks):
        for j, metric in enumerate((d.primary[task], "reward_sampled")):
            ax = axes[2 * i + j]
            for k, v in enumerate(VARIANTS):
                est = mean_ci(values_of(d, arm="main", task=task, variant=v, metric=metric))
                if est is None:
                    continue
                err = None
                if est.has_interval:
                    err = [[est.value - est.lo], [est.hi - est.value]]
                ax.bar(k, est.value, color=COLORS.get(v, "#555"), yerr=err, capsize=3)
            ax.set_xticks(range(len(VARIANTS)), [v.replace("-", "-\n") for v in VARIANTS], fontsize=7)
            ax.set_title(f"{task}: {metric}{' (greedy)' if j == 0 else ''}")
    return _save(fig, out, "study_variants")


# ----------------------------------------------------------------------------------------------- reference


def reference_numbers(d: StudyData, high: dict[str, str] | None = None) -> dict[str, float]:
    """Mean value per (arm, task, variant, metric, bucket) of the primary metric and the sampled reward, over
    all samples and in each task's high-complexity bucket (other buckets hold too few samples to pin down)."""
    out: dict[str, float] = {}
    df = d.metrics
    for (arm, task, variant, metric, bucket), grp in df.groupby(["arm", "task", "variant", "metric", "bucket"]):
        if metric not in (d.primary.get(task), "reward_sampled") or bucket not in ("all", (high or {}).get(task)):
            continue
        v = grp["value"].astype(float)
        v = v[np.isfinite(v)]
        if len(v):
            out[f"{arm}/{task}/{variant}/{metric}/{bucket}"] = round(float(v.mean()), 6)
    return dict(sorted(out.items()))


def write_reference(path: Path, study: Any, d: StudyData, findings: list[Finding], *, quick: bool,
                    meta: dict[str, Any]) -> Path:
    doc = {"version": REFERENCE_VERSION, "study": study.study, "quick": quick, "seeds": d.seeds,
           "model": model_text(meta), "packages": meta.get("packages", {}),
           "verdicts": {f.key: f.verdict for f in findings},
           "values": reference_numbers(d, study.high_complexity)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


TOLERANCES = {"reward_sampled": 0.15, "default": 0.10}
"""Absolute tolerances of a fresh run against the reference: a CPU rerun with the same pinned packages repeats the
numbers up to thread scheduling and BLAS differences; 0.10 on metrics in [0, 1] and 0.15 on summed rewards (up to 3
terms) allow another machine's float differences to change a few greedy answers out of the 60-100 evaluated."""


def compare_reference(ref: dict[str, Any], new: dict[str, float], tol: dict[str, float] | None = None
                      ) -> list[dict[str, Any]]:
    tol = {**TOLERANCES, **(tol or {})}
    if "*" in tol:
        tol["default"] = tol.pop("*")
    rows = []
    for key, want in ref["values"].items():
        metric = key.split("/")[3]
        t = tol.get(metric, tol["default"])
        got = new.get(key)
        ok = got is not None and abs(got - want) <= t
        rows.append({"key": key, "reference": want, "new": got, "tolerance": t, "ok": ok,
                     "diff": None if got is None else round(got - want, 6)})
    return rows
