"""The two-level bootstrap (seeds, then images shared by the compared runs): deterministic, paired, and its
interval covers the true difference when training seeds vary, where an images-only interval does not."""

from __future__ import annotations

import numpy as np
import pytest

from pr1bench.report.stats import two_level


def _arms(rng, *, k=3, n=200, delta=0.05, seed_sd=0.0, image_sd=1.0, noise_sd=0.5):
    """Per-sample scores of two arms on the same n images: shared image difficulty, per-seed training offsets."""
    image = rng.normal(0, image_sd, n)
    a = delta + image + rng.normal(0, seed_sd, (k, 1)) + rng.normal(0, noise_sd, (k, n))
    b = image + rng.normal(0, seed_sd, (k, 1)) + rng.normal(0, noise_sd, (k, n))
    return a, b


def test_deterministic_with_a_fixed_seed_and_different_with_another() -> None:
    a, b = _arms(np.random.default_rng(0))
    e1, e2 = two_level([a, b]), two_level([a, b])
    assert e1 == e2 and e1.has_interval and e1.lo < e1.value < e1.hi
    assert e1.value == pytest.approx(a.mean() - b.mean())
    assert e1.basis == "seeds+samples" and e1.n == 3 and e1.n_samples == 200
    assert two_level([a, b], seed=1).lo != e1.lo


def test_paired_over_images_a_shared_image_effect_cancels() -> None:
    a, b = _arms(np.random.default_rng(1), image_sd=0.0)
    shift = np.random.default_rng(2).normal(0, 5.0, a.shape[1])  # a huge per-image difficulty, in both arms
    plain, shifted = two_level([a, b]), two_level([a + shift, b + shift])
    assert shifted.lo == pytest.approx(plain.lo) and shifted.hi == pytest.approx(plain.hi)


def test_one_seed_per_arm_resamples_images_only_and_counts_them() -> None:
    a, b = _arms(np.random.default_rng(3), k=1)
    est = two_level([a, b])
    assert est.basis == "samples" and est.n == 200 and est.var_seed == pytest.approx(0.0, abs=1e-20)


def test_variance_components_follow_where_the_noise_is() -> None:
    rng = np.random.default_rng(4)
    seeds = two_level(list(_arms(rng, seed_sd=0.3, image_sd=0.0, noise_sd=0.05)))
    images = two_level(list(_arms(rng, seed_sd=0.0, image_sd=0.0, noise_sd=1.0)))
    assert seeds.var_seed > 10 * seeds.var_sample
    # without a seed effect the seed level still sees each run's own evaluation noise (the interval errs wide)
    assert images.var_sample > 2 * images.var_seed


def test_coverage_on_synthetic_trainings_beats_the_images_only_interval() -> None:
    """Seeds vary (training variance) and images are noisy: the two-level interval covers the true difference
    about 95% of the time; an interval over the images of one run per arm does not."""
    rng = np.random.default_rng(5)
    delta, reps = 0.05, 150
    hit_two = hit_one = 0
    for r in range(reps):
        a, b = _arms(rng, k=6, n=150, delta=delta, seed_sd=0.08, image_sd=0.5, noise_sd=0.5)
        two = two_level([a, b], n_resamples=400, seed=r)
        one = two_level([a[:1], b[:1]], n_resamples=400, seed=r)
        hit_two += two.lo <= delta <= two.hi
        hit_one += one.lo <= delta <= one.hi
    assert 0.85 <= hit_two / reps <= 1.0, hit_two / reps
    assert hit_one / reps < hit_two / reps - 0.1, (hit_one / reps, hit_two / reps)


def test_slope_statistic_over_stratified_buckets() -> None:
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(4), 60)
    x = np.array([0.0, 1.0, 2.0, 3.0])
    gain = 0.1 * x[groups]  # A's advantage grows by 0.1 per bucket
    a = gain + rng.normal(0, 0.3, (3, groups.size))
    b = rng.normal(0, 0.3, (3, groups.size))
    xc = x - x.mean()

    def slope(ms):
        d = ms[0] - ms[1]
        return ((d - d.mean(axis=1, keepdims=True)) @ xc) / (xc**2).sum()

    est = two_level([a, b], groups, statistic=slope)
    assert est.value == pytest.approx(np.polyfit(x, [a[:, groups == g].mean() - b[:, groups == g].mean()
                                                     for g in range(4)], 1)[0])
    assert est.lo > 0 and est.lo < 0.1 < est.hi


def test_rejects_arms_scored_on_different_images_and_empty_arms() -> None:
    with pytest.raises(ValueError, match="same images"):
        two_level([np.zeros((2, 5)), np.zeros((2, 6))])
    assert two_level([np.zeros((0, 5)), np.zeros((2, 5))]) is None


def test_stratified_default_statistic_is_the_difference_over_all_images():
    # buckets of unequal size with different gaps: the estimate is the mean over every image, not one bucket's
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(4), [100, 200, 300, 400])
    gap = np.array([0.0, 0.1, 0.2, 0.3])[groups]
    a = (rng.random((3, groups.size)) < 0.4 + gap).astype(float)
    b = (rng.random((3, groups.size)) < 0.4).astype(float)
    est = two_level([a, b], groups)
    assert est.value == pytest.approx(a.mean() - b.mean())
    assert est.lo < a.mean() - b.mean() < est.hi
    plain = two_level([a, b])  # stratifying changes the resampling, not what is estimated
    assert plain.value == pytest.approx(est.value)
