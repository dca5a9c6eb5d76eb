"""The study report: the verdict rule and floors, two-level intervals, learning curves of both phases, counting
bias and detection precision/recall, and the reference check against an older reference format (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pr1bench.study import findings as F
from pr1bench.study import render as R
from pr1bench.study.spec import StudySpec

ROOT = Path(__file__).resolve().parents[2]
BUCKETS = ("1", "2-3", "4-6", "7-10")
N = 40  # images per run: 10 per bucket


def _study() -> StudySpec:
    return StudySpec.model_validate({
        "study": "rep", "description": "report test", "seeds": [0, 1], "variants": ["base", "sft", "grpo"],
        "tasks": {"counting": {}, "detection": {}}, "high_complexity": {"counting": "7-10", "detection": "7-10"},
        "floors": {"AP": {"base": 0.05}}})


def _data() -> F.StudyData:
    """Counting: GRPO over-counts by one on 7-10 (bias +1 there), SFT exact on half; detection at its floor."""
    rows, samples, curves = [], [], []
    rng = np.random.default_rng(0)
    for task, metric in (("counting", "acc"), ("detection", "AP")):
        for v in ("base", "sft", "grpo"):
            for seed in ((0,) if v == "base" else (0, 1)):
                rid = f"{task}-{v}-{seed}"
                per = []
                for i in range(N):
                    b = BUCKETS[i // 10]
                    n = (1, 2, 5, 8)[i // 10]
                    if task == "counting":
                        pred = n + (1 if v == "grpo" and b == "7-10" else 0) if (i + seed) % 2 == 0 else n
                        if v == "base":
                            pred = n if i % 3 == 0 else n + 2
                        correct = float(pred == n)
                        samples.append({"run_id": rid, "sample_id": f"eval-{i:06d}", "bucket": b, "n": n,
                                        "score": correct, "correct": correct, "pred_count": float(pred),
                                        "pred_boxes": float(pred)})
                        per.append((b, correct))
                    else:  # n boxes predicted, half of them right: precision = recall = F1 = 0.5
                        samples.append({"run_id": rid, "sample_id": f"eval-{i:06d}", "bucket": b, "n": n,
                                        "score": 0.5, "correct": 0.0, "pred_count": None, "pred_boxes": float(n)})
                        per.append((b, 0.01))
                for b in (*BUCKETS, "all"):
                    vals = [c for bb, c in per if b in ("all", bb)]
                    rows.append({"run_id": rid, "key": rid, "arm": "main", "task": task, "variant": v, "seed": seed,
                                 "metric": metric, "bucket": b, "value": float(np.mean(vals)), "n": len(vals)})
                if v == "base":
                    continue
                phase = v
                for step in (10, 20, 30):
                    t = 1000.0 + step * 2.0
                    curves.append({"run_id": rid, "phase": phase, "step": step, "name": f"eval/{metric}",
                                   "value": 0.3 + step / 100 + rng.normal(0, 0.001), "time": t})
                    curves.append({"run_id": rid, "phase": phase, "step": step, "name": "eval/seconds", "value": 1.0,
                                   "time": t})
                    name = "reward" if v == "grpo" else "loss"
                    curves.append({"run_id": rid, "phase": phase, "step": step, "name": name, "value": 1.0 + step,
                                   "time": t})
                curves.append({"run_id": rid, "phase": phase, "step": 1, "name": "loss" if v == "sft" else "reward",
                               "value": 9.0, "time": 1000.0})
    return F.StudyData(pd.DataFrame(rows), pd.DataFrame(samples), {"counting": "acc", "detection": "AP"}, [0, 1],
                       curves=pd.DataFrame(curves))


@pytest.fixture(scope="module")
def md() -> str:
    study, d = _study(), _data()
    found = F.all_findings(d, study)
    return R.markdown(study, d, found, quick=False, meta={"runs": 10, "model_identity": ["test-model"]})


def test_report_states_method_rule_floors_and_eval_images(md: str) -> None:
    assert "two-level bootstrap" in md and "paired" in md  # the Statistics section states the method
    assert R.VERDICT_RULE in md and "equivalence margin 0.02" in md
    assert R.ONE_SEED not in md  # two seeds: the one-seed caveat is not printed
    assert "Evaluation images per run (the same images for every run of a task): counting 40, detection 40" in md
    floors = md[md.index("Floors in effect"):md.index("## Findings")]
    assert "| detection | AP | 0.010 | 0.05 | 0 | 0.01 |" in floors
    assert "| counting | acc | 0.350 | 0.02 | 0 | 0.01 |" in floors


def test_detection_at_its_floor_reads_no_signal_in_the_verdict_table(md: str) -> None:
    verdicts = md[md.index("## Verdicts"):md.index("## Findings")]
    row = next(ln for ln in verdicts.splitlines() if ln.startswith("| 1 |"))
    # counting decides findings 1 and 3; CoT has no runs; detection has no signal anywhere
    assert "Decided: 2 of 3 findings overall, 2 of 6 per-task verdicts (33%)" in verdicts
    # counting decides (GRPO's over-counting loses to SFT); detection is listed but does not count
    assert row == ("| 1 | RL (GRPO) beats SFT on high-complexity tasks | not reproduced | counting: not reproduced; "
                   "detection: no signal |")


def test_learning_curves_show_both_variants_with_reward_or_loss_and_seconds(md: str) -> None:
    curves = md[md.index("## Learning curves"):md.index("## Diagnostics")]
    lines = [ln for ln in curves.splitlines() if ln.startswith("| sft |") or ln.startswith("| grpo |")]
    # 2 tasks x 2 variants x 3 steps; step 20: log time 40 s after the phase's first log, minus 2 evals of 1 s
    assert len(lines) == 12
    assert "| grpo | grpo | 20 | 38.0 | 2 |" in curves and "| - |" in curves  # grpo: reward, no loss
    sft = next(ln for ln in lines if ln.startswith("| sft | sft | 30 |"))
    assert sft.split("|")[7].strip() == "-" and sft.split("|")[8].strip() == "31.000"  # loss at step 30


def test_diagnostics_give_counting_bias_and_detection_precision_recall(md: str) -> None:
    diag = md[md.index("## Diagnostics"):md.index("## Training compute") if "## Training compute" in md
              else md.index("## Hyperparameters")]
    # GRPO over-counts by one on half of the 7-10 images of each seed: bias +0.50 there, 0 elsewhere
    assert "| grpo | 7-10 | 20 | 1.00 | 8.00 | 8.50 | +0.50 |" in diag
    assert "| grpo | 1 | 20 | 1.00 | 1.00 | 1.00 | +0.00 |" in diag
    assert "| sft | 7-10 | 20 | 1.00 | 8.00 | 8.00 | +0.00 |" in diag
    assert "| base | 7-10 | 10 | 1.00 | 8.00 | 9.20 | +1.20 |" in diag  # pred n+2 on 6 of its 10 images
    assert "| sft | all | 80 | 4.00 | 4.00 | +0.00 | 0.500 | 0.500 |" in diag


def test_curves_plot_is_written(tmp_path: Path) -> None:
    paths = R.plot_curves(_data(), ["counting", "detection"], tmp_path)
    assert paths and all(p.stat().st_size > 0 for p in paths)


def test_reference_v2_carries_per_task_verdicts_and_eval_images(tmp_path: Path) -> None:
    study, d = _study(), _data()
    found = F.all_findings(d, study)
    doc = json.loads(R.write_reference(tmp_path / "ref.json", study, d, found, quick=False, meta={}).read_text())
    assert doc["version"] == 2 and doc["eval_n"] == {"counting": 40, "detection": 40}
    assert doc["task_verdicts"]["rl_beats_sft"]["detection"] == F.NO_SIGNAL
    assert R.check_reference_doc(doc, "ref.json") == []


def test_version_1_references_still_read_with_a_note() -> None:
    # the embedded study's references as shipped until issue 24 (embedded-v2), kept as version-1 fixtures
    for name in ("study-embedded-v1.json", "study-embedded-quick-v1.json"):
        ref = json.loads((Path(__file__).parent / "data" / name).read_text())
        notes = R.check_reference_doc(ref, name)
        assert ref["version"] == 1 and len(notes) == 1 and "version-1 reference" in notes[0]
        rows = R.compare_reference(ref, dict(ref["values"]))
        assert rows and all(r["ok"] for r in rows)  # the same keys, compared as before
    with pytest.raises(ValueError, match="newer than this pr1bench reads"):
        R.check_reference_doc({"version": 99, "values": {}}, "x.json")
    with pytest.raises(ValueError, match="not a study reference"):
        R.check_reference_doc({"rows": []}, "x.json")


def test_study_check_names_a_bad_reference_clearly(tmp_path: Path, results_dir) -> None:
    from pr1bench.cli.main import app

    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"version": 99, "values": {}}))
    r = CliRunner().invoke(app, ["study", "check", "embedded", "--reference", str(bad)])
    assert r.exit_code == 2 and "newer than this pr1bench reads" in r.output
    old = ROOT / "results" / "reference" / "study-embedded.json"
    r = CliRunner().invoke(app, ["study", "check", "embedded", "--reference", str(old)])
    assert r.exit_code == 2 and "no results database" in r.output  # not a traceback


def test_a_one_seed_report_says_what_it_cannot_decide() -> None:
    study, d = _study(), _data()
    d.seeds = [0]
    md = R.markdown(study, d, F.all_findings(d, study), quick=True, meta={"runs": 5})
    assert R.ONE_SEED in md and "training variance is not measured" in md
