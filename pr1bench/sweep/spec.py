"""Sweep files (``sweeps/*.yaml``): schema, loading and validation before anything heavy runs.

A sweep is data: a base run spec, an objective, a sampler/pruner and a search space in Optuna's short
distribution form over dotted run-spec keys. Every error names the file, the key and the fix (with a "did you
mean"), and validation never imports torch, TRL or a model, so a bad file fails in well under a second instead of
after the first trial's accelerate start-up. See ``sweeps/detection.yaml`` for a commented example.
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pr1bench.paths import project_root
from pr1bench.registry import did_you_mean
from pr1bench.runspec import GRPO_DEFAULTS, apply_overrides, normalize_key, validate_run
from pr1bench.spec import VARIANTS, ConfigError, TaskSpec, load_task, load_yaml, pydantic_to_config_error

SWEEPS_ENV = "PR1BENCH_SWEEPS"
SAMPLERS = ("TPESampler", "GridSampler", "CmaEsSampler", "RandomSampler", "QMCSampler")
PRUNERS = (
    "MedianPruner",
    "HyperbandPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "NopPruner",
    "none",
)
EVAL_EXTRAS = ("sample_score", "parse_rate", "reward_greedy", "reward_sampled")
DEFAULT_TRIALS = 12
_FLOATISH = re.compile(
    r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)$"
)  # 1e-5: a string to PyYAML, a float to a human


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FloatDist(_Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = None


class IntDist(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)


class CategoricalDist(_Strict):
    type: Literal["categorical"]
    choices: list[None | bool | int | float | str]


Distribution = FloatDist | IntDist | CategoricalDist
_DISTS: dict[str, type[BaseModel]] = {"float": FloatDist, "int": IntDist, "categorical": CategoricalDist}


class ObjectiveSpec(_Strict):
    metric: str | None = Field(
        None, description="an eval.json metric key; default: the task's primary_metric"
    )
    direction: Literal["maximize", "minimize"] = "maximize"
    split: str = Field("eval", description="eval -> eval.json; other -> eval-<split>.json")


class ComponentSpec(_Strict):
    """An Optuna sampler or pruner by class name, with constructor keyword arguments."""

    name: str
    seed: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class StudySpec(_Strict):
    n_trials: int | None = Field(None, ge=1, description="finished trials to reach; default grid size or 12")
    sampler: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="TPESampler", seed=0))
    pruner: ComponentSpec | None = None
    max_retries: int = Field(1, ge=0, description="re-runs of a trial whose process died")


class SweepSpec(_Strict):
    """One sweep file, validated; ``search_space``/``enqueue`` keys are normalized dotted run-spec keys."""

    sweep: str
    description: str = ""
    version: int = Field(1, ge=1)
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    study: StudySpec = Field(default_factory=StudySpec)
    search_space: dict[str, Distribution] = Field(default_factory=dict)
    enqueue: list[dict[str, Any]] = Field(default_factory=list)
    path: str | None = Field(None, exclude=True)

    @property
    def task(self) -> str:
        return str(self.base["task"])

    @property
    def metric(self) -> str:
        assert self.objective.metric, "validate_sweep fills the metric"
        return self.objective.metric

    def is_grid(self) -> bool:
        return self.study.sampler.name == "GridSampler"

    def grid(self) -> dict[str, list[Any]]:
        """The GridSampler search space (each key's values); validation guarantees every key is discrete."""
        return {k: grid_values(d) for k, d in self.search_space.items()}

    def n_trials(self) -> int:
        if self.study.n_trials:
            return self.study.n_trials
        if self.is_grid():
            return math.prod(len(v) for v in self.grid().values())
        return DEFAULT_TRIALS


def grid_values(d: Distribution) -> list[Any]:
    if isinstance(d, CategoricalDist):
        return list(d.choices)
    if isinstance(d, IntDist):
        return list(range(d.low, d.high + 1, d.step))
    raise ValueError("float distributions have no grid")


# ----------------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------------


def sweeps_dir() -> Path:
    env = os.environ.get(SWEEPS_ENV)
    return Path(env) if env else project_root() / "sweeps"


def sweep_names() -> list[str]:
    d = sweeps_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if not p.name.startswith("_")) if d.is_dir() else []


def resolve_sweep_path(name_or_path: str) -> Path:
    """``detection`` -> ``sweeps/detection.yaml``; a path ending in .yaml is used as is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not p.is_file():
            raise ConfigError(p, None, "sweep file not found")
        return p
    cand = sweeps_dir() / f"{name_or_path}.yaml"
    if not cand.is_file():
        names = sweep_names()
        raise ConfigError(
            sweeps_dir(),
            None,
            f"unknown sweep {name_or_path!r}.{did_you_mean(name_or_path, names)} "
            f"Known: {', '.join(names) or '(none)'}.",
        )
    return cand


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def fix_floats(obj: Any) -> Any:
    """Turn ``"1e-5"`` (a string under YAML 1.1) into the float the author meant, recursively."""
    if isinstance(obj, str) and _FLOATISH.match(obj):
        return float(obj)
    if isinstance(obj, dict):
        return {k: fix_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fix_floats(v) for v in obj]
    return obj


def load_sweep(
    name_or_path: str, overrides: list[str] | dict[str, Any] | None = None
) -> tuple[SweepSpec, TaskSpec]:
    """Load, normalize and fully validate a sweep (with the CLI's trailing ``key=value`` overrides applied).

    Raises:
        ConfigError: naming the file, the key and the reason.
    """
    path = resolve_sweep_path(name_or_path)
    raw = fix_floats(load_yaml(path))
    if isinstance(raw.get("search_space"), dict):
        raw["search_space"] = _parse_space(raw["search_space"], path)
    for key in ("enqueue",):
        if isinstance(raw.get(key), list):
            raw[key] = [
                {normalize_key(k): v for k, v in e.items()} if isinstance(e, dict) else e for e in raw[key]
            ]
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as e:
        raise pydantic_to_config_error(e, path, SweepSpec) from None
    spec.path = str(path)
    if overrides:
        spec.base = apply_overrides(spec.base, overrides)
    task = validate_sweep(spec, path, overrides=overrides)
    return spec, task


def _parse_space(space: dict[str, Any], path: Path) -> dict[str, Any]:
    """Validate each distribution on its own so an error says ``search_space.trainer.beta.low``."""
    out: dict[str, Any] = {}
    for key, entry in space.items():
        where = f"search_space.{key}"
        if not isinstance(entry, dict):
            raise ConfigError(path, where, "expected {type: float|int|categorical, ...}")
        kind = entry.get("type")
        if kind not in _DISTS:
            raise ConfigError(
                path,
                f"{where}.type",
                f"unknown distribution type {kind!r}."
                f"{did_you_mean(str(kind), list(_DISTS))} Known: float, int, categorical.",
            )
        try:
            dist = _DISTS[kind].model_validate(entry)
        except ValidationError as e:
            err = pydantic_to_config_error(e, path, _DISTS[kind])
            raise ConfigError(path, f"{where}.{err.key}", err.reason) from None
        _check_dist(dist, path, where)
        out[normalize_key(str(key))] = dist
    return out


def _check_dist(d: BaseModel, path: Path, where: str) -> None:
    if isinstance(d, CategoricalDist):
        if not d.choices:
            raise ConfigError(path, f"{where}.choices", "must list at least one value")
        if len({repr(c) for c in d.choices}) != len(d.choices):
            raise ConfigError(path, f"{where}.choices", "lists a value twice")
        return
    assert isinstance(d, FloatDist | IntDist)
    if not d.low < d.high:
        raise ConfigError(path, f"{where}.low", f"low ({d.low}) must be < high ({d.high})")
    if d.log and d.low <= 0:
        raise ConfigError(path, f"{where}.low", f"a log distribution needs low > 0 (got {d.low})")
    if d.log and d.step not in (None, 1):
        raise ConfigError(path, f"{where}.step", "step cannot be combined with log: true")
    if isinstance(d, FloatDist) and not all(math.isfinite(x) for x in (d.low, d.high)):
        raise ConfigError(path, f"{where}.low", "bounds must be finite")


# ----------------------------------------------------------------------------------------------
# Validation against the task, the run spec and the sampler
# ----------------------------------------------------------------------------------------------


def validate_sweep(
    spec: SweepSpec, path: Path, *, overrides: list[str] | dict[str, Any] | None = None
) -> TaskSpec:
    """Check everything that can be checked without running: keys, values, metric, grid, group sizes."""
    if spec.sweep != path.stem:
        raise ConfigError(path, "sweep", f"must equal the file stem {path.stem!r} (got {spec.sweep!r})")
    if "task" not in spec.base:
        raise ConfigError(path, "base.task", "required key is missing (e.g. task: detection)")
    spec.base.setdefault("variant", "grpo")
    for key in ("sweep", "trial"):
        if key in spec.base:
            raise ConfigError(path, f"base.{key}", "is set by the sweep driver for each trial")
    try:
        task = load_task(str(spec.base["task"]))
    except ConfigError as e:
        raise ConfigError(path, "base.task", str(e)) from None
    _check_overrides_vs_space(spec, path, overrides)
    _check_variants(spec, path)
    for v in possible_variants(spec):
        _check_probe(spec, task, path, v)
    _check_objective(spec, task, path)
    _check_enqueue(spec, path)
    _check_study(spec, path)
    _check_groups(spec, path)
    return task


def possible_variants(spec: SweepSpec) -> list[str]:
    d = spec.search_space.get("variant")
    return [str(c) for c in d.choices] if isinstance(d, CategoricalDist) else [str(spec.base["variant"])]


def _check_overrides_vs_space(
    spec: SweepSpec, path: Path, overrides: list[str] | dict[str, Any] | None
) -> None:
    if not overrides:
        return
    keys = (
        overrides.keys() if isinstance(overrides, dict) else [o.split("=", 1)[0].strip() for o in overrides]
    )
    for k in keys:
        if normalize_key(k) in spec.search_space:
            raise ConfigError(
                path,
                f"search_space.{normalize_key(k)}",
                f"is swept, so the override {k}=... would "
                "be ignored; remove it from the command line (or from search_space)",
            )


def _check_variants(spec: SweepSpec, path: Path) -> None:
    for v, ov in spec.variants.items():
        if v not in VARIANTS:
            raise ConfigError(
                path,
                f"variants.{v}",
                f"unknown variant.{did_you_mean(v, list(VARIANTS))} Known: {', '.join(VARIANTS)}.",
            )
        if not isinstance(ov, dict):
            raise ConfigError(path, f"variants.{v}", "expected a mapping of dotted keys to values")
    for v in possible_variants(spec):
        if v not in VARIANTS or v == "base":
            raise ConfigError(
                path,
                "search_space.variant" if "variant" in spec.search_space else "base.variant",
                f"{v!r} is not a trainable variant.{did_you_mean(v, list(VARIANTS))} "
                "Known: sft, grpo, cot-grpo, sft-grpo.",
            )


def representatives(d: Distribution) -> list[Any]:
    """Values that exercise a distribution's extremes (all choices for a categorical)."""
    if isinstance(d, CategoricalDist):
        return list(d.choices)
    return [d.low, d.high]


def variant_raw(spec: SweepSpec, variant: str) -> dict[str, Any]:
    """Base, then the variant's own overrides, with the variant set: the starting point of a trial's spec."""
    raw = apply_overrides(spec.base, {"variant": variant})
    return apply_overrides(raw, spec.variants.get(variant, {}))


def _check_probe(spec: SweepSpec, task: TaskSpec, path: Path, variant: str) -> None:
    base = variant_raw(spec, variant)
    _validate_raw(base, task, path, "base" if variant not in spec.variants else f"variants.{variant}")
    for key, dist in spec.search_space.items():
        if key == "variant":
            continue
        for value in representatives(dist):
            _validate_raw(apply_overrides(base, {key: value}), task, path, f"search_space.{key}", value)


def _validate_raw(raw: dict[str, Any], task: TaskSpec, path: Path, where: str, value: Any = ...) -> None:
    from pr1bench.runspec import effective_task
    from pr1bench.trlkeys import check_trainer_keys

    try:
        run = validate_run(raw, task, check_trl=False)
        check_trainer_keys(run.trainer, "sft" if run.variant == "sft" else "grpo", "trainer")
        check_trainer_keys(run.sft_trainer, "sft", "sft_trainer")
        effective_task(run, task)
    except ConfigError as e:
        shown = "" if value is ... else f" (value {value!r}, variant {raw.get('variant')})"
        key = where if where.startswith("search_space") else f"{where}.{e.key}" if e.key else where
        raise ConfigError(
            path, key, f"{e.key}: {e.reason}{shown}" if where.startswith("search") else e.reason
        ) from None


def _check_objective(spec: SweepSpec, task: TaskSpec, path: Path) -> None:
    from pr1bench.perception import METRICS

    keys: list[str] = list(EVAL_EXTRAS)
    for m in task.metrics:
        try:
            keys += list(METRICS.get(m)([], []))
        except Exception:  # a metric that cannot run on nothing: accept any name at validation time
            return
    if spec.objective.metric is None:
        spec.objective.metric = task.primary_metric
    if spec.objective.metric not in keys:
        raise ConfigError(
            path,
            "objective.metric",
            f"task {task.task!r} reports no metric "
            f"{spec.objective.metric!r}.{did_you_mean(spec.objective.metric, keys)} Known: {', '.join(keys)}.",
        )


def _check_enqueue(spec: SweepSpec, path: Path) -> None:
    known = list(spec.search_space)
    for i, entry in enumerate(spec.enqueue):
        if not entry:
            raise ConfigError(path, f"enqueue.{i}", "an enqueued trial needs at least one key")
        for k, v in entry.items():
            if k not in spec.search_space:
                raise ConfigError(
                    path,
                    f"enqueue.{i}.{k}",
                    f"is not in search_space (enqueued values fix swept keys "
                    f"only).{did_you_mean(k, known)} Swept: {', '.join(known)}.",
                )
            if not contains(spec.search_space[k], v):
                raise ConfigError(path, f"enqueue.{i}.{k}", f"value {v!r} is outside its distribution")
        if spec.is_grid() and set(entry) != set(spec.search_space):
            raise ConfigError(
                path, f"enqueue.{i}", "with GridSampler an enqueued trial must fix every swept key"
            )


def contains(d: Distribution, v: Any) -> bool:
    if isinstance(d, CategoricalDist):
        return any(v == c and type(v) is type(c) or (isinstance(v, float) and v == c) for c in d.choices)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    if isinstance(d, IntDist) and (not float(v).is_integer() or (int(v) - d.low) % d.step):
        return False
    return d.low <= v <= d.high


def _check_study(spec: SweepSpec, path: Path) -> None:
    s = spec.study
    if s.sampler.name not in SAMPLERS:
        raise ConfigError(
            path,
            "study.sampler.name",
            f"unknown sampler {s.sampler.name!r}."
            f"{did_you_mean(s.sampler.name, list(SAMPLERS))} Known: {', '.join(SAMPLERS)}.",
        )
    if s.pruner and s.pruner.name not in PRUNERS:
        raise ConfigError(
            path,
            "study.pruner.name",
            f"unknown pruner {s.pruner.name!r}."
            f"{did_you_mean(s.pruner.name, list(PRUNERS))} Known: {', '.join(PRUNERS)}.",
        )
    if not spec.search_space:
        raise ConfigError(path, "search_space", "a sweep needs at least one swept key")
    if spec.is_grid():
        for k, d in spec.search_space.items():
            if isinstance(d, FloatDist):
                raise ConfigError(
                    path,
                    f"search_space.{k}",
                    "GridSampler needs discrete values: use "
                    "{type: categorical, choices: [...]} (or an int range)",
                )
    if s.pruner and s.pruner.name not in ("none", "NopPruner"):
        for v in possible_variants(spec):
            if not (variant_raw(spec, v).get("eval") or {}).get("every_steps"):
                raise ConfigError(
                    path,
                    "study.pruner",
                    f"{s.pruner.name} prunes on intermediate evaluations: set "
                    "base.eval.every_steps (e.g. 10), or use pruner: {name: none}",
                )


def _check_groups(spec: SweepSpec, path: Path) -> None:
    """TRL needs batch x accumulation to be a multiple of num_generations; catch it before a trial dies on it."""
    key = "trainer.num_generations"
    for v in possible_variants(spec):
        if v == "sft":
            continue
        raw = variant_raw(spec, v)
        tr = {**GRPO_DEFAULTS, **(raw.get("trainer") or {})}
        batch = int(tr["per_device_train_batch_size"]) * int(tr["gradient_accumulation_steps"])
        dist = spec.search_space.get(key)
        values = (
            [tr["num_generations"]]
            if dist is None
            else (
                grid_values(dist) if not isinstance(dist, FloatDist) and len(grid_values(dist)) <= 64 else []
            )
        )
        where = f"search_space.{key}" if dist is not None else "base.trainer.num_generations"
        for g in values:
            if isinstance(g, int) and g >= 1 and batch % g:
                raise ConfigError(
                    path,
                    where,
                    f"num_generations={g} does not divide per_device_train_batch_size x "
                    f"gradient_accumulation_steps = {batch} (variant {v}); use a batch that is a "
                    "multiple of every group size",
                )


def resolved(spec: SweepSpec) -> dict[str, Any]:
    """The sweep as plain JSON (stored with the study and in the ``sweeps`` table)."""
    d = spec.model_dump(mode="json")
    d["search_space"] = {k: v.model_dump(mode="json") for k, v in spec.search_space.items()}
    return copy.deepcopy(d)
