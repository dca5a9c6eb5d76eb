"""The study's four findings, each a number with an interval and a verdict that follows from it.

Statistics (stated once; the report repeats them):

* Evaluation: every run of a variant is scored on the **same evaluation images** (the task's fixed eval split, the
  study's ``eval.n`` of them), and every image's score is stored (``samples``).
* Intervals: a **two-level bootstrap**, paired over images and accounting for training seeds. Each of 2000
  resamples (fixed generator) draws every variant's seeds with replacement (level 1: the seeds are independent
  trainings) and one resample of the evaluation images, stratified by complexity bucket and shared by all runs
  (level 2: paired, so an image every model finds hard is hard in both arms); the statistic (a difference of
  means, or a slope over buckets) is recomputed on the drawn seeds and images; the interval is the 2.5-97.5%
  percentile (``pr1bench.report.stats.two_level``). The per-sample measure is the primary metric's own per-sample
  form where it has one (exact count for counting, IoU >= 0.5 for grounding), else a per-sample proxy (per-image
  F1 at IoU 0.5 for detection's AP, 1 - NED for OCR's F1): a proxy line prints both means and decides only when
  the proxy and the metric itself differ in the same direction.
* With one seed per variant (the ``--quick`` form) level 1 has nothing to draw: the interval covers evaluation
  noise only, and the line says "training variance not included". Without stored per-sample scores (older runs)
  the interval resamples seeds only, each variant independently.
* Verdicts: a claim that A beats B (or that a slope is positive) is *reproduced* when the interval lies above 0,
  *not reproduced* when it lies below 0, otherwise *inconclusive*, with a power note: how many seeds (or images)
  would decide it at the measured effect and spread. "CoT does not help" is reproduced when the interval of
  CoT - no-CoT lies below the equivalence margin (default 0.02), not reproduced when it lies above 0.
* Floors (no vacuous verdicts): a comparison is *no signal*, never reproduced or not, when the untrained base
  scores below the metric's ``base`` floor (the task is beyond the model: GRPO's rewards carry no signal), or when
  every compared run lies within ``near`` of the metric's ``chance`` level (or of 0): nothing about the mechanism
  can be read off, however narrow the interval. Floors are per metric in the study file (``floors:``); the
  report lists the ones in effect.
* Overall verdict of a finding, from each task's verdict on its deciding line(s): tasks with *no signal* are
  listed but do not count (they can neither reproduce nor refute a finding); when no task has a signal the
  finding is *no signal*; when any task that counts is inconclusive the finding is *inconclusive*; when they all
  agree the finding takes their verdict; when they are decided but disagree it is *mixed*, and each task's
  verdict is given beside it. A task's verdict is formed from its own deciding lines by the same rule.
* The growth of the RL gain with complexity is the least-squares slope of (GRPO - SFT) per bucket against the
  bucket's mean ln(n!) (the paper's complexity measure), bootstrapped the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pr1bench.report.stats import (
    CONFIDENCE,
    N_RESAMPLES,
    SEED,
    Estimate,
    complexity_from_label,
    diff_ci,
    two_level,
)

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NO_SIGNAL, MIXED = "no signal", "mixed"


@dataclass(frozen=True)
class Floor:
    """When a comparison on a metric carries no signal (see the module docstring)."""

    base: float = 0.02  # the untrained base below this on the metric: no signal
    chance: float = 0.0  # the metric's chance level (e.g. 0.1 for guessing one count of 1-10)
    near: float = 0.01  # every compared run within this of chance (or of 0): no signal


DEFAULT_FLOOR = Floor()


@dataclass
class Line:
    """One measured comparison behind a finding."""

    task: str
    measure: str  # e.g. "acc, bucket 7-10 (greedy)"
    a: str
    b: str
    est: Estimate | None
    verdict: str
    note: str = ""
    a_value: float | None = None
    b_value: float | None = None
    decides: bool = True  # greedy lines decide the verdict; sampled-reward lines are reported beside them


@dataclass
class Finding:
    key: str
    claim: str
    lines: list[Line] = field(default_factory=list)
    verdict: str = INCONCLUSIVE
    sentence: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyData:
    """Per-run values of a study, one row per (run, metric, bucket), plus per-sample scores."""

    metrics: Any  # DataFrame: key, arm, task, variant, seed, run_id, metric, bucket, value
    samples: Any  # DataFrame: run_id, sample_id, bucket, score
    primary: dict[str, str]
    seeds: list[int]
    floor: float = 0.01  # the study's signal_floor: the default ``near`` of every metric's floor
    floors: dict[str, Floor] = field(default_factory=dict)  # per metric ("default" for the rest)
    curves: Any = None  # DataFrame: run_id, phase, step, name, value, time (train_metrics: eval/*, reward, loss)
    _by_run: dict[str, Any] = field(default_factory=dict, repr=False)

    def floor_of(self, metric: str) -> Floor:
        if metric in self.floors:
            return self.floors[metric]
        if "default" in self.floors:
            return self.floors["default"]
        return Floor(near=self.floor)

    def base_value(self, task: str) -> float | None:
        """The untrained base's primary metric on the task (all images), None without a base run."""
        v = values_of(self, arm="main", task=task, variant="base", metric=self.primary.get(task, ""))
        return float(np.mean(v)) if v.size else None


def current_runs(name: str, quick: bool | None = None) -> tuple[str, list[Any]]:
    """A study's current runs as a SQL subquery and its parameters: the newest completed run per study key.

    A re-run replaces the run it supersedes (every table of the report and every finding reads these); a run
    without a key stands alone. ``quick`` None takes both forms.
    """
    cond = "json_extract_string(config, '$.run.study.name') = ?"
    params: list[Any] = [name]
    if quick is not None:
        cond += " AND coalesce(json_extract(config, '$.run.study.quick')::BOOLEAN, false) = ?"
        params.append(quick)
    return (f"""(SELECT * FROM runs WHERE status = 'completed' AND {cond}
        QUALIFY row_number() OVER (PARTITION BY coalesce(json_extract_string(config, '$.run.study.key'), run_id)
                                   ORDER BY ended_at DESC, run_id DESC) = 1)""", params)


def load(name: str, *, quick: bool | None = None) -> StudyData:
    """Read a study's completed runs from DuckDB (the newest completed run per key)."""
    import pandas as pd

    from pr1bench.paths import db_path
    from pr1bench.report.data import primary_metrics
    from pr1bench.store.connection import NoResultsError
    from pr1bench.store.queries import query

    hint = f"`pr1bench study run {name}{' --quick' if quick else ''}`"
    if not db_path().is_file():
        raise NoResultsError(f"no results database at {db_path()}; run {hint} first")
    current, params = current_runs(name, quick)
    runs = query(f"""
        SELECT r.run_id, r.task, r.variant, r.seed,
               json_extract_string(r.config, '$.run.study.arm') AS arm,
               json_extract_string(r.config, '$.run.study.key') AS key
        FROM {current} r
    """, params)
    if runs.empty:
        raise NoResultsError(f"no completed runs of study {name!r}{' (quick form)' if quick else ''} in the "
                             f"database; run {hint} first")
    ids = list(runs["run_id"])
    ph = ",".join("?" * len(ids))
    m = query(f"SELECT run_id, metric, bucket, value, n FROM eval_metrics WHERE split = 'eval' AND run_id IN ({ph})",
              ids)
    curves = query(f"""SELECT run_id, phase, step, name, value, time FROM train_metrics
                       WHERE run_id IN ({ph}) AND (name LIKE 'eval/%' OR name IN ('reward', 'loss'))""", ids)
    s = query(f"""SELECT run_id, sample_id, bucket, n, score, correct::DOUBLE AS correct,
                         TRY_CAST(json_extract(parsed, '$.count') AS DOUBLE) AS pred_count,
                         CASE WHEN parsed IS NULL THEN NULL
                              ELSE coalesce(json_array_length(parsed, '$.boxes'), 0) END AS pred_boxes
                  FROM samples WHERE split = 'eval' AND run_id IN ({ph})""", ids)
    metrics = m.merge(runs, on="run_id")
    tasks = sorted(set(runs["task"]))
    return StudyData(metrics=metrics, samples=s if not s.empty else pd.DataFrame(
        columns=["run_id", "sample_id", "bucket", "n", "score", "correct", "pred_count", "pred_boxes"]),
        primary=primary_metrics(tasks),
        seeds=sorted({int(x) for x in runs["seed"]}), curves=curves)


# ----------------------------------------------------------------------------------------------- helpers


def values_of(d: StudyData, *, arm: str, task: str, variant: str, metric: str, bucket: str = "all") -> np.ndarray:
    df = d.metrics
    sel = df[(df.arm == arm) & (df.task == task) & (df.variant == variant) & (df.metric == metric)
             & (df.bucket == bucket)]
    sel = sel.sort_values("seed")
    return sel["value"].to_numpy(dtype=float)


def _run_ids(d: StudyData, *, arm: str, task: str, variant: str) -> list[str]:
    df = d.metrics
    sel = df[(df.arm == arm) & (df.task == task) & (df.variant == variant)].sort_values("seed")
    return list(dict.fromkeys(sel["run_id"]))


SAMPLE_MEASURE = {"counting": "correct", "grounding": "correct"}
SAMPLE_LABEL = {"counting": "exact count", "grounding": "IoU >= 0.5", "detection": "per-image F1 at IoU 0.5",
                "ocr": "1 - NED"}
"""Per-sample measure of the sample-level fallback: the primary metric's own per-sample form where it has one
(exact count; IoU >= 0.5), else ``score`` (per-image F1 at IoU 0.5 for detection, 1 - NED for OCR)."""


def _run_samples(d: StudyData, run_id: str) -> Any:
    if not d._by_run:
        d._by_run.update({str(k): g.drop_duplicates("sample_id").set_index("sample_id", drop=False)
                          for k, g in d.samples.groupby("run_id")})
    got = d._by_run.get(run_id)
    return got if got is not None else d.samples.iloc[0:0].set_index("sample_id", drop=False)


def _scores(d: StudyData, run_id: str, bucket: str | None = None, measure: str = "score") -> Any:
    s = _run_samples(d, run_id)
    if bucket is not None:
        s = s[s.bucket == bucket]
    return s[measure].astype(float)


def _sample_mats(d: StudyData, groups: list[list[str]], measure: str, bucket: str | None = None
                 ) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Per group of runs, a (runs, images) matrix of per-sample scores on the images every run scored.

    Returns (matrices, bucket label per image column) or None when a group is empty, a run has no stored
    samples, or the runs share fewer than 2 images.
    """
    if d.samples.empty or any(not g for g in groups):
        return None
    series = [[_scores(d, r, bucket, measure) for r in g] for g in groups]
    if any(s.empty for g in series for s in g):
        return None
    common = None
    for g in series:
        for s in g:
            common = s.index if common is None else common.intersection(s.index)
    if common is None or len(common) < 2:
        return None
    common = common.sort_values()
    mats = [np.stack([s.loc[common].to_numpy(dtype=float) for s in g]) for g in series]
    labels = _run_samples(d, groups[0][0]).loc[common, "bucket"].astype(str).to_numpy()
    return mats, labels


def _mean_diff(va: np.ndarray, vb: np.ndarray) -> float | None:
    return float(np.mean(va) - np.mean(vb)) if va.size and vb.size else None


def compare(d: StudyData, *, task: str, metric: str, a: str, b: str, arm_a: str = "main", arm_b: str = "main",
            bucket: str = "all") -> tuple[Estimate | None, np.ndarray, np.ndarray, str]:
    """a - b with its interval; returns (est, values a, values b, basis).

    The two-level bootstrap (seeds, then images shared by both arms) on the per-sample measure when every run
    stored its samples; else the interval over seeds alone. The sampled reward has no per-sample record: seeds.
    """
    va = values_of(d, arm=arm_a, task=task, variant=a, metric=metric, bucket=bucket)
    vb = values_of(d, arm=arm_b, task=task, variant=b, metric=metric, bucket=bucket)
    seed_est = diff_ci(va, vb) if va.size and vb.size else None
    seed_basis = "seeds" if seed_est is not None and seed_est.has_interval else "none"
    if metric.startswith("reward_sampled") or d.samples.empty:
        return seed_est, va, vb, seed_basis
    measure = SAMPLE_MEASURE.get(task, "score")
    ids_a = _run_ids(d, arm=arm_a, task=task, variant=a)
    ids_b = _run_ids(d, arm=arm_b, task=task, variant=b)
    got = _sample_mats(d, [ids_a, ids_b], measure, None if bucket == "all" else bucket)
    if got is None:
        return seed_est, va, vb, seed_basis
    (ma, mb), labels = got
    proxy = task not in SAMPLE_MEASURE  # the metric is not the mean of the per-sample measure
    strata = np.unique(labels, return_inverse=True)[1]  # images resampled within their complexity bucket
    est = two_level([ma, mb], strata, metric_value=_mean_diff(va, vb) if proxy else None)
    if est is None or not est.has_interval:
        return seed_est, va, vb, seed_basis
    bits = []
    if max(ma.shape[0], mb.shape[0]) < 2:
        bits.append("1 seed: training variance not included")
    if proxy:
        label = SAMPLE_LABEL.get(task, measure)
        label = label if label.startswith("per-") else f"per-sample {label}"
        bits.append(f"A - B is on {label} (means {ma.mean():.3f} vs {mb.mean():.3f}), not on {metric}")
    return est, va, vb, "; ".join(["two-level", *bits])


def as_floor(floor: float | Floor) -> Floor:
    """A bare number is the old ``signal_floor``: a ``near`` distance of 0, with no base floor."""
    return floor if isinstance(floor, Floor) else Floor(base=0.0, chance=0.0, near=float(floor))


def no_signal(va: np.ndarray, vb: np.ndarray, floor: float | Floor, base: float | None = None) -> str:
    """Why the compared values carry no signal ('' when they do): base below its floor, or all at chance/0."""
    fl = as_floor(floor)
    if base is not None and math.isfinite(base) and base < fl.base:
        return f"no signal: the base scores {base:.3f}, below the floor {fl.base:g}"
    vals = np.concatenate([np.asarray(va, float).ravel(), np.asarray(vb, float).ravel()])
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return ""
    dist = np.abs(vals - fl.chance)
    at = bool(np.all(dist < fl.near)) if fl.near > 0 else bool(np.all(dist == 0))
    if not at:
        return ""
    if fl.chance == 0:
        return (f"no signal: every run scored below {fl.near:g} on the metric" if fl.near > 0
                else "no signal: every run scored 0 on the metric")
    return f"no signal: every run within {fl.near:g} of chance ({fl.chance:g})"


def _undecidable(est: Estimate | None, va: np.ndarray, vb: np.ndarray, floor: float | Floor,
                 base: float | None = None, *, proxy_sign: bool = True) -> tuple[str, str]:
    """(verdict, why) when no verdict can be read off (no signal, missing runs, no interval, a proxy that disagrees
    with its metric), else ('', ''). ``proxy_sign=False`` leaves the last check to the caller."""
    why = no_signal(va, vb, floor, base)
    if why:
        return NO_SIGNAL, why
    if est is None:
        return INCONCLUSIVE, "missing runs"
    if not est.has_interval:
        return INCONCLUSIVE, f"no interval (n={est.n})"
    if proxy_sign:
        return _proxy_disagrees(est)
    return "", ""


def _proxy_disagrees(est: Estimate) -> tuple[str, str]:
    """INCONCLUSIVE when the metric itself moves the other way than the per-sample proxy its interval is on."""
    mv = est.metric_value
    if mv is not None and math.isfinite(mv) and est.value != 0 and mv != 0 and np.sign(mv) != np.sign(est.value):
        return INCONCLUSIVE, f"the metric itself moves the other way ({mv:+.3f}) than its per-sample proxy"
    return "", ""


def verdict_greater(est: Estimate | None, va: np.ndarray, vb: np.ndarray, floor: float | Floor = 0.0,
                    base: float | None = None, margin: float | None = None) -> tuple[str, str]:
    """Verdict for 'a > b' (or slope > 0). ``va``/``vb`` are the primary metric's values: when they sit at the floor
    the metric carries no signal and no proxy interval (per-sample F1, 1 - NED) may decide in its place.

    With a ``margin`` (the study's ``superiority_margin``, metric units) the claim is "a beats b by a meaningful
    amount": an interval entirely below the margin rules out a gain of that size and reads not reproduced, as
    an interval below 0 does; without one only an interval below 0 does. A proxy interval below the margin whose
    metric also stays below it rules the gain out whichever way the two lean inside it; every other verdict still
    needs the proxy and its metric to agree."""
    v, why = _undecidable(est, va, vb, floor, base, proxy_sign=False)
    if v or est is None:
        return v or INCONCLUSIVE, why
    disagree = _proxy_disagrees(est)
    mv = est.metric_value
    metric_below = mv is None or not math.isfinite(mv) or (margin is not None and mv < margin)
    if margin is not None and est.hi is not None and est.hi < margin and not (est.lo or 0) > 0 and metric_below:
        if est.hi < 0 and not disagree[0]:
            return NOT_REPRODUCED, ""
        return NOT_REPRODUCED, f"upper bound below the margin {margin:g}: no gain of that size"
    if disagree[0]:
        return disagree
    if est.lo is not None and est.lo > 0:
        return REPRODUCED, ""
    if est.hi is not None and est.hi < 0:
        return NOT_REPRODUCED, ""
    return INCONCLUSIVE, "; ".join(x for x in ("interval contains 0", power_hint(est, 0.0)) if x)


def verdict_not_better(est: Estimate | None, va: np.ndarray, vb: np.ndarray, margin: float,
                       floor: float | Floor = 0.0, base: float | None = None) -> tuple[str, str]:
    """Verdict for 'a does not help over b': a - b stays below the equivalence margin."""
    v, why = _undecidable(est, va, vb, floor, base)
    if v or est is None:
        return v or INCONCLUSIVE, why
    if est.lo is not None and est.lo > 0:
        return NOT_REPRODUCED, "CoT is better"
    if est.hi is not None and est.hi < margin:
        return REPRODUCED, f"upper bound below the margin {margin:g}"
    return INCONCLUSIVE, "; ".join(x for x in (f"interval reaches above the margin {margin:g}",
                                               power_hint(est, margin)) if x)


#: z for a two-sided 95% interval and for 80% power: n grows by ((z_a + z_b) / z_a)^2 over "interval just clears".
Z_ALPHA, Z_POWER = 1.96, 0.84


def power_hint(est: Estimate | None, bound: float) -> str:
    """How many seeds (or evaluation samples) would decide an undecided comparison, from its measured spread.

    The interval's half-width shrinks as 1/sqrt(n). For the interval to clear ``bound`` (0 for "A beats B", the
    equivalence margin for "CoT does not help") with 80% power at the measured effect, n must reach
    n * (half-width / |effect - bound|)^2 * ((1.96 + 0.84) / 1.96)^2. For a two-level interval the variance is
    split into its seed and image parts (measured by resampling each alone): seeds are added at today's number
    of images while that can work, else both are scaled. An estimate, not a promise: it takes the observed effect
    as the truth, and with 3 seeds the spread itself is uncertain.
    """
    if est is None or not est.has_interval or est.n < 1 or est.lo is None or est.hi is None:
        return ""
    half = (est.hi - est.lo) / 2
    gap = abs(est.value - bound)
    if half <= 0:
        return ""
    two = est.basis == "seeds+samples" and est.var_seed is not None and est.var_sample is not None
    if not two and est.n < 2:
        return ""
    if gap < 0.05 * half:
        unit = "seeds or images" if two else ("seeds per variant" if est.basis == "seeds" else "eval samples")
        return f"the measured effect sits at {bound:g}: no feasible number of {unit} decides it (power estimate)"
    factor = (half / gap) ** 2 * ((Z_ALPHA + Z_POWER) / Z_ALPHA) ** 2  # how much the variance must shrink
    if not two:
        unit = "seeds per variant" if est.basis == "seeds" else "eval samples"
        need = math.ceil(est.n * factor)
        return f"power estimate: ~{need} {unit} (now {est.n}) would decide it at the measured effect and spread"
    vs, vi = max(est.var_seed or 0.0, 0.0), max(est.var_sample or 0.0, 0.0)
    total = vs + vi
    if total <= 0:
        return ""
    p_seed, p_img = vs / total, vi / total
    k0, n0 = est.n, max(est.n_samples, 1)
    if p_seed < 0.01:  # the seeds agree: only more images narrow it
        return (f"power estimate: ~{math.ceil(n0 * factor)} eval images (now {n0}; the seeds agree) would decide "
                f"it at the measured effect and spread")
    room = 1.0 / factor - p_img
    if room > 0:
        k = max(k0 + 1, math.ceil(k0 * p_seed / room))
        return (f"power estimate: ~{k} seeds per variant at {n0} images (now {k0}) would decide it at the "
                f"measured effect and spread")
    k = max(k0 + 1, math.ceil(2 * factor * p_seed * k0))
    n = max(n0 + 1, math.ceil(2 * factor * p_img * n0))
    return (f"power estimate: evaluation noise alone is too wide at {n0} images: ~{n} images and ~{k} seeds per "
            f"variant (now {k0}) would decide it at the measured effect and spread")


def combine_verdicts(verdicts: list[str]) -> str:
    """The rule for an overall verdict (see the module docstring): no-signal entries do not count; any
    inconclusive one makes it inconclusive; agreement gives the common verdict; decided disagreement is mixed."""
    counted = [v for v in verdicts if v != NO_SIGNAL]
    if not counted:
        return NO_SIGNAL if verdicts else INCONCLUSIVE
    if any(v == INCONCLUSIVE or v not in (REPRODUCED, NOT_REPRODUCED, MIXED) for v in counted):
        return INCONCLUSIVE
    if len(set(counted)) == 1:
        return counted[0]
    return MIXED


def task_verdicts(lines: list[Line]) -> dict[str, str]:
    """Each task's verdict on its deciding lines (combined by ``combine_verdicts``)."""
    per: dict[str, list[str]] = {}
    for ln in lines:
        if ln.decides:
            per.setdefault(ln.task, []).append(ln.verdict)
    return {t: combine_verdicts(vs) for t, vs in per.items()}


def combine(lines: list[Line]) -> str:
    """Overall verdict from the deciding lines: each task's verdict first, then the tasks' by the same rule."""
    return combine_verdicts(list(task_verdicts(lines).values()))


def _has(d: StudyData, task: str, metric: str) -> bool:
    df = d.metrics
    return bool(((df.task == task) & (df.metric == metric)).any())


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if x.size else None


# ----------------------------------------------------------------------------------------------- slopes


def _bucket_x(labels: list[str]) -> np.ndarray:
    xs = []
    for lb in labels:
        c = complexity_from_label(lb)
        xs.append(c["mean_log_fact"] if c else math.nan)
    return np.asarray(xs, dtype=float)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc**2).sum())


def buckets_of(d: StudyData, task: str) -> list[str]:
    labels = sorted({b for b in d.metrics[d.metrics.task == task]["bucket"] if b != "all"},
                    key=lambda lb: _bucket_x([lb])[0])
    return labels


def gain_matrix(d: StudyData, *, task: str, arm: str, metric: str, labels: list[str], variant: str = "grpo",
                ref: str = "sft") -> tuple[np.ndarray, np.ndarray]:
    """Per-seed per-bucket values of the two variants: arrays (seeds, buckets)."""
    def mat(v: str) -> np.ndarray:
        cols = [values_of(d, arm=arm, task=task, variant=v, metric=metric, bucket=b) for b in labels]
        n = min((c.size for c in cols), default=0)
        return np.stack([c[:n] for c in cols], axis=1) if n else np.zeros((0, len(labels)))

    return mat(variant), mat(ref)


def slope_estimate(g: np.ndarray, s: np.ndarray, x: np.ndarray, *, rng_seed: int = SEED) -> Estimate | None:
    """Slope of mean(g) - mean(s) per bucket vs x, seeds of g and s resampled independently."""
    if g.shape[0] == 0 or s.shape[0] == 0:
        return None
    value = _slope(x, g.mean(axis=0) - s.mean(axis=0))
    if not math.isfinite(value):
        return None
    n = int(min(g.shape[0], s.shape[0]))
    if n < 2:
        return Estimate(value, None, None, n, "none")
    rng = np.random.default_rng(rng_seed)
    gi = rng.integers(0, g.shape[0], size=(N_RESAMPLES, g.shape[0]))
    si = rng.integers(0, s.shape[0], size=(N_RESAMPLES, s.shape[0]))
    diffs = g[gi].mean(axis=1) - s[si].mean(axis=1)  # (R, buckets)
    slopes = np.array([_slope(x, row) for row in diffs])
    lo, hi = _quantiles(slopes)
    return Estimate(value, lo, hi, n, "seeds")


def slope_diff_estimate(pairs: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> Estimate | None:
    """slope(arm 1) - slope(arm 2) for [(g1, s1), (g2, s2)], all four seed sets resampled independently."""
    (g1, s1), (g2, s2) = pairs
    if min(a.shape[0] for a in (g1, s1, g2, s2)) == 0:
        return None
    value = _slope(x, g1.mean(0) - s1.mean(0)) - _slope(x, g2.mean(0) - s2.mean(0))
    n = int(min(a.shape[0] for a in (g1, s1, g2, s2)))
    if n < 2 or not math.isfinite(value):
        return Estimate(value, None, None, n, "none") if math.isfinite(value) else None
    rng = np.random.default_rng(SEED)
    out = []
    for _ in range(N_RESAMPLES):
        m = [a[rng.integers(0, a.shape[0], a.shape[0])].mean(0) for a in (g1, s1, g2, s2)]
        out.append(_slope(x, m[0] - m[1]) - _slope(x, m[2] - m[3]))
    lo, hi = _quantiles(np.asarray(out))
    return Estimate(float(value), lo, hi, n, "seeds")


def paired_gains(d: StudyData, g_ids: list[str], s_ids: list[str], labels: list[str], measure: str
                 ) -> list[np.ndarray] | None:
    """Per bucket, the per-sample differences GRPO - SFT (runs paired seed by seed, samples by id)."""
    per: list[np.ndarray] = []
    for b in labels:
        diffs = []
        for g_id, s_id in zip(g_ids, s_ids, strict=False):
            sg, ss = _scores(d, g_id, b, measure), _scores(d, s_id, b, measure)
            both = sg.index.intersection(ss.index)
            diffs.append((sg.loc[both] - ss.loc[both]).to_numpy(dtype=float))
        per.append(np.concatenate(diffs) if diffs else np.zeros(0))
    return None if any(p.size == 0 for p in per) else per


def _resampled_slopes(per: list[np.ndarray], x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([_slope(x, np.array([p[rng.integers(0, p.size, p.size)].mean() for p in per]))
                     for _ in range(N_RESAMPLES)])


def _quantiles(arr: np.ndarray) -> tuple[float, float]:
    arr = arr[np.isfinite(arr)]
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(arr, [alpha, 1 - alpha])
    return float(lo), float(hi)


def sample_slope_estimate(per: list[np.ndarray], x: np.ndarray) -> Estimate | None:
    """Slope of the mean paired gain per bucket, samples resampled within buckets."""
    value = _slope(x, np.array([p.mean() for p in per]))
    if not math.isfinite(value):
        return None
    lo, hi = _quantiles(_resampled_slopes(per, x, np.random.default_rng(SEED)))
    return Estimate(value, lo, hi, int(sum(p.size for p in per)), "samples")


def sample_slope_diff(per_a: list[np.ndarray], per_b: list[np.ndarray], x: np.ndarray) -> Estimate | None:
    """slope(arm a) - slope(arm b) of paired per-sample gains; each arm's samples resampled independently."""
    value = _slope(x, np.array([p.mean() for p in per_a])) - _slope(x, np.array([p.mean() for p in per_b]))
    if not math.isfinite(value):
        return None
    rng = np.random.default_rng(SEED)
    diffs = _resampled_slopes(per_a, x, rng) - _resampled_slopes(per_b, x, rng)
    lo, hi = _quantiles(diffs)
    return Estimate(value, lo, hi, int(sum(p.size for p in per_a)), "samples")


# ----------------------------------------------------------------------------------------------- findings


def f_rl_beats_sft(d: StudyData, high: dict[str, str], margin: float | None = None) -> Finding:
    f = Finding("rl_beats_sft", "RL (GRPO) beats SFT on high-complexity tasks")
    for task, bucket in high.items():
        metric = d.primary[task]
        est, va, vb, basis = compare(d, task=task, metric=metric, a="grpo", b="sft", bucket=bucket)
        v, why = verdict_greater(est, va, vb, *_rules(d, task, metric), margin=margin)
        f.lines.append(Line(task, f"{metric}, bucket {bucket} (greedy)", "grpo", "sft", est, v,
                            _note(why, basis), _mean(va), _mean(vb)))
        est, va, vb, basis = compare(d, task=task, metric=metric, a="grpo", b="sft")
        v, why = verdict_greater(est, va, vb, *_rules(d, task, metric), margin=margin)
        f.lines.append(Line(task, f"{metric}, all (greedy)", "grpo", "sft", est, v, _note(why, basis),
                            _mean(va), _mean(vb), decides=False))
        est, va, vb, basis = compare(d, task=task, metric="reward_sampled", a="grpo", b="sft")
        v, why = verdict_greater(est, va, vb, *_rules(d, task, "reward_sampled"))
        f.lines.append(Line(task, "reward, all (sampled)", "grpo", "sft", est, v, _note(why, basis), _mean(va),
                            _mean(vb), decides=False))
    f.verdict = combine(f.lines)
    return f


def f_cot(d: StudyData, tasks: list[str], margin: float) -> Finding:
    f = Finding("cot_no_help", "CoT does not help perception (CoT-GRPO vs GRPO)")
    for task in tasks:
        metric = d.primary[task]
        est, va, vb, basis = compare(d, task=task, metric=metric, a="cot-grpo", b="grpo")
        v, why = verdict_not_better(est, va, vb, margin, *_rules(d, task, metric))
        f.lines.append(Line(task, f"{metric}, all (greedy)", "cot-grpo", "grpo", est, v, _note(why, basis),
                            _mean(va), _mean(vb)))
        sampled = "reward_sampled_task" if _has(d, task, "reward_sampled_task") else "reward_sampled"
        est, va, vb, basis = compare(d, task=task, metric=sampled, a="cot-grpo", b="grpo")
        v, why = verdict_not_better(est, va, vb, margin, *_rules(d, task, sampled))
        label = ("task reward terms, all (sampled; think-format term excluded)" if sampled == "reward_sampled_task"
                 else "reward, all (sampled; CoT adds the think-format term)")
        f.lines.append(Line(task, label, "cot-grpo", "grpo", est, v, _note(why, basis), _mean(va), _mean(vb),
                            decides=False))
    f.verdict = combine(f.lines)
    return f


def _slope_stat(x: np.ndarray, pairs: int) -> Any:
    """Vectorised statistic for ``two_level``: slope of (m0 - m1) over x, minus slope of (m2 - m3) when 2 pairs."""
    keep = np.isfinite(x)
    xc = x[keep] - x[keep].mean()
    den = float((xc**2).sum())

    def slope(diff: np.ndarray) -> np.ndarray:
        dd = diff[:, keep]
        return ((dd - dd.mean(axis=1, keepdims=True)) @ xc) / den if den > 0 else np.full(dd.shape[0], np.nan)

    def stat(ms: list[np.ndarray]) -> np.ndarray:
        out = slope(ms[0] - ms[1])
        return out - slope(ms[2] - ms[3]) if pairs == 2 else out

    return stat


def _two_level_slope(d: StudyData, task: str, arms: list[str], labels: list[str], x: np.ndarray,
                     metric_value: float | None) -> tuple[Estimate | None, int]:
    """Slope of the GRPO - SFT gain per bucket (or its random - sorted difference for two arms), two-level.

    Returns (estimate or None, fewest seeds of a variant)."""
    measure = SAMPLE_MEASURE.get(task, "score")
    groups = []
    for arm in arms:
        groups += [_run_ids(d, arm=arm, task=task, variant="grpo"), _run_ids(d, arm=arm, task=task, variant="sft")]
    got = _sample_mats(d, groups, measure)
    if got is None:
        return None, 0
    mats, img_labels = got
    index = {lb: i for i, lb in enumerate(labels)}
    cols = np.array([lb in index for lb in img_labels])
    if cols.sum() < 2:
        return None, 0
    g = np.array([index[lb] for lb in img_labels[cols]])
    present = sorted(set(g.tolist()))
    if len(present) < 2:
        return None, 0
    remap = {old: new for new, old in enumerate(present)}
    g = np.array([remap[v] for v in g])
    est = two_level([m[:, cols] for m in mats], g, statistic=_slope_stat(x[present], len(arms)),
                    metric_value=metric_value)
    return est, min(m.shape[0] for m in mats)


def f_gain_grows(d: StudyData, tasks: list[str], order_arm: str | None) -> Finding:
    f = Finding("gain_grows", "RL's gain over SFT grows with perceptual complexity")
    for task in tasks:
        metric = d.primary[task]
        labels = buckets_of(d, task)
        x = _bucket_x(labels)
        arms = [("main", "random order")] + ([(order_arm, "sorted order")] if order_arm else [])
        mats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        samples_of: dict[str, list[np.ndarray]] = {}  # arm -> per-bucket paired per-sample gains (old fallback)
        measure = SAMPLE_MEASURE.get(task, "score")
        label_m = SAMPLE_LABEL.get(task, measure)
        proxy = task not in SAMPLE_MEASURE
        two_ok: list[str] = []
        for arm, label in arms:
            g, s = gain_matrix(d, task=task, arm=arm, metric=metric, labels=labels)
            mats[arm] = (g, s)
            gi = _run_ids(d, arm=arm, task=task, variant="grpo")
            si = _run_ids(d, arm=arm, task=task, variant="sft")
            est = slope_estimate(g, s, x)
            basis, va, vb = "seeds", g.ravel(), s.ravel()
            mv = est.value if (proxy and est is not None) else None
            t_est, k = _two_level_slope(d, task, [arm], labels, x, mv)
            if t_est is not None and t_est.has_interval:
                two_ok.append(arm)
                est = t_est
                bits = ["two-level"]
                if k < 2:
                    bits.append("1 seed: training variance not included")
                if proxy:
                    lab = label_m if label_m.startswith("per-") else f"per-sample {label_m}"
                    bits.append(f"slope of the {lab} gain, not of {metric}")
                basis = "; ".join(bits)
            elif est is not None and (not est.has_interval or est.lo == est.hi) and not d.samples.empty:
                why = "1 seed" if min(len(gi), len(si)) < 2 else "identical seeds"
                per = paired_gains(d, gi, si, labels, measure)
                s_est = sample_slope_estimate(per, x) if per is not None else None
                if s_est is not None:
                    samples_of[arm] = per  # type: ignore[assignment]
                    est = s_est
                    basis = f"paired eval samples, per-sample {label_m} ({why}: training variance not included)"
            v, why = verdict_greater(est, va, vb, *_rules(d, task, metric))
            per_bucket = {b: (float(g[:, i].mean() - s[:, i].mean()) if g.size and s.size else None)
                          for i, b in enumerate(labels)}
            f.extra.setdefault(task, {})[label] = per_bucket
            f.lines.append(Line(task, f"slope of {metric} gain per unit mean ln(n!) ({label})", "grpo", "sft", est,
                                v, _note(why, basis), decides=arm == "main"))
        if order_arm and order_arm in mats and all(m[0].size and m[1].size for m in mats.values()):
            est = slope_diff_estimate([mats["main"], mats[order_arm]], x)
            flat = np.concatenate([a.ravel() for m in mats.values() for a in m])
            basis = "seeds" if est and est.has_interval else "none"
            if len(two_ok) == 2:
                mv = est.value if (proxy and est is not None) else None
                t_est, k = _two_level_slope(d, task, ["main", order_arm], labels, x, mv)
                if t_est is not None and t_est.has_interval:
                    est = t_est
                    basis = "two-level" + ("; 1 seed: training variance not included" if k < 2 else "")
            elif (est is None or not est.has_interval or est.lo == est.hi) and len(samples_of) == 2:
                est = sample_slope_diff(samples_of["main"], samples_of[order_arm], x)
                basis = f"paired eval samples, per-sample {label_m} (training variance not included)"
            v, why = verdict_greater(est, flat, np.zeros(0), *_rules(d, task, metric))
            f.lines.append(Line(task, "slope(random) - slope(sorted): the order mechanism", "random", "sorted", est,
                                v, _note(why, basis), decides=False))
    f.verdict = combine(f.lines)
    f.extra["x"] = "mean ln(n!) of each bucket (counts uniform within the bucket)"
    return f


def f_matching(d: StudyData, tasks: list[str], arm: str, margin: float | None = None) -> Finding:
    f = Finding("hungarian", "Hungarian matching beats sequential matching in the GRPO reward")
    for task in tasks:
        metric = d.primary[task]
        est, va, vb, basis = compare(d, task=task, metric=metric, a="grpo", b="grpo", arm_a="main", arm_b=arm)
        v, why = verdict_greater(est, va, vb, *_rules(d, task, metric), margin=margin)
        f.lines.append(Line(task, f"{metric}, all (greedy)", "hungarian", "sequential", est, v, _note(why, basis),
                            _mean(va), _mean(vb)))
        est, va, vb, basis = compare(d, task=task, metric="reward_sampled", a="grpo", b="grpo", arm_a="main",
                                     arm_b=arm)
        # each arm's sampled reward is scored with its own matching: sequential scores the same answer lower by
        # construction, so this line describes the two rewards, not which training worked better
        f.lines.append(Line(task, "reward, all (sampled; each arm scored with its own matching)", "hungarian",
                            "sequential", est, "not comparable", "the two arms' rewards differ by definition",
                            _mean(va), _mean(vb), decides=False))
    f.verdict = combine(f.lines)
    return f


def _note(why: str, basis: str) -> str:
    if basis.startswith("two-level"):  # the report's standard method: only its caveats are worth a note
        extra = basis[len("two-level"):].lstrip("; ")
        return "; ".join(b for b in (why, extra) if b)
    bits = [b for b in (why, f"interval over {basis}" if basis not in ("seeds", "none") else "") if b]
    return "; ".join(bits)


def _rules(d: StudyData, task: str, metric: str) -> tuple[Floor, float | None]:
    """The floor that applies to a line on ``metric`` of ``task``, and the base value it is checked against:
    chance and near come from the line's own metric, the base floor from the task's primary metric."""
    own = d.floor_of(metric)
    primary = d.floor_of(d.primary.get(task, metric))
    return Floor(base=primary.base, chance=own.chance, near=own.near), d.base_value(task)


def all_findings(d: StudyData, study: Any) -> list[Finding]:
    """The four findings for a loaded study (``study`` is its StudySpec)."""
    tasks = [t for t in study.tasks if t in d.primary]
    high = {t: b for t, b in study.high_complexity.items() if t in tasks}
    order_arm = next((n for n, ab in study.ablations.items() if "data.order" in ab.set), None)
    match_arm = next((n for n, ab in study.ablations.items() if "matching" in ab.set), None)
    grow_tasks = list(high) or tasks
    d.floor = float(getattr(study, "signal_floor", d.floor))
    resolve = getattr(study, "resolved_floors", None)
    if callable(resolve):
        d.floors = resolve()
    sup = getattr(study, "superiority_margin", None)
    out = [f_rl_beats_sft(d, high, sup), f_cot(d, tasks, study.equivalence_margin),
           f_gain_grows(d, grow_tasks, order_arm)]
    if match_arm:
        out.append(f_matching(d, study.ablations[match_arm].tasks, match_arm, sup))
    for f in out:
        f.sentence = sentence(f)
    return out


def fmt_est(est: Estimate | None, digits: int = 3) -> str:
    if est is None:
        return "n/a"
    v = f"{est.value:+.{digits}f}"
    if est.has_interval:
        return f"{v} [{est.lo:+.{digits}f}, {est.hi:+.{digits}f}]"
    return f"{v} (no interval, n={est.n})"


def sentence(f: Finding) -> str:
    """The finding as one sentence with its deciding numbers and intervals."""
    parts = [f"{ln.task}: {ln.a} - {ln.b} = {fmt_est(ln.est)} on {ln.measure} "
             f"({ln.note if ln.note.startswith(ln.verdict) else ln.verdict + ('; ' + ln.note if ln.note else '')})"
             for ln in f.lines if ln.decides]
    body = "; ".join(parts) if parts else "no runs to compare"
    per = task_verdicts(f.lines)
    split = f" ({'; '.join(f'{t}: {v}' for t, v in per.items())})" if len(set(per.values())) > 1 else ""
    return f"{f.claim}: {f.verdict.upper()} at this scale{split}. {body}."
