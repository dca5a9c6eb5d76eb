"""`pr1bench train` and `pr1bench eval`: one variant on one task, as an accelerate subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pr1bench.cli.common import console, err_console, fail, print_json, user_errors

TRAIN_HELP = """Train one variant on one task (always an `accelerate launch` subprocess, also on CPU).

Variants: sft, grpo, cot-grpo, sft-grpo. Trailing key=value arguments override TRL's own GRPOConfig/SFTConfig
keys (bare keys go to the trainer) or other run settings with a section prefix:

  pr1bench train counting --variant grpo max_steps=50 beta=0.04 num_generations=8

  pr1bench train detection --variant grpo rewards.missing_penalty.weight=0.2 matching=sequential

  pr1bench train counting --variant sft-grpo sft_trainer.max_steps=100 data.order=sorted

  pr1bench train grounding --variant grpo --model Qwen/Qwen2-VL-2B-Instruct --accelerate zero2 --vllm colocate

  pr1bench train counting --resume counting-grpo-s0-20261125-101500-ab12cd

Multi-node: launch.num_machines=2 launch.machine_rank=0 launch.main_process_ip=10.0.0.1 launch.main_process_port=29500
(the same command on every machine, each with its own rank).
"""


def _progress_callback(progress: Progress, task_id: Any) -> Any:
    def on_metrics(rec: dict[str, Any]) -> None:
        bits = [f"{rec.get('phase', '')}"]
        for key in ("loss", "reward", "kl"):
            if isinstance(rec.get(key), int | float):
                bits.append(f"{key} {rec[key]:.3f}")
        evals = {k: v for k, v in rec.items() if k.startswith("eval/") and isinstance(v, int | float)}
        bits += [f"{k} {v:.3f}" for k, v in list(evals.items())[:2]]
        progress.update(task_id, completed=int(rec.get("step", 0)), description=" ".join(bits))

    return on_metrics


def _total_steps(spec: Any) -> int | None:
    from pr1bench.runspec import resolved_trainer

    if spec.variant == "base":
        return None
    phase = "sft" if spec.variant == "sft" else "grpo"
    steps = resolved_trainer(spec, phase).get("max_steps")
    return int(steps) if steps and int(steps) > 0 else None


def _run_with_progress(fn: Any, spec: Any, *args: Any, **kw: Any) -> Any:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as progress:
        tid = progress.add_task("starting", total=_total_steps(spec))
        return fn(*args, on_metrics=_progress_callback(progress, tid),
                  status=lambda m: progress.update(tid, description=m), **kw)


def _summary(result: Any, json_out: bool) -> None:
    run_dir: Path = result.run_dir
    ev_path = run_dir / "eval.json"
    ev = json.loads(ev_path.read_text()) if ev_path.exists() else None
    rec = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    worker = rec.get("main_run") if rec.get("role") == "worker" else None
    if json_out:
        print_json({"run_id": run_dir.name, "run_dir": str(run_dir), "status": result.status,
                    "error": result.error, "eval": ev, **({"role": "worker", "main_run": worker} if worker else {})})
    else:
        color = "green" if result.status == "completed" else "red"
        console.print(f"[{color}]{result.status}[/] run {run_dir.name}  ({run_dir})")
        if worker:
            console.print(f"worker record of run {worker} (machine {rec['distributed'].get('machine_rank')}); the run, "
                          f"its eval and its database row are in machine 0's results", highlight=False)
        if result.error:
            err_console.print(result.error, style="red", markup=False, highlight=False)  # may hold [brackets]
        if ev:
            m = ev["metrics"]
            shown = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, int | float))
            console.print(f"eval ({ev['n']} samples): {shown}", highlight=False)
    if result.status != "completed":
        raise typer.Exit(1)


def train(
    task: str = typer.Argument(None, help="Task name (tasks/NAME.yaml) or path to a task YAML."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides (TRL config keys, rewards.X.weight, ...)."),
    variant: str = typer.Option("grpo", "--variant", "-v", help="sft | grpo | cot-grpo | sft-grpo"),
    model: str = typer.Option(None, "--model", help="Model dir or hub id (default: the embedded tiny Qwen2-VL)."),
    accelerate: str = typer.Option("cpu", "--accelerate", help="cpu, single_gpu, ddp, zero2, zero3, fsdp, or a YAML path."),
    seed: int = typer.Option(0, "--seed"),
    vllm: str = typer.Option("off", "--vllm", help="GRPO rollouts with vLLM on GPU: off | colocate | server."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact launch command and trainer config; run nothing."),
    resume: str = typer.Option(None, "--resume", help="Continue a killed run (RUN_ID) from its last checkpoint."),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="Do not write the run into the DuckDB database."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    from pr1bench import runner

    if resume:
        from pr1bench.paths import runs_dir
        from pr1bench.runspec import RunSpec

        run_dir = runs_dir() / resume
        if not (run_dir / "run.json").is_file():
            fail(f"no run {resume!r} under {runs_dir()} (see `pr1bench runs ls`)")
        spec = RunSpec.model_validate(json.loads((run_dir / "run.json").read_text())["config"]["run"])
        with user_errors():
            result = _run_with_progress(runner.resume, spec, run_dir, ingest=not no_ingest)
        _summary(result, json_out)
        return
    if task is None:
        fail("missing TASK (e.g. `pr1bench train counting --variant grpo`); see `pr1bench tasks ls`")
    if variant == "base":
        fail("`base` is the starting model, evaluated without training: use `pr1bench eval TASK`")
    with user_errors():
        spec, task_spec = runner.build_spec(task, variant, overrides or [], model=model, seed=seed,
                                            accelerate=accelerate, vllm=vllm)
    if dry_run:
        _dry_run(spec, task_spec, json_out)
        return
    with user_errors():
        result = _run_with_progress(runner.execute, spec, spec, task_spec, ingest=not no_ingest)
    _summary(result, json_out)


def _dry_run(spec: Any, task: Any, json_out: bool) -> None:
    import shlex

    from pr1bench.embedded import resolve_model
    from pr1bench.launch import build_command
    from pr1bench.paths import runs_dir
    from pr1bench.runspec import new_run_id, resolved_config
    from pr1bench.train.entry import vllm_trainer_keys

    with user_errors():
        cmd = build_command(spec, runs_dir() / new_run_id(spec))
        model = resolve_model(spec.model)
    cfg = resolved_config(spec, task)
    if "grpo" in cfg["trainer"]:
        cfg["trainer"]["grpo"] = {**vllm_trainer_keys(spec.vllm), **cfg["trainer"]["grpo"]}
    if json_out:
        print_json({"command": cmd, "model": model, "trainer": cfg["trainer"]})
        return
    console.print(shlex.join(cmd), highlight=False, soft_wrap=True)
    console.print(f"# model: {model}", highlight=False)
    for phase, keys in cfg["trainer"].items():
        console.print(f"# {phase}: " + " ".join(f"{k}={v}" for k, v in keys.items()), highlight=False, soft_wrap=True)


def eval_cmd(
    task: str = typer.Argument(..., help="Task name or YAML path."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides (e.g. eval.n=100 data.order=sorted)."),
    model: str = typer.Option(None, "--model", help="Model dir or hub id (default: the embedded tiny model)."),
    run: str = typer.Option(None, "--run", help="Evaluate the final model of an earlier run (RUN_ID)."),
    backend: str = typer.Option("hf", "--backend", help="hf (CPU or GPU) | vllm (GPU offline engine)."),
    accelerate: str = typer.Option("cpu", "--accelerate"),
    seed: int = typer.Option(0, "--seed"),
    no_ingest: bool = typer.Option(False, "--no-ingest"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Evaluate a model on a task (the `base` variant when it is the starting model).

    Example: pr1bench eval counting          (the embedded base model)

    Example: pr1bench eval counting --run counting-grpo-s0-20261125-101500-ab12cd eval.n=300
    """
    from pr1bench import runner

    with user_errors():
        extra = [*(overrides or []), f"eval.backend={backend}"]
        spec, task_spec = runner.build_spec(task, "base", extra, model=model, seed=seed, accelerate=accelerate,
                                            init_run=run, check_trl=False)
        result = _run_with_progress(runner.execute, spec, spec, task_spec, ingest=not no_ingest)
    _summary(result, json_out)


def bootstrap(
    steps: int = typer.Option(None, "--steps", help="Pretraining steps (default: the shipped recipe's)."),
    force: bool = typer.Option(False, "--force", help="Start again even if a rebuilt copy (or a partial one) exists."),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", help="torch threads (the shipped model was pretrained on 1)."),
    eval_every: int = typer.Option(0, "--eval-every", help="Greedy eval of 60 images per task every N steps."),
    eval_n: int = typer.Option(300, "--eval-n", help="Eval images per task for the final evaluation."),
    vision_steps: int = typer.Option(None, "--vision-steps", help="Vision-stage steps (default: the recipe's)."),
    stage_steps: int = typer.Option(None, "--stage-steps",
                                    help="Steps of each stage after the first (default: each recipe's)."),
    from_stage1: str = typer.Option(None, "--from-stage1",
                                    help="Skip stage 1: continue from this stage-1 checkpoint, or `shipped` for the "
                                         "one in the package (pr1bench/models/weights/tiny-qwen2vl-v3)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Reproduce the shipped embedded model from scratch (random init + its pretraining stages), under <results>/models/.

    Nothing needs this: every command uses the checkpoint shipped in the package. It re-runs the documented
    recipe (the shipped model's RECIPE.md under pr1bench/models/weights/): stage 1 (about 95 minutes on one core) from
    the random init, then each later stage from the previous one's output. It resumes after a kill, and prints the
    per-task greedy evaluation. Pass the printed directory as --model to use the rebuilt copy.

    Example: pr1bench model bootstrap

    Example: pr1bench model bootstrap --from-stage1 shipped       (the later stages only, from the shipped stage-1 weights)

    Example: pr1bench model bootstrap --steps 300 --vision-steps 50 --stage-steps 100 --eval-n 20   (shortened: minutes)
    """
    from pr1bench.embedded import STAGE1_DIR
    from pr1bench.runner import ensure_embedded

    start = None
    if from_stage1:
        start = STAGE1_DIR if from_stage1 == "shipped" else Path(from_stage1).expanduser().resolve()
        if not (start / "pr1bench_model.json").is_file():
            fail(f"--from-stage1 {from_stage1}: {start} is not a pr1bench checkpoint (no pr1bench_model.json); pass "
                 "`shipped` or the directory a stage-1 bootstrap wrote")
    with console.status("reproducing the embedded tiny model ...") as st:
        path = ensure_embedded(status=lambda m: st.update(m), steps=steps, force=force, seed=seed, threads=threads,
                               eval_every=eval_every, eval_n=eval_n, vision_steps=vision_steps,
                               stage_steps=stage_steps, from_stage1=start)
    report = json.loads((path / "bootstrap_eval.json").read_text())
    if json_out:
        print_json({"path": str(path), "eval": report})
        return
    console.print(f"[green]ready[/] {path}")
    for task, r in report.items():
        console.print(f"  {task:10s} {r['metric']} {r['value']:.3f}  (parse rate {r['parse_rate']:.2f}, n={r['n']})")


def mount(app: typer.Typer) -> None:
    app.command("train", help=TRAIN_HELP)(train)
    app.command("eval")(eval_cmd)
    from pr1bench.cli import model_cmds

    model_cmds.app.command("bootstrap")(bootstrap)
