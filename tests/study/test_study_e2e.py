"""A whole (tiny) study through the CLI: real accelerate trainings, DuckDB, report, reference check, resume.

Random-init model and a handful of steps: this tests the harness (grid, dependencies, skip-on-rerun, findings,
reference round trip), not learning. About 3-4 minutes on 2 cores, so it is marked slow (`nox -s e2e`).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()

STUDY = """
study: tiny
description: harness check
model: {model}
seeds: [0, 1]
variants: [base, sft, grpo, sft-grpo]
jobs: 2
high_complexity: {{counting: "4-6"}}
tasks:
  counting:
    data: {{train: 16, n_objects: [1, 6]}}
    eval: {{n: 12, batch_size: 12, every_steps: 1, n_intermediate: 4}}
    generation: {{max_new_tokens: 6}}
    sft: {{max_steps: 1, per_device_train_batch_size: 8, logging_steps: 1}}
    grpo: {{max_steps: 1, per_device_train_batch_size: 8, num_generations: 4, logging_steps: 1, save_steps: 100}}
ablations:
  matching: {{tasks: [counting], variants: [grpo], set: {{matching: sequential}}}}
quick: {{seeds: [0]}}
"""


@pytest.mark.slow
def test_study_runs_reports_checks_and_skips_on_rerun(results_dir, raw_tiny, tmp_path, monkeypatch):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "tiny.yaml").write_text(STUDY.format(model=raw_tiny))
    monkeypatch.setenv("PR1BENCH_STUDIES", str(studies))
    r = runner.invoke(app, ["study", "run", "tiny", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):])
    # base x1 + (sft, grpo, sft-grpo) x 2 seeds + matching grpo x 2 seeds
    assert summary["runs"] == 9 and summary["completed"] == 9 and summary["failed"] == {}
    recs = [json.loads(p.read_text()) for p in (results_dir / "runs").glob("*/run.json")]
    sg = [x for x in recs if x["variant"] == "sft-grpo"]
    assert len(sg) == 2 and all(x["parent_run"] and x.get("phases_done") == ["grpo"] for x in sg)

    out = tmp_path / "report"
    ref = tmp_path / "ref.json"
    r = runner.invoke(app, ["study", "report", "tiny", "--out", str(out), "--write-reference", str(ref)])
    assert r.exit_code == 0, r.output
    md = (out / "study.md").read_text()
    for claim in ("RL (GRPO) beats SFT", "CoT does not help", "grows with perceptual complexity", "Hungarian"):
        assert claim in md
    assert (out / "study_gain_vs_complexity.png").stat().st_size > 0
    # the compute each variant trained with, from the trainers' logs: sft-grpo = its parent SFT + its own GRPO
    rows = {ln.split("|")[2].strip(): [c.strip() for c in ln.split("|")[3:7]]
            for ln in md[md.index("## Training compute"):md.index("## Hyperparameters")].splitlines()[5:]
            if ln.startswith("| ")}
    assert set(rows) == {"sft", "grpo", "sft-grpo"}, rows
    steps = {v: int(r[0]) for v, r in rows.items()}
    assert steps["sft-grpo"] == steps["sft"] + steps["grpo"] and steps["sft"] > 0 and steps["grpo"] > 0
    assert all(float(r[3]) > 0 and int(r[1]) > 0 for r in rows.values()), rows
    # learning curves of both trained variants (SFT gets the same intermediate evaluation as GRPO), diagnostics
    curves = md[md.index("## Learning curves"):md.index("## Diagnostics")]
    assert "| sft | sft | 1 |" in curves and "| grpo | grpo | 1 |" in curves, curves
    assert "counting bias" in md and (out / "study_curves.png").stat().st_size > 0
    assert "Evaluation images per run (the same images for every run of a task): counting 12" in md
    r = runner.invoke(app, ["study", "costs", "tiny", "--json"])
    assert r.exit_code == 0, r.output
    cost = json.loads(r.output[r.output.index("{"):])["counting"]
    assert cost["sft"]["per_step"] > 0 and cost["grpo"]["per_step"] > 0, cost
    assert cost["sft"]["runs"] == 2 and cost["grpo"]["runs"] == 6, cost  # grpo + sft-grpo + matching arm

    r = runner.invoke(app, ["study", "check", "tiny", "--reference", str(ref)])
    assert r.exit_code == 0, r.output
    doc = json.loads(ref.read_text())
    key = next(iter(doc["values"]))
    doc["values"][key] += 0.5
    ref.write_text(json.dumps(doc))
    r = runner.invoke(app, ["study", "check", "tiny", "--reference", str(ref)])
    assert r.exit_code == 1 and "FAIL" in r.output

    r = runner.invoke(app, ["study", "run", "tiny", "--json"])  # everything done: nothing runs again
    assert r.exit_code == 0, r.output
    again = json.loads(r.output[r.output.index("{"):])
    assert again["skipped"] == 9 and len(list((results_dir / "runs").iterdir())) == 9
