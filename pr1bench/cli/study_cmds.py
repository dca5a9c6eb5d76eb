"""`pr1bench study ...`: run the replication study, report its findings, check a fresh run against the reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from pr1bench.cli.common import console, err_console, fail, print_json, user_errors

app = typer.Typer(no_args_is_help=True, help=(
    "Replication studies: a grid of runs (variants x tasks x seeds + ablations) and its verdicts.\n\n"
    "Examples:\n\n"
    "  pr1bench study run embedded --quick          (one seed, fewer steps: ~10 min on 2 cores)\n\n"
    "  pr1bench study run embedded                  (3 seeds; resumable: re-run to continue)\n\n"
    "  pr1bench study report embedded --out results/study\n\n"
    "  pr1bench study check embedded --quick --reference results/reference/study-embedded-quick.json"))


def _load(name: str, quick: bool) -> tuple[Any, Path, list[Any]]:
    from pr1bench.study.execute import best_trials
    from pr1bench.study.spec import load_study, plan, validate_plan

    with user_errors():
        study, path = load_study(name, quick=quick)
        runs = plan(study, best_trials=best_trials())
        validate_plan(study, runs, path, quick=quick)
    return study, path, runs


@app.command("validate")
def validate(name: str = typer.Argument("embedded"), quick: bool = typer.Option(False, "--quick")) -> None:
    """Check a study file and every run it plans (no training).

    Example: pr1bench study validate embedded
    """
    study, path, runs = _load(name, quick)
    console.print(f"[green]ok[/] {path}: {len(runs)} runs", highlight=False)


@app.command("run")
def run(
    name: str = typer.Argument("embedded", help="studies/NAME.yaml or a path."),
    quick: bool = typer.Option(False, "--quick", help="The quick form: one seed, fewer steps (the file's quick:)."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Runs side by side (default: the file's jobs)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore earlier runs of the study and run everything again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the planned runs and where their settings come from."),
    report_out: Path = typer.Option(None, "--report", help="Write the report (Markdown + plots) here when done."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Train and evaluate every run of a study (resumable: completed runs are skipped, killed ones resumed).

    Example: pr1bench study run embedded --quick --report results/study-quick
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pr1bench.study.execute import run_study

    study, path, runs = _load(name, quick)
    if dry_run:
        rows = [{"key": r.key, "needs": r.needs, "overrides": r.overrides, "hparams": r.hparams} for r in runs]
        if json_out:
            print_json(rows)
            return
        for r in rows:
            src = "; ".join(f"{ph}: {h.get('source')} {h.get('sweep') or ''} trial {h.get('trial')}"
                            for ph, h in r["hparams"].items())
            console.print(f"{r['key']:40s} {src}", highlight=False)
        console.print(f"{len(rows)} runs", highlight=False)
        return
    running: set[str] = set()
    with Progress(TextColumn("[bold]study {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=err_console) as progress:
        tid = progress.add_task("", total=len(runs), name=study.study)

        def on_event(kind: str, pr: Any, info: str) -> None:
            if kind in ("start", "resume"):
                running.add(pr.key)
            elif kind in ("done", "skip", "failed"):
                running.discard(pr.key)
                progress.advance(tid)
            if kind in ("failed", "retry", "warn"):
                progress.console.print(f"[yellow]{kind}[/] {pr.key}: {info}", highlight=False)
            progress.update(tid, description=", ".join(sorted(running)))

        with user_errors():
            outcome = run_study(study, runs, quick=quick, jobs=jobs, on_event=on_event, fresh=fresh)
    summary = {"study": study.study, "quick": quick, "runs": len(runs), "completed": len(outcome.done),
               "skipped": len(outcome.skipped), "failed": outcome.failed, "seconds": round(outcome.seconds, 1)}
    if json_out:
        print_json(summary)
    else:
        console.print(f"study {study.study}: {len(outcome.done)}/{len(runs)} runs completed "
                      f"({len(outcome.skipped)} already done) in {outcome.seconds / 60:.1f} min", highlight=False)
    if report_out and outcome.done:
        _report(study, quick, report_out, None, quiet=json_out)
    if outcome.failed:
        raise typer.Exit(1)


def _listish(v: Any) -> list[Any]:
    """A DuckDB LIST cell through pandas: a list or array, or NULL (None / pd.NA) when no row matched."""
    return [] if v is None or not hasattr(v, "__len__") else list(v)


def _meta(study: Any, quick: bool) -> dict[str, Any]:
    from pr1bench.store.queries import query
    from pr1bench.study.findings import current_runs

    current, params = current_runs(study.study, quick)

    df = query(f"""
        SELECT count(*) AS runs, sum(epoch(ended_at) - epoch(started_at)) AS secs, any_value(packages) AS packages,
               min(started_at) AS first, max(ended_at) AS last,
               string_agg(DISTINCT model, ', ') FILTER (WHERE variant IN ('base', 'sft', 'grpo', 'cot-grpo')) AS model,
               list(DISTINCT CAST(json_extract(extra, '$.model_identity') AS VARCHAR))
                   FILTER (WHERE variant IN ('base', 'sft', 'grpo', 'cot-grpo')
                           AND json_extract(extra, '$.model_identity') IS NOT NULL) AS idents
        FROM {current}""", params)
    tags = query(f"""
        SELECT task, json_extract(config, '$.run.study.hparams') AS hp FROM {current}
        WHERE json_extract_string(config, '$.run.study.arm') = 'main' ORDER BY ended_at""", params)
    hparams: dict[str, dict[str, Any]] = {}
    for row in tags.itertuples(index=False):
        hp = row.hp if isinstance(row.hp, dict) else json.loads(row.hp or "{}")
        for phase, h in (hp or {}).items():
            hparams.setdefault(row.task, {})[phase] = h
    r = df.iloc[0]
    pk = r["packages"]
    compute = _compute(study, quick)
    span = (r["last"] - r["first"]).total_seconds() if r["first"] is not None and r["last"] is not None else 0.0
    return {"runs": int(r["runs"]), "run_seconds": float(r["secs"] or 0.0), "span_seconds": span,
            "model": r["model"], "model_identity": [json.loads(i) for i in sorted(_listish(r["idents"]))],
            "packages": pk if isinstance(pk, dict) else json.loads(pk or "{}"), "hparams": hparams,
            "compute": compute}


def _compute(study: Any, quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """Training compute per task and variant of the main arm, mean over seeds, from the trainers' own logs.

    Per run and phase: optimizer steps (the last logged step), sequences trained on (the trainer's
    train_samples_per_second x train_runtime; GRPO counts completions), tokens (TRL's cumulative num_tokens;
    GRPO's include the prompts of every completion) and train seconds (train_runtime: the trainer loop,
    rollouts included, without model loading and evaluation). An sft-grpo run adds its parent SFT run's phase.
    """
    from pr1bench.report.repro import _num as finite
    from pr1bench.store.queries import query
    from pr1bench.study.findings import current_runs

    def num(v: Any) -> float:  # a NULL aggregate comes through pandas as None, NaN or pd.NA
        return finite(v) or 0.0

    current, params = current_runs(study.study, quick)
    df = query(f"""
        SELECT r.run_id, r.task, r.variant, r.seed, r.parent_run, t.phase,
               max(t.step) AS steps,
               max(t.value) FILTER (WHERE t.name = 'train_runtime') AS secs,
               max(t.value) FILTER (WHERE t.name = 'train_samples_per_second') AS sps,
               max(t.value) FILTER (WHERE t.name = 'num_tokens') AS tokens,
               sum(t.value) FILTER (WHERE t.name = 'eval/seconds') AS eval_secs,
               any_value(json_extract(r.extra, '$.distributed')) AS layout
        FROM {current} r JOIN train_metrics t ON t.run_id = r.run_id
        WHERE json_extract_string(r.config, '$.run.study.arm') = 'main'
        GROUP BY ALL""", params)
    per_run: dict[str, dict[str, float]] = {}
    info: dict[str, tuple[str, str, Any]] = {}
    layouts: dict[str, str] = {}
    for row in df.itertuples(index=False):
        secs, sps, tok = num(row.secs), num(row.sps), num(row.tokens)
        # intermediate evaluation runs inside the training loop: its own seconds are not training compute
        loop, secs = secs, max(0.0, secs - num(row.eval_secs))
        acc = per_run.setdefault(row.run_id, {"steps": 0.0, "sequences": 0.0, "tokens": 0.0, "seconds": 0.0})
        acc["steps"] += num(row.steps)
        acc["sequences"] += round(sps * loop)
        acc["tokens"] += tok
        acc["seconds"] += secs
        info[row.run_id] = (row.task, row.variant, row.parent_run)
        layouts[row.run_id] = layout_label(row.layout)
    sums: dict[tuple[str, str], list[dict[str, float]]] = {}
    seen: dict[tuple[str, str], set[str]] = {}
    for run_id, acc in per_run.items():
        task, variant, parent = info[run_id]
        total = dict(acc)
        if variant == "sft-grpo" and parent in per_run:
            total = {k: v + per_run[parent][k] for k, v in acc.items()}
        sums.setdefault((task, variant), []).append(total)
        seen.setdefault((task, variant), set()).add(layouts[run_id])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (task, variant), rows in sorted(sums.items()):
        out.setdefault(task, {})[variant] = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        out[task][variant]["layout"] = "; ".join(sorted(seen[(task, variant)]))
    return out


def layout_label(value: Any) -> str:
    """run.json's ``distributed`` as one short cell: "1 process", "2 x gloo (MULTI_CPU, 2 machines)"."""
    d = json.loads(value) if isinstance(value, str) else value
    if not isinstance(d, dict) or int(d.get("world_size") or 1) <= 1:
        return "1 process"
    machines = int(d.get("num_machines") or 1)
    where = f", {machines} machines" if machines > 1 else ""
    return f"{d['world_size']} x {d.get('backend') or '?'} ({d.get('distributed_type') or '?'}{where})"


def _report(study: Any, quick: bool, out: Path | None, reference_out: Path | None, *, quiet: bool = False) -> str:
    from pr1bench.study import findings as F
    from pr1bench.study import render as R

    data = F.load(study.study, quick=quick)
    found = F.all_findings(data, study)
    meta = _meta(study, quick)
    md = R.markdown(study, data, found, quick=quick, meta=meta)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "study.md").write_text(md + "\n")
        R.plot_gains(found, out)
        R.plot_variants(data, [t for t in study.tasks if t in data.primary], out)
        R.plot_curves(data, [t for t in study.tasks if t in data.primary], out)
        if not quiet:
            console.print(f"wrote {out / 'study.md'} and plots", highlight=False)
    if reference_out:
        R.write_reference(reference_out, study, data, found, quick=quick, meta=meta)
        if not quiet:
            console.print(f"wrote reference {reference_out}", highlight=False)
    return md


@app.command("report")
def report(
    name: str = typer.Argument("embedded"),
    quick: bool = typer.Option(False, "--quick", help="Report the quick form's runs."),
    out: Path = typer.Option(None, "--out", help="Directory for study.md and the plots."),
    reference_out: Path = typer.Option(None, "--write-reference", help="Also write the reference JSON here."),
    json_out: bool = typer.Option(False, "--json", help="Findings as JSON instead of Markdown."),
) -> None:
    """State each finding of a study with its numbers, intervals and verdict.

    Example: pr1bench study report embedded --out results/study
    """
    from pr1bench.store.connection import StoreError
    from pr1bench.study.spec import load_study

    with user_errors():
        study, _ = load_study(name, quick=quick)
    try:
        if json_out:
            from pr1bench.study import findings as F

            found = F.all_findings(F.load(study.study, quick=quick), study)
            from pr1bench.study.render import task_verdicts

            print_json([{"key": f.key, "claim": f.claim, "verdict": f.verdict, "tasks": task_verdicts(f),
                         "sentence": f.sentence} for f in found])
            return
        md = _report(study, quick, out, reference_out)
    except StoreError as e:
        fail(str(e))
    if not out:
        console.print(md, highlight=False, markup=False)


@app.command("check")
def check(
    name: str = typer.Argument("embedded"),
    reference: Path = typer.Option(..., "--reference", help="Reference JSON (results/reference/...)."),
    quick: bool = typer.Option(False, "--quick"),
    tolerance: list[str] = typer.Option(None, "--tolerance", help="METRIC=ABS, e.g. acc=0.05 (repeatable)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Compare the study's newest runs with a reference; exit 1 when a number is outside its tolerance.

    Example: pr1bench study check embedded --quick --reference results/reference/study-embedded-quick.json
    """
    from pr1bench.report.repro import parse_tolerances
    from pr1bench.store.connection import StoreError
    from pr1bench.study import findings as F
    from pr1bench.study import render as R
    from pr1bench.study.spec import load_study

    if not reference.is_file():
        fail(f"reference {reference} does not exist (write one with `pr1bench study report --write-reference`)")
    with user_errors():
        study, _ = load_study(name, quick=quick)
        tol = parse_tolerances(tolerance)
    try:
        ref = json.loads(reference.read_text())
        notes = R.check_reference_doc(ref, reference)
    except (ValueError, AttributeError) as e:  # JSONDecodeError is a ValueError
        fail(f"cannot read reference {reference}: {e}")
    try:
        data = F.load(study.study, quick=quick)
    except StoreError as e:
        fail(str(e))
    have_n = R.eval_counts(data)
    for task, n in (ref.get("eval_n") or {}).items():
        if task in have_n and have_n[task] != n:
            notes.append(f"{task}: the reference was evaluated on {n} images per run, these runs on {have_n[task]}: "
                         "the values are compared, but expect drift of the size of the evaluation noise")
    if not json_out:
        for note in notes:
            console.print(f"[yellow]note[/] {note}", highlight=False)
    rows = R.compare_reference(ref, R.reference_numbers(data, study.high_complexity), tol)
    bad = [r for r in rows if not r["ok"]]
    ran_with = R.model_text(_meta(study, quick))
    if ref.get("model") and ran_with != ref["model"] and not json_out:
        console.print(f"[yellow]warning[/] {reference} was made with {ref['model']}; these runs used {ran_with}: "
                      "different weights give different numbers. After a deliberate model change, refresh it with "
                      f"`pr1bench study report {name}{' --quick' if quick else ''} --write-reference {reference}`",
                      highlight=False)
    if json_out:
        print_json({"checked": len(rows), "failed": bad})
    else:
        for r in rows:
            mark = "[green]ok[/]" if r["ok"] else "[red]FAIL[/]"
            got = "missing" if r["new"] is None else f"{r['new']:.3f}"
            console.print(f"{mark} {r['key']:50s} ref {r['reference']:.3f} new {got} (tol {r['tolerance']})")
        console.print(f"{len(rows) - len(bad)}/{len(rows)} within tolerance", highlight=False)
    if bad:
        raise typer.Exit(1)


def step_costs(study: Any, quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """Task -> phase -> {seconds, steps, per_step, runs}: measured training seconds per optimizer step.

    From every current run of the study (all arms), per phase: the trainer's train_runtime minus the
    intermediate evaluations' own seconds, over its last logged step; mean of the runs' per-step costs.
    CoT-GRPO runs are left out (the budget gives CoT-GRPO GRPO's steps, not its seconds).
    """
    from pr1bench.report.repro import _num as finite
    from pr1bench.store.queries import query
    from pr1bench.study.findings import current_runs

    current, params = current_runs(study.study, quick)
    df = query(f"""
        SELECT r.task, r.variant, t.phase, r.run_id, max(t.step) AS steps,
               max(t.value) FILTER (WHERE t.name = 'train_runtime') AS secs,
               sum(t.value) FILTER (WHERE t.name = 'eval/seconds') AS eval_secs
        FROM {current} r JOIN train_metrics t ON t.run_id = r.run_id
        WHERE r.variant <> 'cot-grpo' AND t.phase IN ('sft', 'grpo')
        GROUP BY ALL""", params)
    per: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in df.itertuples(index=False):
        secs = (finite(row.secs) or 0.0) - (finite(row.eval_secs) or 0.0)
        steps = finite(row.steps) or 0.0
        if secs > 0 and steps > 0:
            per.setdefault((str(row.task), str(row.phase)), []).append((secs, steps))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (task, phase), vals in sorted(per.items()):
        out.setdefault(task, {})[phase] = {
            "per_step": round(sum(s / n for s, n in vals) / len(vals), 4), "runs": len(vals),
            "seconds": round(sum(s for s, _ in vals) / len(vals), 1), "steps": sum(n for _, n in vals) / len(vals)}
    return out


@app.command("costs")
def costs(
    name: str = typer.Argument("embedded"),
    quick: bool = typer.Option(False, "--quick", help="Measure the quick form's runs."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Measured training seconds per step of each task's SFT and GRPO phases, as the study file's step_seconds.

    A study's budget: {seconds: S} turns S into max_steps with these numbers. Measure at the batch shape the
    budget will use (after a short run of the study), then paste the printed blocks into the task blocks.

    Example: pr1bench study costs embedded --quick
    """
    from pr1bench.store.connection import StoreError
    from pr1bench.study.spec import load_study

    with user_errors():
        study, _ = load_study(name, quick=quick)
    try:
        found = step_costs(study, quick)
    except StoreError as e:
        fail(str(e))
    if json_out:
        print_json(found)
        return
    if not found:
        fail(f"no completed training runs of study {name!r}{' (quick form)' if quick else ''} with trainer logs")
    for task, phases in found.items():
        vals = ", ".join(f"{ph}: {c['per_step']:g}" for ph, c in phases.items())
        src = "; ".join(f"{ph} {c['runs']} runs, {c['steps']:.0f} steps in {c['seconds']:.1f} s"
                        for ph, c in phases.items())
        console.print(f"  {task}:\n    step_seconds: {{{vals}, note: \"measured: {src}\"}}", highlight=False,
                      markup=False)


def mount(root: typer.Typer) -> None:
    root.add_typer(app, name="study")
