"""Intervals against scipy called directly, and the degenerate cases (identical values, one seed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

from pr1bench.report import stats
from pr1bench.report.section import est_cell


def test_mean_ci_matches_scipy_bootstrap_with_the_same_seed() -> None:
    x = np.array([0.61, 0.55, 0.70, 0.58])
    got = stats.mean_ci(x)
    ref = bootstrap((x,), np.mean, confidence_level=0.95, n_resamples=stats.N_RESAMPLES, method="percentile",
                    random_state=np.random.default_rng(stats.SEED))
    assert got is not None and got.n == 4 and got.value == pytest.approx(x.mean())
    assert got.lo == pytest.approx(ref.confidence_interval.low)
    assert got.hi == pytest.approx(ref.confidence_interval.high)


def test_identical_values_give_a_zero_width_interval() -> None:
    got = stats.mean_ci([0.4, 0.4, 0.4])
    assert got is not None and (got.lo, got.value, got.hi) == (0.4, 0.4, 0.4)


def test_one_seed_has_no_interval_and_says_n_1() -> None:
    got = stats.mean_ci([0.7])
    assert got is not None and not got.has_interval
    assert est_cell(got) == "0.700 (n=1)"
    assert stats.mean_ci([]) is None and stats.mean_ci([float("nan")]) is None


def test_diff_ci_resamples_both_groups_like_scipy() -> None:
    a, b = np.array([0.6, 0.62, 0.66]), np.array([0.5, 0.49, 0.55])
    got = stats.diff_ci(a, b)
    ref = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), n_resamples=stats.N_RESAMPLES,
                    method="percentile", random_state=np.random.default_rng(stats.SEED))
    assert got is not None and got.value == pytest.approx(a.mean() - b.mean())
    assert (got.lo, got.hi) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert not stats.diff_ci([0.5], [0.1, 0.2]).has_interval  # type: ignore[union-attr]


def test_spearman_exact_p_for_few_buckets_and_undefined_cases() -> None:
    rho, p = stats.spearman([0, 1, 2], [0.1, 0.2, 0.3])  # type: ignore[misc]
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 3)
    assert stats.spearman([0, 1], [0.1, 0.2]) is None
    assert stats.spearman([0, 1, 2], [0.2, 0.2, 0.2]) is None


def test_complexity_of_counts_and_labels() -> None:
    c = stats.complexity_of([1, 2, 3])
    assert c["mean_fact"] == pytest.approx(3.0)
    assert c["mean_log_fact"] == pytest.approx((0 + np.log(2) + np.log(6)) / 3)
    assert c["median_fact"] == pytest.approx(2.0)
    assert stats.complexity_from_label("2-3")["mean_fact"] == pytest.approx(4.0)  # type: ignore[index]
    assert stats.bucket_range("11+") == (11, None) and stats.complexity_from_label("x") is None
    assert stats.complexity_of([200])["mean_fact"] == float("inf")


def test_reward_terms_rows_follow_the_papers_table_6() -> None:
    from pr1bench.report.ablations import reward_terms_label

    def cfg(**w: float) -> dict:
        names = ("format", "box_iou", "label_match", "recall_f1", "missing_penalty")
        return {"task": {"rewards": [{"name": n, "weight": w.get(n, 0.0)} for n in names]}}

    assert reward_terms_label(cfg(format=1, box_iou=1)) == "+IoU"
    assert reward_terms_label(cfg(format=1, box_iou=1, label_match=1)) == "+cls"
    assert reward_terms_label(cfg(box_iou=1, label_match=1, recall_f1=1)) == "+recall"
    assert reward_terms_label(cfg(box_iou=1, label_match=1, recall_f1=1, missing_penalty=0.5)) == "+missing penalty"
    assert reward_terms_label(cfg(box_iou=1, recall_f1=1)) == "+box_iou+recall_f1"
    assert reward_terms_label({"task": {"rewards": [{"name": "ocr_edit", "weight": 1}]}}) is None


def test_paper_numbers_lookup() -> None:
    from pr1bench.report import paper as P

    assert P.lookup("pixmo-count", "acc", "grpo", "validation").value == 78.1  # type: ignore[union-attr]
    assert P.lookup("refcoco", "acc50", "base").split == "val"  # type: ignore[union-attr]
    assert P.lookup("coco-detection", "AP", "sft-grpo").value == 30.8  # type: ignore[union-attr]
    assert P.lookup("detection", "AP", "grpo") is None  # synthetic tasks have no published number
    assert set(P.REAL_TASKS) == {v.task for v in P.PAPER}
