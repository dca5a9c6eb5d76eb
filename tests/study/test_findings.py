"""Findings and verdicts on known per-seed values: each verdict must follow from the interval it prints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pr1bench.study import findings as F
from pr1bench.study.spec import StudySpec

BUCKETS = ("1", "2-3", "4-6", "7-10")


def _study() -> StudySpec:
    return StudySpec.model_validate({
        "study": "t", "seeds": [0, 1, 2], "variants": ["base", "sft", "grpo", "cot-grpo", "sft-grpo"],
        "tasks": {"counting": {}}, "high_complexity": {"counting": "7-10"},
        "ablations": {"order": {"tasks": ["counting"], "variants": ["sft", "grpo"], "set": {"data.order": "sorted"}},
                      "matching": {"tasks": ["counting"], "variants": ["grpo"], "set": {"matching": "sequential"}}}})


def _data(value) -> F.StudyData:
    """value(arm, variant, seed, bucket) -> metric; acc and reward_sampled get the same shape."""
    rows = []
    arms = {"main": ["base", "sft", "grpo", "cot-grpo", "sft-grpo"], "order": ["sft", "grpo"], "matching": ["grpo"]}
    for arm, variants in arms.items():
        for v in variants:
            for seed in (0, 1, 2):
                rid = f"{arm}-{v}-{seed}"
                for b in (*BUCKETS, "all"):
                    x = value(arm, v, seed, b)
                    rows.append({"run_id": rid, "key": rid, "arm": arm, "task": "counting", "variant": v,
                                 "seed": seed, "metric": "acc", "bucket": b, "value": x})
                    if b == "all":
                        rows.append({"run_id": rid, "key": rid, "arm": arm, "task": "counting", "variant": v,
                                     "seed": seed, "metric": "reward_sampled", "bucket": b, "value": 1 + x})
    return F.StudyData(metrics=pd.DataFrame(rows), samples=pd.DataFrame(columns=["run_id", "sample_id", "bucket",
                                                                                 "score", "correct"]),
                       primary={"counting": "acc"}, seeds=[0, 1, 2])


def paper_like(arm, v, seed, b):
    """GRPO gains grow with n under random order, not under sorted; CoT = GRPO; sequential worse."""
    k = BUCKETS.index(b) if b != "all" else 1.5
    noise = 0.005 * (seed - 1)
    sft = 0.5 - 0.05 * k + noise
    if v in ("sft", "base"):
        return sft
    if arm == "order":
        return sft + 0.02 + noise
    if arm == "matching":
        return sft + 0.01 + noise
    return sft + 0.05 * k + 0.02 + noise


def test_paper_like_values_reproduce_every_finding():
    d = _data(paper_like)
    found = {f.key: f for f in F.all_findings(d, _study())}
    assert found["rl_beats_sft"].verdict == F.REPRODUCED
    line = found["rl_beats_sft"].lines[0]
    assert line.est.lo > 0 and line.est.value == pytest.approx(0.05 * 3 + 0.02)
    assert found["cot_no_help"].verdict == F.REPRODUCED  # identical values: difference exactly 0 < margin
    assert found["gain_grows"].verdict == F.REPRODUCED
    mech = [ln for ln in found["gain_grows"].lines if "order mechanism" in ln.measure][0]
    assert mech.verdict == F.REPRODUCED and mech.est.lo > 0
    sorted_line = [ln for ln in found["gain_grows"].lines if "sorted order" in ln.measure][0]
    assert abs(sorted_line.est.value) < 1e-9
    assert found["hungarian"].verdict == F.REPRODUCED
    for f in found.values():
        assert f.verdict.upper() in f.sentence and "[" in f.sentence  # the interval is in the sentence


def test_reversed_effect_is_not_reproduced():
    d = _data(lambda arm, v, seed, b: (0.2 if v == "grpo" else 0.6) + 0.01 * seed)
    f = F.f_rl_beats_sft(d, {"counting": "7-10"})
    assert f.verdict == F.NOT_REPRODUCED and f.lines[0].est.hi < 0


def test_all_zero_is_no_signal_not_reproduced():
    d = _data(lambda *a: 0.0)
    found = F.all_findings(d, _study())
    assert all(f.verdict == F.NO_SIGNAL for f in found)
    assert "no signal" in found[0].lines[0].note


def test_overlapping_seeds_are_inconclusive():
    vals = {("grpo", 0): 0.40, ("grpo", 1): 0.60, ("grpo", 2): 0.50, ("sft", 0): 0.55, ("sft", 1): 0.45,
            ("sft", 2): 0.50}
    d = _data(lambda arm, v, seed, b: vals.get((v, seed), 0.5))
    f = F.f_rl_beats_sft(d, {"counting": "7-10"})
    assert f.lines[0].verdict == F.INCONCLUSIVE and f.lines[0].est.lo < 0 < f.lines[0].est.hi


def test_cot_better_is_not_reproduced_and_wide_is_inconclusive():
    d = _data(lambda arm, v, seed, b: 0.8 + 0.01 * seed if v == "cot-grpo" else 0.3 + 0.01 * seed)
    assert F.f_cot(d, ["counting"], 0.02).verdict == F.NOT_REPRODUCED
    wide = {0: -0.2, 1: 0.0, 2: 0.3}
    d = _data(lambda arm, v, seed, b: 0.5 + (wide[seed] if v == "cot-grpo" else 0.0))
    assert F.f_cot(d, ["counting"], 0.02).verdict == F.INCONCLUSIVE


def test_slope_matches_least_squares_and_interval_covers_it():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    g = np.array([[0.1, 0.3, 0.5, 0.7], [0.12, 0.31, 0.52, 0.69], [0.09, 0.29, 0.49, 0.72]])
    s = np.full((3, 4), 0.1)
    est = F.slope_estimate(g, s, x)
    assert est.value == pytest.approx(np.polyfit(x, g.mean(0) - 0.1, 1)[0])
    assert est.lo <= est.value <= est.hi and est.lo > 0


def test_one_seed_falls_back_to_paired_samples():
    rows, samples = [], []
    for v, p in (("sft", 0.3), ("grpo", 0.7)):
        rid = f"main-{v}-0"
        for b in (*BUCKETS, "all"):
            rows.append({"run_id": rid, "key": rid, "arm": "main", "task": "counting", "variant": v, "seed": 0,
                         "metric": "acc", "bucket": b, "value": p})
        rng = np.random.default_rng(0 if v == "sft" else 1)
        for i in range(40):
            hit = float(rng.random() < p)
            samples.append({"run_id": rid, "sample_id": f"s{i}", "bucket": "7-10", "score": hit, "correct": hit})
    d = F.StudyData(pd.DataFrame(rows), pd.DataFrame(samples), {"counting": "acc"}, [0])
    f = F.f_rl_beats_sft(d, {"counting": "7-10"})
    ln = f.lines[0]
    assert ln.est.basis == "samples" and ln.est.has_interval and "1 seed" in ln.note


def test_identical_seeds_still_get_the_image_level_interval():
    """Three trainings with the same greedy answers: a seeds-only interval would have zero width; the two-level
    one keeps the evaluation images' noise (and measures zero seed variance)."""
    rows, samples = [], []
    for v, p in (("sft", 0.3), ("grpo", 0.5)):
        for seed in (0, 1, 2):
            rid = f"main-{v}-{seed}"
            for b in (*BUCKETS, "all"):
                rows.append({"run_id": rid, "key": rid, "arm": "main", "task": "counting", "variant": v,
                             "seed": seed, "metric": "acc", "bucket": b, "value": p})
            for i in range(20):
                hit = float(i < 20 * p)
                samples.append({"run_id": rid, "sample_id": f"s{i}", "bucket": "7-10", "score": hit, "correct": hit})
    d = F.StudyData(pd.DataFrame(rows), pd.DataFrame(samples), {"counting": "acc"}, [0, 1, 2])
    ln = F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0]
    assert ln.est.basis == "seeds+samples" and ln.est.lo < ln.est.hi and ln.est.n_samples == 20
    assert ln.est.var_seed == pytest.approx(0.0, abs=1e-12) and ln.est.var_sample > 0
    assert ln.est.value == pytest.approx(0.2)


def test_values_below_the_signal_floor_decide_nothing():
    """AP of 1e-4 (one lucky box) with a tiny but 'significant' difference is no evidence either way."""
    d = _data(lambda arm, v, seed, b: (2e-4 if v == "grpo" else 1e-4) + 1e-6 * seed)
    d.floors = {"acc": F.Floor(base=0.0, near=0.01)}
    ln = F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0]
    assert ln.est.lo > 0 and ln.verdict == F.NO_SIGNAL and "below 0.01" in ln.note
    d.floors = {"acc": F.Floor(base=0.0, near=0.0)}
    assert F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0].verdict == F.REPRODUCED
    d.floors = {"acc": F.Floor(base=0.001, near=0.0)}  # the base (1e-4) is below the base floor
    ln = F.f_rl_beats_sft(d, {"counting": "7-10"}).lines[0]
    assert ln.verdict == F.NO_SIGNAL and "the base scores 0.000, below the floor 0.001" in ln.note


def test_power_hint_scales_with_the_measured_spread() -> None:
    """An undecided line says how many seeds would decide it: n * (half-width / effect)^2 * (2.80 / 1.96)^2."""
    from pr1bench.report.stats import Estimate

    est = Estimate(0.02, -0.02, 0.06, 3, "seeds")  # half-width 0.04, twice the effect
    hint = F.power_hint(est, 0.0)
    assert "~25 seeds per variant (now 3)" in hint, hint  # ceil(3 * 4 * 2.0408) = 25
    wider = F.power_hint(Estimate(0.02, -0.06, 0.10, 3, "seeds"), 0.0)
    assert "~98 seeds" in wider, wider  # doubling the spread quadruples n
    assert "eval samples" in F.power_hint(Estimate(0.01, -0.01, 0.03, 300, "samples"), 0.0)
    assert "no feasible number" in F.power_hint(Estimate(0.0, -0.05, 0.05, 3, "seeds"), 0.0)
    assert F.power_hint(Estimate(0.1, None, None, 1, "none"), 0.0) == ""
    # the equivalence claim: the distance to the margin counts, not to 0
    assert "~14 seeds" in F.power_hint(Estimate(0.0, -0.03, 0.03, 3, "seeds"), 0.02)  # ceil(3 * 2.25 * 2.04)
    v, why = F.verdict_greater(est, np.array([0.3, 0.32, 0.34]), np.array([0.3, 0.3, 0.31]))
    assert v == F.INCONCLUSIVE and "interval contains 0" in why and "seeds per variant" in why


def test_per_task_verdicts_show_a_split_that_the_overall_verdict_hides():
    from pr1bench.study.render import per_task_verdicts, task_verdicts

    def line(task, verdict, decides=True):
        return F.Line(task=task, measure="acc", a="grpo", b="sft", est=None, verdict=verdict, decides=decides)

    f = F.Finding(key="k", claim="c", lines=[line("counting", F.NOT_REPRODUCED), line("counting", F.REPRODUCED, False),
                                            line("detection", F.INCONCLUSIVE)])
    f.verdict = F.combine(f.lines)
    assert f.verdict == F.INCONCLUSIVE
    assert task_verdicts(f) == {"counting": F.NOT_REPRODUCED, "detection": F.INCONCLUSIVE}
    assert per_task_verdicts(f) == "counting: not reproduced; detection: inconclusive"
    split = F.Finding(key="k", claim="c", lines=[line("ocr", F.REPRODUCED), line("ocr", F.NOT_REPRODUCED)])
    assert task_verdicts(split) == {"ocr": F.MIXED}
