"""Verdict rules (no signal, mixed, inconclusive), floors and budgets as study-file data (issue 24)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pr1bench.spec import ConfigError
from pr1bench.study import findings as F
from pr1bench.study.spec import StudySpec, budget_steps, check_study, plan, validate_plan

BUCKETS = ("1", "2-3", "4-6", "7-10")
PRIMARY = {"counting": "acc", "detection": "AP", "ocr": "f1"}


def _data(value, tasks=("counting", "detection")) -> F.StudyData:
    """value(task, variant, seed) -> the metric in every bucket (3 seeds, base 1 seed, main arm only)."""
    rows = []
    for task in tasks:
        for v in ("base", "sft", "grpo", "cot-grpo"):
            for seed in ((0,) if v == "base" else (0, 1, 2)):
                rid = f"{task}-{v}-{seed}"
                for b in (*BUCKETS, "all"):
                    rows.append({"run_id": rid, "key": rid, "arm": "main", "task": task, "variant": v, "seed": seed,
                                 "metric": PRIMARY[task], "bucket": b, "value": value(task, v, seed), "n": 100})
    return F.StudyData(metrics=pd.DataFrame(rows), samples=pd.DataFrame(
        columns=["run_id", "sample_id", "bucket", "n", "score", "correct", "pred_count", "pred_boxes"]),
        primary={t: PRIMARY[t] for t in tasks}, seeds=[0, 1, 2])


def _gap(task_gap):
    """GRPO above SFT by task_gap[task] (spread 0.01 over seeds); base and SFT at 0.4."""
    def value(task, v, seed):
        if v == "grpo":
            return 0.4 + task_gap[task] + 0.005 * (seed - 1)
        return 0.4 + 0.005 * (seed - 1) * (v != "base")
    return value


@pytest.mark.parametrize("verdicts, want", [
    ([F.REPRODUCED, F.REPRODUCED], F.REPRODUCED),
    ([F.NOT_REPRODUCED, F.NO_SIGNAL], F.NOT_REPRODUCED),
    ([F.NO_SIGNAL, F.NO_SIGNAL], F.NO_SIGNAL),
    ([F.REPRODUCED, F.NOT_REPRODUCED], F.MIXED),
    ([F.REPRODUCED, F.NOT_REPRODUCED, F.INCONCLUSIVE], F.INCONCLUSIVE),
    ([F.MIXED, F.REPRODUCED], F.MIXED),
    ([F.REPRODUCED, F.INCONCLUSIVE, F.NO_SIGNAL], F.INCONCLUSIVE),
    ([], F.INCONCLUSIVE),
])
def test_overall_rule(verdicts, want):
    assert F.combine_verdicts(verdicts) == want


def test_tasks_agreeing_give_their_verdict_and_disagreeing_give_mixed_with_each_task():
    agree = F.f_rl_beats_sft(_data(_gap({"counting": 0.1, "detection": 0.1})), {"counting": "7-10", "detection": "7-10"})
    assert agree.verdict == F.REPRODUCED
    d = _data(_gap({"counting": 0.1, "detection": -0.1}))
    mixed = F.f_rl_beats_sft(d, {"counting": "7-10", "detection": "7-10"})
    assert mixed.verdict == F.MIXED
    s = F.sentence(mixed)
    assert "MIXED" in s and "counting: reproduced" in s and "detection: not reproduced" in s


def test_an_undecided_task_makes_the_finding_inconclusive_with_a_power_note():
    wide = {0: -0.1, 1: 0.0, 2: 0.12}

    def value(task, v, seed):
        if task == "detection" and v == "grpo":
            return 0.4 + wide[seed]
        return _gap({"counting": 0.1, "detection": 0.0})(task, v, seed)

    f = F.f_rl_beats_sft(_data(value), {"counting": "7-10", "detection": "7-10"})
    assert f.verdict == F.INCONCLUSIVE
    det = next(ln for ln in f.lines if ln.task == "detection" and ln.decides)
    assert det.verdict == F.INCONCLUSIVE and "power estimate" in det.note and det.est.lo < 0 < det.est.hi


def test_a_task_at_its_floor_reads_no_signal_and_does_not_make_the_finding_reproduced():
    """OCR at F1 ~0.01 everywhere (today's shipped study) with a 'significant' CoT difference: no signal."""
    def value(task, v, seed):
        if task == "ocr":
            return 0.012 + 0.001 * seed + (0.004 if v == "cot-grpo" else 0.0)
        return 0.4 + 0.001 * seed + (0.2 if v == "cot-grpo" else 0.0)  # counting: CoT clearly better

    d = _data(value, tasks=("counting", "ocr"))
    d.floors = StudySpec.model_validate({"study": "t", "seeds": [0], "variants": ["base"], "tasks": {},
                                         "floors": {"f1": {"base": 0.05}}}).resolved_floors()
    f = F.f_cot(d, ["counting", "ocr"], 0.02)
    ocr = next(ln for ln in f.lines if ln.task == "ocr" and ln.decides)
    assert ocr.verdict == F.NO_SIGNAL and "base scores 0.012, below the floor 0.05" in ocr.note
    assert f.verdict == F.NOT_REPRODUCED  # counting alone decides; ocr is listed, not counted
    # and with the only task at the floor the finding itself is 'no signal', never 'reproduced'
    only = F.f_cot(d, ["ocr"], 0.02)
    assert only.verdict == F.NO_SIGNAL


def test_all_arms_within_near_of_chance_is_no_signal():
    d = _data(lambda task, v, seed: 0.1 + 0.002 * seed + (0.003 if v == "grpo" else 0.0), tasks=("counting",))
    d.floors = {"acc": F.Floor(base=0.0, chance=0.1, near=0.01)}
    ln = F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0]
    assert ln.verdict == F.NO_SIGNAL and "within 0.01 of chance (0.1)" in ln.note
    d.floors = {"acc": F.Floor(base=0.0, chance=0.0, near=0.01)}
    assert F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0].verdict == F.REPRODUCED


def test_floors_resolve_defaults_then_default_then_metric():
    s = StudySpec.model_validate({"study": "t", "seeds": [0], "variants": ["base"], "tasks": {}, "signal_floor": 0.02,
                                  "floors": {"default": {"base": 0.03}, "AP": {"base": 0.01, "chance": 0.0},
                                             "acc": {"chance": 0.1}}})
    fl = s.resolved_floors()
    assert fl["default"] == F.Floor(base=0.03, chance=0.0, near=0.02)
    assert fl["AP"] == F.Floor(base=0.01, chance=0.0, near=0.02)
    assert fl["acc"] == F.Floor(base=0.03, chance=0.1, near=0.02)
    d = _data(lambda *a: 0.5)
    d.floors = fl
    assert d.floor_of("f1") == fl["default"] and d.floor_of("acc").chance == 0.1


def test_proxy_that_disagrees_with_its_metric_decides_nothing():
    est = F.Estimate(0.05, 0.02, 0.08, 3, "seeds+samples", 1000, 1e-4, 1e-4, metric_value=-0.01)
    v, why = F.verdict_greater(est, np.array([0.3]), np.array([0.31]), F.Floor(base=0.0))
    assert v == F.INCONCLUSIVE and "other way" in why
    est = F.Estimate(0.05, 0.02, 0.08, 3, "seeds+samples", 1000, 1e-4, 1e-4, metric_value=0.01)
    assert F.verdict_greater(est, np.array([0.31]), np.array([0.3]), F.Floor(base=0.0))[0] == F.REPRODUCED


def test_superiority_margin_rules_out_a_meaningful_gain_only_when_set():
    tie = F.Estimate(0.001, -0.006, 0.009, 3, "seeds+samples", 1000, 1e-5, 1e-5)
    va, vb, floor = np.array([0.30]), np.array([0.30]), F.Floor(base=0.0)
    assert F.verdict_greater(tie, va, vb, floor)[0] == F.INCONCLUSIVE  # no margin: a tie decides nothing
    v, why = F.verdict_greater(tie, va, vb, floor, margin=0.02)
    assert v == F.NOT_REPRODUCED and "margin 0.02" in why
    wide = F.Estimate(0.001, -0.03, 0.03, 3, "seeds+samples", 1000, 1e-4, 1e-4)  # reaches above the margin
    assert F.verdict_greater(wide, va, vb, floor, margin=0.02)[0] == F.INCONCLUSIVE
    gain = F.Estimate(0.012, 0.004, 0.019, 3, "seeds+samples", 1000, 1e-5, 1e-5)  # above 0: still reproduced
    assert F.verdict_greater(gain, np.array([0.31]), vb, floor, margin=0.02)[0] == F.REPRODUCED
    # a per-sample proxy (detection's per-image F1) leaning the other way than AP inside the margin: still ruled out
    lean = F.Estimate(0.002, -0.004, 0.008, 3, "seeds+samples", 1000, 1e-5, 1e-5, metric_value=-0.003)
    assert F.verdict_greater(lean, va, vb, floor)[0] == F.INCONCLUSIVE
    assert F.verdict_greater(lean, va, vb, floor, margin=0.02)[0] == F.NOT_REPRODUCED
    big = F.Estimate(-0.002, -0.008, 0.004, 3, "seeds+samples", 1000, 1e-5, 1e-5, metric_value=0.03)  # AP +0.03
    assert F.verdict_greater(big, va, vb, floor, margin=0.02)[0] == F.INCONCLUSIVE
    # the margin never lets a proxy decide "reproduced" against its metric
    against = F.Estimate(0.005, 0.001, 0.009, 3, "seeds+samples", 1000, 1e-5, 1e-5, metric_value=-0.003)
    assert F.verdict_greater(against, va, vb, floor, margin=0.02)[0] == F.INCONCLUSIVE
    same_way = F.Estimate(0.005, -0.004, 0.015, 3, "seeds+samples", 1000, 1e-5, 1e-5, metric_value=0.03)
    assert F.verdict_greater(same_way, va, vb, floor, margin=0.02)[0] == F.INCONCLUSIVE  # AP itself gains 0.03


def test_two_level_power_note_says_seeds_or_images():
    seeds = F.Estimate(0.03, -0.01, 0.07, 3, "seeds+samples", 1000, var_seed=9e-4, var_sample=1e-4)
    # variance must shrink (0.04 / 0.03)^2 (2.8 / 1.96)^2 = 3.63x; the image part (10%) stays: 3 * 0.9 / (1/3.63 - 0.1)
    assert "~16 seeds per variant at 1000 images (now 3)" in F.power_hint(seeds, 0.0)
    images = F.Estimate(0.02, -0.02, 0.06, 3, "seeds+samples", 1000, var_seed=1e-4, var_sample=3e-4)
    assert "evaluation noise alone is too wide at 1000 images" in F.power_hint(images, 0.0)
    same = F.Estimate(0.02, -0.02, 0.06, 3, "seeds+samples", 1000, var_seed=0.0, var_sample=3e-4)
    assert "eval images (now 1000; the seeds agree)" in F.power_hint(same, 0.0)


# ------------------------------------------------------------------------------------------ study file


def _spec(**extra) -> StudySpec:
    d = {"study": "b", "seeds": [0, 1], "variants": ["base", "sft", "grpo", "cot-grpo", "sft-grpo"],
         "tasks": {"counting": {"sft": {"per_device_train_batch_size": 16},
                                "grpo": {"max_steps": 48, "per_device_train_batch_size": 16},
                                "eval": {"batch_size": 40},
                                "step_seconds": {"sft": 0.15, "grpo": 1.5, "note": "test"}}}}
    d.update(extra)
    return StudySpec.model_validate(d)


def test_budget_gives_equal_seconds_and_sft_grpo_splits_them_in_one_run(tmp_path):
    spec = _spec(budget={"seconds": 600, "sft_grpo_sft_share": 0.25, "grpo_prompts": 8, "grpo_completions": 8},
                 eval={"n": 1000, "every_steps": 50})
    check_study(spec, tmp_path / "b.yaml")
    assert budget_steps(spec, "counting") == {"sft": 4000, "grpo": 400, "sft-grpo/sft": 1000, "sft-grpo/grpo": 300}
    runs = {r.key: r for r in plan(spec)}
    sft, grpo, cot, sg = (runs[f"main/counting/{v}/s0"] for v in ("sft", "grpo", "cot-grpo", "sft-grpo"))
    assert sft.overrides["trainer.max_steps"] == 4000
    assert grpo.overrides["trainer.max_steps"] == cot.overrides["trainer.max_steps"] == 400
    assert grpo.overrides["trainer.num_generations"] == 8
    assert grpo.overrides["trainer.per_device_train_batch_size"] == 64  # 8 prompts x 8 completions
    assert sg.needs is None and sg.overrides["sft_trainer.max_steps"] == 1000
    assert sg.overrides["trainer.max_steps"] == 300 and sg.overrides["sft_trainer.per_device_train_batch_size"] == 16
    for r in runs.values():  # the study-level eval applies to every run; the task block's own keys still apply
        assert r.overrides["eval.n"] == 1000 and r.overrides["eval.batch_size"] == 40
    validate_plan(spec, list(runs.values()), tmp_path / "b.yaml", quick=False)  # real RunSpec validation


def test_task_budget_seconds_and_curve_points(tmp_path):
    spec = _spec(budget={"seconds": 600, "grpo_prompts": 8, "grpo_completions": 8, "curve_points": 4})
    spec.tasks["counting"].budget_seconds = 300  # the task's own seconds win over budget.seconds
    check_study(spec, tmp_path / "b.yaml")
    assert budget_steps(spec, "counting") == {"sft": 2000, "grpo": 200, "sft-grpo/sft": 1000, "sft-grpo/grpo": 100}
    runs = {r.key: r for r in plan(spec)}
    # every trained run gets curve_points intermediate evaluations over its own steps (sft-grpo: its longer phase)
    assert runs["main/counting/sft/s0"].overrides["eval.every_steps"] == 500
    assert runs["main/counting/grpo/s0"].overrides["eval.every_steps"] == 50
    assert runs["main/counting/cot-grpo/s0"].overrides["eval.every_steps"] == 50
    assert runs["main/counting/sft-grpo/s0"].overrides["eval.every_steps"] == 250
    assert "eval.every_steps" not in runs["main/counting/base/s0"].overrides
    validate_plan(spec, list(runs.values()), tmp_path / "b.yaml", quick=False)


def test_without_a_budget_the_plan_is_what_it_was():
    runs = {r.key: r for r in plan(_spec())}
    assert runs["main/counting/grpo/s0"].overrides["trainer.max_steps"] == 48
    assert runs["main/counting/sft-grpo/s0"].needs == "main/counting/sft/s0"
    assert not any(k.startswith("eval.n") for k in runs["main/counting/sft/s0"].overrides)


def test_budget_without_a_measured_step_cost_names_the_key(tmp_path):
    spec = _spec(budget={"seconds": 60})
    spec.tasks["counting"].step_seconds = None
    with pytest.raises(ConfigError, match=r"tasks.counting.step_seconds.grpo|tasks.counting.step_seconds.sft") as e:
        check_study(spec, tmp_path / "b.yaml")
    assert "study costs" in str(e.value)
    with pytest.raises(ConfigError, match="together"):
        check_study(_spec(budget={"seconds": 60, "grpo_prompts": 8}), tmp_path / "b.yaml")


def test_quick_form_merges_budget_and_eval(tmp_path):
    from pr1bench.study.spec import apply_quick

    spec = _spec(budget={"seconds": 600}, eval={"n": 1000},
                 quick={"seeds": [0], "budget": {"seconds": 60}, "eval": {"n": 300}})
    q = apply_quick(spec, tmp_path / "b.yaml")
    assert q.budget.seconds == 60 and q.eval == {"n": 300} and q.seeds == [0]
    assert budget_steps(q, "counting")["grpo"] == 40
    with pytest.raises(ConfigError, match="quick.budget"):
        apply_quick(_spec(quick={"budget": {"seconds": 60}}), tmp_path / "b.yaml")


def test_quick_form_can_run_a_subset_of_variants_and_leave_an_ablation_out(tmp_path):
    from pr1bench.study.spec import apply_quick

    abl = {"matching": {"tasks": ["counting"], "variants": ["grpo"], "set": {"matching": "sequential"}}}
    spec = _spec(ablations=abl, quick={"seeds": [0], "variants": ["base", "sft", "grpo"], "ablations": {"matching": None}})
    q = apply_quick(spec, tmp_path / "b.yaml")
    assert q.variants == ["base", "sft", "grpo"] and q.ablations == {}
    assert {r.variant for r in plan(q)} == {"base", "sft", "grpo"}
    assert len(plan(spec)) > len(plan(q)) and any(r.arm == "matching" for r in plan(spec))
    with pytest.raises(ConfigError, match="quick.variants"):
        apply_quick(_spec(quick={"variants": ["base", "dpo"]}), tmp_path / "b.yaml")
