"""Study files: validation names the file and key; plan expansion; resumable bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pr1bench.spec import ConfigError
from pr1bench.study.execute import existing_runs
from pr1bench.study.spec import load_study, plan, validate_plan

MINI = """
study: mini
seeds: [0, 1]
variants: [base, sft, grpo, sft-grpo]
high_complexity: {counting: "7-10"}
tasks:
  counting:
    data: {train: 32}
    sft: {max_steps: 3}
    grpo: {max_steps: 2, num_generations: 4, per_device_train_batch_size: 8}
    hparams:
      grpo: {sweep: counting, trial: 4, params: {trainer.beta: 0.02, matching: sequential}}
ablations:
  order: {tasks: [counting], variants: [sft, grpo], set: {data.order: sorted}}
quick: {seeds: [0], tasks: {counting: {sft: {max_steps: 1}}}}
"""


@pytest.fixture
def studies(tmp_path, monkeypatch):
    d = tmp_path / "studies"
    d.mkdir()
    monkeypatch.setenv("PR1BENCH_STUDIES", str(d))
    (d / "mini.yaml").write_text(MINI)
    return d


def test_shipped_study_validates_every_run():
    study, path = load_study("embedded")
    runs = plan(study)
    validate_plan(study, runs, path, quick=False)
    tasks = {r.task for r in runs}
    assert tasks == {"counting", "detection", "grounding", "ocr"}
    for v in ("sft", "grpo", "cot-grpo", "sft-grpo"):
        assert {r.seed for r in runs if r.variant == v and r.arm == "main"} == {0, 1, 2}
    q, _ = load_study("embedded", quick=True)
    assert q.seeds == [0] and len(plan(q)) < len(runs)


def test_plan_expansion_dependencies_and_provenance(studies):
    study, _ = load_study("mini")
    runs = plan(study)
    keys = [r.key for r in runs]
    assert keys.count("main/counting/base/s0") == 1 and "main/counting/base/s1" not in keys  # base_seeds=1
    sg = next(r for r in runs if r.key == "main/counting/sft-grpo/s1")
    assert sg.needs == "main/counting/sft/s1" and keys.index(sg.needs) < keys.index(sg.key)
    grpo = next(r for r in runs if r.key == "main/counting/grpo/s0")
    assert grpo.overrides["trainer.beta"] == 0.02 and "matching" not in grpo.overrides  # the ablation axis
    assert grpo.hparams["grpo"] == {"source": "pinned", "sweep": "counting", "trial": 4, "value": None,
                                    "params": {"trainer.beta": 0.02, "matching": "sequential"}}
    sorted_sft = next(r for r in runs if r.key == "order/counting/sft/s0")
    assert sorted_sft.overrides["data.order"] == "sorted" and sorted_sft.overrides["trainer.max_steps"] == 3
    best = {"counting": {"trial": 7, "value": 0.5, "params": {"trainer.beta": 0.09}}}
    grpo = next(r for r in plan(study, best_trials=best) if r.key == "main/counting/grpo/s0")
    assert grpo.overrides["trainer.beta"] == 0.09 and grpo.hparams["grpo"]["source"] == "database"
    assert grpo.plan_hash != next(r for r in runs if r.key == "main/counting/grpo/s0").plan_hash


def test_quick_form(studies):
    study, _ = load_study("mini", quick=True)
    runs = plan(study)
    assert {r.seed for r in runs} == {0}
    assert next(r for r in runs if r.key == "main/counting/sft/s0").overrides["trainer.max_steps"] == 1


@pytest.mark.parametrize("edit, key", [
    (("variants: [base, sft, grpo, sft-grpo]", "variants: [base, sfft]"), "variants"),
    (("  counting:\n    data", "  countin:\n    data"), "tasks.countin"),
    (("seeds: [0, 1]", "seeds: [0, 1]\nbogus: 1"), "bogus"),
    (("variants: [sft, grpo], set", "variants: [sft-grpo], set"), None),
    (("sft: {max_steps: 3}", "sft: {max_stepz: 3}"), "max_stepz"),
])
def test_errors_name_file_and_key(studies, edit, key):
    (studies / "mini.yaml").write_text(MINI.replace(*edit))
    with pytest.raises(ConfigError) as e:
        study, path = load_study("mini")
        validate_plan(study, plan(study), path, quick=False)
    assert "mini.yaml" in str(e.value)
    if key:
        assert key in str(e.value)


def test_unknown_study_suggests(studies):
    with pytest.raises(FileNotFoundError, match="Did you mean 'mini'"):
        load_study("mni")


def test_existing_runs_are_found_by_study_tag(studies, results_dir):
    study, _ = load_study("mini")
    pr = plan(study)[0]
    d = results_dir / "runs" / "r1"
    d.mkdir(parents=True)
    tag = {"name": "mini", "key": pr.key, "plan": pr.plan_hash, "quick": False}
    (d / "run.json").write_text(json.dumps({"status": "completed", "config": {"run": {"study": tag}}}))
    other = results_dir / "runs" / "r2"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"status": "completed", "config": {"run": {"study": None}}}))
    found = existing_runs(study)
    assert list(found) == [pr.key] and found[pr.key][0][0] == Path(d)
