"""The report's statistics: bootstrap intervals over seeds (or samples), gains, Spearman, bucket complexity.

Choices, stated once so every table means the same thing:

* Intervals are 95% **percentile** bootstrap intervals from ``scipy.stats.bootstrap`` with
  ``N_RESAMPLES`` (2000) resamples and a fixed generator (``SEED``), so a report is byte-for-byte reproducible.
  2000 is above the 1000 that Efron & Tibshirani recommend for percentile intervals; scipy's 9999 would make the
  report 5x slower for a Monte Carlo error far below the seed-to-seed spread.
  Percentile rather than BCa because BCa needs a jackknife that is undefined for 2-3 seeds (the usual count here)
  and returns NaN for identical values; the percentile interval is defined for any n >= 2.
* The unit of resampling is the **seed** (one value per seed, runs repeated with one seed averaged first): seeds
  are the independent replicates of a training. With one seed there is no interval over seeds; the report says
  ``n=1`` instead of inventing one.
* Spearman p-values are exact (all pairings enumerated) for up to 7 buckets, where the usual t approximation is
  badly wrong (it reports p = 0 for three perfectly ordered buckets; the exact two-sided p is 1/3).
* Identical values give a zero-width interval (returned directly: there is nothing to resample).
* A difference of two variants resamples each variant's seeds independently (the seeds of SFT and GRPO are
  different trainings, not pairs). With one seed per variant, per-bucket gains fall back to resampling the
  evaluation **samples** (paired by sample id when both runs scored the same samples), and the table says so.
* The study's findings use a **two-level bootstrap** (``two_level``) when per-sample scores are stored: each
  resample draws every variant's seeds with replacement (level 1: training variance) and, independently, one
  resample of the evaluation images shared by all runs (level 2: evaluation variance), stratified by complexity
  bucket. Sharing the image draw keeps the comparison paired over the same images (an image that every model
  finds hard is hard in both arms), and resampling seeds keeps the training variance that a one-run-per-arm
  paired interval leaves out. The interval is the percentile interval of the statistic over ``N_RESAMPLES``
  resamples; the two variance components (seeds only, images only) are kept for the power notes. The seed level
  also sees each run's own evaluation noise (a run's mean over N images varies by itself), so that level errs
  wide; with few seeds the percentile interval of the seed level errs narrow (3 seeds
  resampled cover (3-1)/3 of their variance), which the two roughly offset (coverage measured in
  tests/report/test_two_level.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
EXACT_MAX_N = 7  # 7! = 5040 permutations: exact Spearman p-values are cheap up to here


@dataclass(frozen=True)
class Estimate:
    """A mean (or a difference of means) with its interval; ``lo``/``hi`` are None when no interval exists."""

    value: float
    lo: float | None
    hi: float | None
    n: int
    basis: str = "seeds"  # what was resampled: seeds | samples | seeds+samples | none
    n_samples: int = 0  # evaluation images behind a two-level estimate (0: not a per-sample estimate)
    var_seed: float | None = None  # two-level: variance of the statistic when only the seeds are resampled
    var_sample: float | None = None  # two-level: variance when only the images are resampled
    metric_value: float | None = None  # the same statistic on the run-level metric, when ``value`` is a proxy

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _interval(data: tuple[np.ndarray, ...], statistic: object) -> tuple[float | None, float | None]:
    from scipy.stats import bootstrap

    res = bootstrap(
        data, statistic, confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES, method="percentile",
        vectorized=True, random_state=np.random.default_rng(SEED),
    )  # fmt: skip
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None, None
    return lo, hi


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _diff_of_means(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def mean_ci(values: Sequence[float] | np.ndarray, *, basis: str = "seeds") -> Estimate | None:
    """Mean of per-seed values with a 95% bootstrap interval (None for no finite value; no interval for n=1)."""
    arr = _finite(values)
    if arr.size == 0:
        return None
    mean = float(arr.mean())
    if arr.size == 1:
        return Estimate(mean, None, None, 1, "none")
    if np.all(arr == arr[0]):
        v = float(arr[0])  # exact, not a float sum divided by n
        return Estimate(v, v, v, int(arr.size), basis)
    lo, hi = _interval((arr,), _mean)
    return Estimate(mean, lo, hi, int(arr.size), basis)


def diff_ci(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, basis: str = "seeds"
            ) -> Estimate | None:
    """mean(a) - mean(b), resampling a and b independently; no interval unless both have n >= 2."""
    xa, xb = _finite(a), _finite(b)
    if xa.size == 0 or xb.size == 0:
        return None
    value = float(xa.mean() - xb.mean())
    n = int(min(xa.size, xb.size))
    if n < 2:
        return Estimate(value, None, None, n, "none")
    if np.all(xa == xa[0]) and np.all(xb == xb[0]):
        return Estimate(value, value, value, n, basis)
    lo, hi = _interval((xa, xb), _diff_of_means)
    return Estimate(value, lo, hi, n, basis)


def paired_diff_ci(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Estimate | None:
    """Mean of (a_i - b_i) over paired samples with a bootstrap interval (the per-sample fallback)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(xa) & np.isfinite(xb)
    est = mean_ci(xa[keep] - xb[keep], basis="samples")
    return est if est is None or est.n > 1 else Estimate(est.value, None, None, est.n, "none")


def two_level(mats: Sequence[np.ndarray], groups: np.ndarray | None = None, *,
              statistic: Callable[[list[np.ndarray]], np.ndarray] | None = None, n_resamples: int = N_RESAMPLES,
              seed: int = SEED, metric_value: float | None = None) -> Estimate | None:
    """Two-level bootstrap of a statistic of several variants' per-sample scores on the same images.

    ``mats[i]`` is variant i's scores, shape (seeds_i, images), every row scored on the same images in the same
    column order. ``groups`` (ints, one per image; default all 0) stratifies the image resampling (complexity
    buckets). The statistic receives, per variant, an array (resamples, groups) of the group means averaged over
    the drawn seeds, and returns one value per resample; the default is mats[0] - mats[1] over all images (the
    group means weighted by group size, so stratifying changes the resampling, not what is estimated).
    Level 1 draws each variant's seeds with replacement, independently; level 2 draws the images within each
    group with replacement, once per resample, shared by all variants (paired over images). Deterministic for a
    given ``seed``. Returns None when a variant has no seeds or no images, or the statistic is not finite.
    """
    arrs = [np.asarray(m, dtype=float) for m in mats]
    if not arrs or any(a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0 for a in arrs):
        return None
    n_img = arrs[0].shape[1]
    if any(a.shape[1] != n_img for a in arrs):
        raise ValueError("two_level: every variant must be scored on the same images")
    g = np.zeros(n_img, dtype=int) if groups is None else np.asarray(groups, dtype=int)
    labels = np.unique(g)
    members = [np.flatnonzero(g == lab) for lab in labels]
    if statistic is None:  # mats[0] - mats[1] over all images: the group means weighted by the groups' sizes
        share = np.array([idx.size for idx in members], dtype=float) / n_img

        def stat(ms: list[np.ndarray]) -> np.ndarray:
            return (ms[0] - ms[1]) @ share
    else:
        stat = statistic
    full = [np.stack([a[:, idx].mean(axis=1) for idx in members], axis=1) for a in arrs]  # (seeds, groups)
    value_arr = np.asarray(stat([f.mean(axis=0, keepdims=True) for f in full]), dtype=float)
    if value_arr.size != 1 or not math.isfinite(float(value_arr.ravel()[0])):
        return None
    value = float(value_arr.ravel()[0])
    rng = np.random.default_rng(seed)
    # level 2: one stratified image draw per resample, as multinomial counts (weights) per group
    weights = [rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_resamples) for idx in members]
    # per variant and seed, the weighted group means under each image draw: (seeds, resamples, groups)
    per_seed = [np.stack([(a[:, idx] @ w.T) / idx.size for idx, w in zip(members, weights, strict=True)], axis=2)
                for a in arrs]
    # level 1: each variant's seeds drawn with replacement, as counts
    seed_counts = [np.stack([np.bincount(rng.integers(0, a.shape[0], a.shape[0]), minlength=a.shape[0])
                             for _ in range(n_resamples)]) / a.shape[0] for a in arrs]  # (resamples, seeds)

    def combine(use_seeds: bool, use_images: bool) -> np.ndarray:
        ms = []
        for a, f, ps, c in zip(arrs, full, per_seed, seed_counts, strict=True):
            k = a.shape[0]
            # (seeds, resamples, groups): the drawn images' means, or every image's when images are not drawn
            vals = ps if use_images else np.broadcast_to(f[:, None, :], (k, n_resamples, f.shape[1]))
            cw = c if use_seeds else np.full((n_resamples, k), 1.0 / k)
            ms.append(np.einsum("rk,krg->rg", cw, vals))
        return np.asarray(stat(ms), dtype=float).ravel()

    both = combine(True, True)
    both = both[np.isfinite(both)]
    if both.size < 2:
        return Estimate(value, None, None, min(a.shape[0] for a in arrs), "none", n_img, metric_value=metric_value)
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = (float(x) for x in np.quantile(both, [alpha, 1 - alpha]))
    v_seed = float(np.nanvar(combine(True, False)))
    v_img = float(np.nanvar(combine(False, True)))
    k_min = min(a.shape[0] for a in arrs)
    basis = "seeds+samples" if max(a.shape[0] for a in arrs) > 1 else "samples"
    n = k_min if basis != "samples" else n_img  # with one seed per variant the images are the replicates
    return Estimate(value, lo, hi, n, basis, n_img, v_seed, v_img, metric_value)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Spearman's rho and its two-sided p-value; None when undefined (< 3 points or a constant series).

    Up to ``EXACT_MAX_N`` points (buckets are usually 3-5) the p-value is exact by enumerating every pairing;
    beyond that it is scipy's t approximation.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    if xa.size < 3 or np.all(xa == xa[0]) or np.all(ya == ya[0]):
        return None
    from scipy.stats import spearmanr

    rho = float(spearmanr(xa, ya).statistic)
    if not math.isfinite(rho):
        return None
    if xa.size <= EXACT_MAX_N:
        return rho, exact_spearman_p(xa, ya, rho)
    return rho, float(spearmanr(xa, ya).pvalue)


def exact_spearman_p(x: np.ndarray, y: np.ndarray, rho: float) -> float:
    """Two-sided exact p-value: the share of all n! pairings whose |rho| reaches the observed |rho|.

    The t approximation behind spearmanr's p-value says p = 0 for three perfectly ordered buckets; the exact
    answer is 1/3. Vectorised over the pairings (5040 at n = 7), so it costs well under a millisecond.
    """
    from itertools import permutations

    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    perms = np.array(list(permutations(ry)))
    cx = rx - rx.mean()
    cp = perms - perms.mean(axis=1, keepdims=True)
    rhos = (cp @ cx) / (np.sqrt((cp**2).sum(axis=1)) * np.sqrt((cx**2).sum()))
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def bucket_range(label: str) -> tuple[int, int | None] | None:
    """Object counts a bucket label covers: '1' -> (1, 1), '4-6' -> (4, 6), '11+' -> (11, None)."""
    text = str(label).strip()
    try:
        if text.endswith("+"):
            return int(text[:-1]), None
        if "-" in text:
            lo, hi = text.split("-", 1)
            return int(lo), int(hi)
        return int(text), int(text)
    except ValueError:
        return None


def complexity_of(ns: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Mean n!, mean ln n! and median n! of object counts; mean n! is computed in log space (inf past ~170)."""
    arr = np.asarray(ns, dtype=float)
    arr = arr[np.isfinite(arr) & (arr >= 0)]
    if arr.size == 0:
        return {"mean_fact": math.nan, "mean_log_fact": math.nan, "median_fact": math.nan}
    logs = np.array([math.lgamma(v + 1) for v in arr])
    peak = logs.max()
    log_mean = peak + math.log(np.mean(np.exp(logs - peak)))
    med_log = math.lgamma(float(np.median(arr)) + 1)
    return {"mean_fact": _exp(log_mean), "mean_log_fact": float(logs.mean()), "median_fact": _exp(med_log)}


def complexity_from_label(label: str) -> dict[str, float] | None:
    """Complexity of a bucket when no per-sample counts are stored: counts assumed uniform over its range.

    An open bucket ('11+') is taken as its lower edge only, which understates it; the caller says so.
    """
    rng = bucket_range(label)
    if rng is None:
        return None
    lo, hi = rng
    return complexity_of(np.arange(lo, (hi if hi is not None else lo) + 1))


def _exp(x: float) -> float:
    return math.exp(x) if x < 709 else math.inf
