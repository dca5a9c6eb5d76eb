"""`pr1bench sweep`: Optuna sweeps whose trials are ordinary runs (run, ls, status, best, validate)."""

from __future__ import annotations

import signal
from typing import Any

import click
import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from pr1bench.cli.common import console, err_console, fail, print_json, user_errors

SUBCOMMANDS = ("run", "ls", "status", "best", "validate")

SWEEP_HELP = """Hyperparameter sweeps with Optuna: each trial is a `pr1bench train` run with sampled settings.

  pr1bench sweep detection --trials 6 --jobs 2          (sweeps/detection.yaml; same as `sweep run detection`)

  pr1bench sweep ablation-kl max_steps=20                (trailing key=value: every trial's base run spec)

  pr1bench sweep detection --resume                      (after a crash: continue to N finished trials)

  pr1bench sweep detection --storage postgresql://u@db/optuna   (run the same command on every machine)

  pr1bench sweep ls | status detection | best detection | validate
"""


class _DefaultRun(TyperGroup):
    """`pr1bench sweep NAME ...` means `pr1bench sweep run NAME ...` unless NAME is a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultRun, help=SWEEP_HELP, no_args_is_help=True)


def _sigterm_as_interrupt() -> None:
    """SIGTERM stops a sweep like Ctrl-C: children terminated, trials failed and queued for --resume."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@app.command("run")
def run(
    target: str = typer.Argument(..., help="Sweep name (sweeps/NAME.yaml) or a path to a sweep YAML."),
    overrides: list[str] = typer.Argument(
        None, help="key=value overrides of the base run spec (e.g. max_steps=50)."
    ),
    trials: int = typer.Option(None, "--trials", "-n", help="Finished (complete+pruned) trials to reach."),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, help="Trials run side by side (threads; one process each)."
    ),
    storage: str = typer.Option(
        None, "--storage", help="Optuna storage: a journal *.log path or postgresql://..."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an existing study (fails stale RUNNING trials)."
    ),
    max_retries: int = typer.Option(
        None, "--max-retries", min=0, help="Re-runs of a trial whose process died."
    ),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="Do not write sweeps/trials/runs into DuckDB."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Run (or resume, or join) a sweep until N trials are finished.

    Example: pr1bench sweep detection --trials 6 --jobs 2
    """
    from rich.live import Live

    from pr1bench.sweep.driver import Driver, SweepOptions
    from pr1bench.sweep.progress import live_table
    from pr1bench.sweep.spec import load_sweep

    with user_errors():
        spec, task = load_sweep(target, overrides or [])
        opts = SweepOptions(
            trials=trials,
            jobs=jobs,
            storage=storage,
            resume=resume,
            max_retries=max_retries,
            record=not no_ingest,
        )
    maximize = spec.objective.direction == "maximize"
    title = f"sweep {spec.sweep}: {spec.objective.direction} {spec.metric} ({spec.task})"
    _sigterm_as_interrupt()
    with Live(console=err_console, refresh_per_second=2, transient=False) as live:

        def update(rows: Any, best: Any) -> None:
            live.update(live_table(title, rows, best, driver.target, maximize=maximize))

        driver = Driver(
            spec, task, opts, on_update=update, status=lambda m: live.console.print(m, highlight=False)
        )
        try:
            with user_errors():
                result = driver.run()
        except KeyboardInterrupt:
            fail(f"interrupted; resume with `pr1bench sweep {target} --resume`", code=130)
    _summary(result, spec, json_out, storage)


def _summary(result: Any, spec: Any, json_out: bool, storage: str | None) -> None:
    from pr1bench.sweep.study import load_study

    best_cmd = None
    try:
        study = load_study(spec.sweep, storage)
        best_cmd = _best_command(study) if study else None
    except Exception:
        best_cmd = None
    if json_out:
        best = result.best
        print_json(
            {
                "sweep": result.name,
                "target": result.target,
                "finished": result.finished,
                "aborted": result.aborted,
                "warnings": result.warnings,
                "best": None
                if best is None
                else {
                    "number": best.number,
                    "value": best.value,
                    "params": best.params,
                    "run_id": best.run_id,
                },
                "best_command": best_cmd,
                "trials": [
                    {
                        "number": r.number,
                        "state": r.state,
                        "value": r.value,
                        "params": r.params,
                        "run_id": r.run_id,
                        "error": r.error,
                    }
                    for r in result.rows
                ],
            }
        )
    else:
        console.print(f"{result.finished}/{result.target} trials finished", highlight=False)
        for w in result.warnings[:5]:
            err_console.print(f"[yellow]database: {w}[/]", highlight=False)
        if result.best:
            console.print(
                f"[green]best[/] trial {result.best.number}: {spec.metric} = {result.best.value:.4g}",
                highlight=False,
            )
        if best_cmd:
            console.print(best_cmd, highlight=False, soft_wrap=True)
    if result.aborted:
        fail(result.aborted, code=1)
    if result.finished < result.target:
        raise typer.Exit(1)


def _best_command(study: Any) -> str | None:
    from pr1bench.sweep.space import train_command_text

    try:
        best = study.best_trial
    except ValueError:
        return None
    run = best.user_attrs.get("run_spec")
    return train_command_text(run) if run else None


@app.command("ls")
def ls(
    storage: str = typer.Option(
        None, "--storage", help="List the studies of this storage instead of journals."
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List the shipped sweep files and how far each study has got.

    Example: pr1bench sweep ls
    """
    from pr1bench.sweep.spec import load_sweep, sweep_names
    from pr1bench.sweep.study import journal_path

    rows = []
    for name in sweep_names():
        row: dict[str, Any] = {"sweep": name}
        try:
            spec, _ = load_sweep(name)
            row.update(
                task=spec.task,
                sampler=spec.study.sampler.name,
                keys=len(spec.search_space),
                trials=spec.n_trials(),
                ok=True,
            )
        except Exception as e:  # one broken file must not hide the others
            row.update(ok=False, error=str(e))
        if storage or journal_path(name).exists():
            row.update(_progress(name, storage))
        rows.append(row)
    if json_out:
        print_json(rows)
        return
    table = Table(title="pr1bench sweeps")
    for col in ("sweep", "task", "sampler", "keys", "trials", "finished", "best"):
        table.add_column(col)
    for r in rows:
        if not r["ok"]:
            table.add_row(r["sweep"], f"[red]{escape(r['error'][:80])}[/]", "", "", "", "", "")
            continue
        table.add_row(
            r["sweep"],
            r["task"],
            r["sampler"],
            str(r["keys"]),
            str(r["trials"]),
            str(r.get("finished", "-")),
            _fmt(r.get("best")),
        )
    console.print(table)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _progress(name: str, storage: str | None) -> dict[str, Any]:
    from optuna.trial import TrialState

    from pr1bench.sweep.study import load_study

    try:
        study = load_study(name, storage)
    except Exception:
        return {}
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    try:
        best = study.best_value
    except ValueError:
        best = None
    return {"finished": len(done), "total": len(trials), "best": best}


@app.command("status")
def status(
    name: str = typer.Argument(..., help="Sweep (study) name."),
    storage: str = typer.Option(None, "--storage"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Every trial of a sweep: state, parameters, value, run and error.

    Example: pr1bench sweep status detection
    """
    from pr1bench.sweep.progress import status_table
    from pr1bench.sweep.study import load_study

    with user_errors():
        study = load_study(name, storage)
    trials = study.get_trials(deepcopy=False)
    if json_out:
        print_json(
            [
                {
                    "number": t.number,
                    "state": t.state.name,
                    "params": t.params,
                    "value": t.value,
                    "run_id": t.user_attrs.get("run_id"),
                    "attempt": t.user_attrs.get("attempt", 0),
                    "error": t.user_attrs.get("error"),
                    "intermediate": {str(k): v for k, v in t.intermediate_values.items()},
                }
                for t in trials
            ]
        )
        return
    console.print(status_table(f"sweep {name} ({study.direction.name.lower()})", trials))


@app.command("best")
def best(
    name: str = typer.Argument(..., help="Sweep (study) name."),
    storage: str = typer.Option(None, "--storage"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The best trial and the `pr1bench train ...` command that re-runs it.

    Example: pr1bench sweep best detection
    """
    from pr1bench.sweep.study import load_study

    with user_errors():
        study = load_study(name, storage)
    try:
        trial = study.best_trial
    except ValueError:
        fail(f"sweep {name!r} has no completed trial yet (see `pr1bench sweep status {name}`)", code=1)
    cmd = _best_command(study)
    if json_out:
        print_json(
            {
                "number": trial.number,
                "value": trial.value,
                "params": trial.params,
                "run_id": trial.user_attrs.get("run_id"),
                "command": cmd,
            }
        )
        return
    console.print(
        f"best trial {trial.number}: value {trial.value:.4g}  run {trial.user_attrs.get('run_id')}",
        highlight=False,
    )
    for k, v in trial.params.items():
        console.print(f"  {k} = {v}", highlight=False)
    if cmd:
        console.print(cmd, highlight=False, soft_wrap=True)


@app.command("validate")
def validate(
    files: list[str] = typer.Argument(None, help="Sweep names or YAML paths (default: every shipped sweep)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Check sweep files (schema, keys against the task and TRL, distributions, sampler/pruner arguments).

    Example: pr1bench sweep validate sweeps/ablation-kl.yaml
    """
    from pr1bench.spec import ConfigError
    from pr1bench.sweep.spec import load_sweep, sweep_names
    from pr1bench.sweep.study import make_pruner, make_sampler

    results = []
    for name in files or sweep_names():
        try:
            spec, _ = load_sweep(name)
            make_sampler(spec), make_pruner(spec)
            results.append({"sweep": name, "ok": True, "error": None})
        except ConfigError as e:
            results.append({"sweep": name, "ok": False, "error": str(e)})
    if json_out:
        print_json(results)
    else:
        for r in results:
            mark = "[green]ok[/]" if r["ok"] else "[red]error[/]"
            console.print(
                f"{mark}\t{escape(r['sweep'])}" + (f"\n  {escape(r['error'])}" if r["error"] else ""),
                highlight=False,
            )
    if not all(r["ok"] for r in results):
        raise typer.Exit(2)


def mount(root: typer.Typer) -> None:
    root.add_typer(app, name="sweep")
