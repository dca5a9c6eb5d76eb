"""`pr1bench score`: score saved completions with a task's rewards and metrics (no model, no torch).

Input JSONL, one sample per line::

    {"id": "s1", "completion": "[[30, 40], [70, 20]]", "target": {"points": [[31, 41], [69, 22]], ...},
     "width": 112, "height": 112}

``target`` is the canonical target (absolute pixels of the image the model saw; see README "Scoring saved
outputs"); ``width``/``height`` default to 112. ``id`` is optional.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pr1bench.cli.common import console, fail, print_json, user_errors


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        fail(f"{path}: file not found")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            fail(f"{path}:{i}: not valid JSON ({e})")
        if not isinstance(rec, dict) or "completion" not in rec or "target" not in rec:
            fail(f"{path}:{i}: each line needs 'completion' and 'target' keys")
        rows.append(rec)
    if not rows:
        fail(f"{path}: no samples")
    return rows


def score(
    task: str = typer.Argument(..., help="Task name or YAML path (its answer format, rewards and metrics)."),
    file: Path = typer.Argument(None, help="JSONL of {completion, target, width, height} per line."),
    completion: str = typer.Option(None, "--completion", help="Score one completion text instead of a file."),
    target: str = typer.Option(None, "--target", help="The canonical target as JSON (with --completion)."),
    width: int = typer.Option(112, "--width"),
    height: int = typer.Option(112, "--height"),
    cot: bool = typer.Option(False, "--cot", help="Require the <think>..</think><answer>..</answer> shape."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Score completions with the task's reward terms and metrics (debug reward design, score any model).

    Example: pr1bench score detection outputs.jsonl --json

    Example: pr1bench score counting --completion "[[30, 40]]" --target '{"points": [[31, 41]], "count": 1}'
    """
    from pr1bench.dataset import Row
    from pr1bench.evaluate.core import parse_completions, task_metrics, weighted_rewards
    from pr1bench.models.family import resolve_answer_defaults
    from pr1bench.perception import score_samples
    from pr1bench.spec import load_task

    with user_errors():
        spec = resolve_answer_defaults(load_task(task))  # answer 'auto': the task type's default convention
    if completion is not None:
        if target is None:
            fail("--completion needs --target JSON")
        try:
            tgt = json.loads(target)
        except ValueError as e:
            fail(f"--target is not valid JSON: {e}")
        recs = [{"id": "cli", "completion": completion, "target": tgt, "width": width, "height": height}]
    elif file is not None:
        recs = _read_jsonl(file)
    else:
        fail("give a JSONL FILE or --completion TEXT --target JSON")
    rows = [Row(id=str(r.get("id", i)), image=None, width=int(r.get("width", width)),
                height=int(r.get("height", height)), prompt_text="", answer="", target=r["target"], n=0)
            for i, r in enumerate(recs)]
    comps = [str(r["completion"]) for r in recs]
    parsed = parse_completions(spec, comps, rows, cot=cot)  # under the task's eval.protocol
    terms, total = weighted_rewards(spec, comps, rows, cot=cot)
    per = score_samples(spec.type, parsed, [r.target for r in rows], protocol=spec.eval.protocol)
    metrics, notes = task_metrics(spec, parsed, [r.target for r in rows])
    samples = [{"id": r.id, "parsed": p is not None, "correct": s["correct"], "score": s["score"],
                **{k: v[i] for k, v in terms.items()}, "reward": total[i]}
               for i, (r, p, s) in enumerate(zip(rows, parsed, per, strict=True))]
    if json_out:
        print_json({"task": spec.task, "protocol": spec.eval.protocol, "weights": spec.reward_weights(),
                    "samples": samples, "metrics": metrics, "notes": notes})
        return
    table = Table(title=f"{spec.task}: reward terms per sample (weights {spec.reward_weights()})")
    for col in samples[0]:
        table.add_column(col, justify="right" if col not in ("id",) else "left")
    for s in samples[:200]:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in s.values()))
    console.print(table)
    if len(samples) > 200:
        console.print(f"... {len(samples) - 200} more rows (use --json for all)")
    console.print(f"protocol: {spec.eval.protocol}", highlight=False)
    console.print("metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), highlight=False)
    for n in notes:
        console.print(f"[dim]note: {n}[/]")


def mount(app: typer.Typer) -> None:
    app.command("score")(score)
