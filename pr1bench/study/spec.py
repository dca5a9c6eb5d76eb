"""Study files (``studies/*.yaml``): the replication study as data, and its expansion into planned runs.

A study is a grid of runs: tasks x variants x seeds for the main arm, plus ablation arms that change one setting
(``data.order=sorted``, ``matching=sequential``) for a few tasks and variants. Each task block says how its runs
are trained (data, eval, SFT and GRPO trainer keys) and where the GRPO/SFT hyperparameters come from: the best
trial of a shipped sweep when the database has one, otherwise the values pinned in the file, which record the sweep
and trial they were copied from. ``quick:`` holds the overrides of the ``--quick`` form (one seed, fewer steps).

Study-level ``eval:`` keys (e.g. ``n: 1000``) apply to every task (a task block's own ``eval`` wins). ``floors:``
says per metric when a comparison carries no signal (``pr1bench.study.findings``). ``budget:`` gives every trained
variant the same training seconds: each phase's ``max_steps`` is the seconds divided by the task's measured
``step_seconds`` of that phase (``pr1bench study costs`` prints them from finished runs); CoT-GRPO gets GRPO's
steps; SFT-then-GRPO trains both phases in one run, its SFT phase on ``sft_grpo_sft_share`` of the seconds and its
GRPO phase on the rest, instead of starting from the full-budget SFT run.

Validation never imports torch or TRL: every planned run is validated as a RunSpec against its task (reward names,
TRL config keys read from TRL's sources), so a typo fails in about a second, naming the file and the key.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pr1bench.paths import project_root
from pr1bench.registry import did_you_mean
from pr1bench.spec import VARIANTS, ConfigError, deep_merge, load_yaml, pydantic_to_config_error

STUDIES_ENV = "PR1BENCH_STUDIES"
MAIN_ARM = "main"
Phase = Literal["sft", "grpo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HParams(_Strict):
    """Where a phase's hyperparameters come from: a sweep's best trial, else the pinned copy of one."""

    sweep: str | None = Field(None, description="sweep name (sweeps/NAME.yaml) whose best COMPLETE trial is used")
    trial: int | None = Field(None, description="the trial the pinned params were copied from")
    value: float | None = Field(None, description="that trial's objective value, for the record")
    params: dict[str, Any] = Field(default_factory=dict, description="pinned dotted-key params (sweep form)")
    note: str | None = None


class StepSeconds(_Strict):
    """Measured training-loop seconds per optimizer step of each phase (intermediate evaluation excluded)."""

    sft: float | None = Field(None, gt=0)
    grpo: float | None = Field(None, gt=0)
    note: str | None = Field(None, description="where the numbers were measured (machine, model, batch)")


class FloorSpec(_Strict):
    """When a comparison on one metric carries no signal; unset fields take the defaults."""

    base: float | None = Field(None, ge=0, description="the untrained base below this on the task's primary metric")
    chance: float | None = Field(None, description="the metric's chance level")
    near: float | None = Field(None, ge=0, description="every compared run within this of chance (or of 0)")


class Budget(_Strict):
    """Equal training seconds for every trained variant of a task, turned into max_steps per phase."""

    seconds: float = Field(gt=0, description="training-loop seconds per trained variant and task")
    sft_grpo_sft_share: float = Field(
        0.5, gt=0, lt=1, description="SFT-then-GRPO: the share of the seconds its SFT phase gets (GRPO the rest)")
    grpo_prompts: int | None = Field(None, ge=1, description="GRPO prompts per optimizer step")
    grpo_completions: int | None = Field(None, ge=2, description="GRPO completions per prompt (num_generations)")
    curve_points: int | None = Field(
        None, ge=1, description="intermediate evaluations per run for learning curves: eval.every_steps = the run's "
        "steps // curve_points (SFT-then-GRPO: of its longer phase), so SFT and GRPO get the same number of points")


class TaskBlock(_Strict):
    data: dict[str, Any] = Field(default_factory=dict, description="data.* overrides for every run of the task")
    eval: dict[str, Any] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)
    sft: dict[str, Any] = Field(default_factory=dict, description="SFTConfig keys of the SFT phase")
    grpo: dict[str, Any] = Field(default_factory=dict, description="GRPOConfig keys of the GRPO phase")
    hparams: dict[Phase, HParams] = Field(default_factory=dict)
    step_seconds: StepSeconds | None = Field(None, description="measured per-step cost of each phase (budget:)")
    budget_seconds: float | None = Field(
        None, gt=0, description="this task's training seconds per trained variant instead of budget.seconds (tasks "
        "differ in cost per step; SFT and GRPO of one task still get equal seconds)")


class Ablation(_Strict):
    description: str = ""
    tasks: list[str]
    variants: list[str]
    set: dict[str, Any] = Field(description="dotted run-spec overrides that define the arm, e.g. {data.order: sorted}")


class Quick(_Strict):
    seeds: list[int] | None = None
    eval: dict[str, Any] = Field(default_factory=dict, description="study-level eval keys of the quick form")
    budget: dict[str, Any] | None = Field(None, description="budget keys of the quick form (deep-merged)")
    variants: list[str] | None = Field(None, description="the quick form's variants (a subset of the study's)")
    tasks: dict[str, dict[str, Any]] = Field(default_factory=dict, description="partial task blocks, deep-merged")
    ablations: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict, description="partial ablation blocks, deep-merged; null leaves the ablation out")


class StudySpec(_Strict):
    study: str
    description: str = ""
    seeds: list[int] = Field(min_length=1)
    variants: list[str]
    model: str | None = Field(None, description="--model of every run: a model dir or hub id (default: embedded)")
    base_seeds: int = Field(1, ge=1, description="seeds of the untrained base evaluation (greedy: one is enough)")
    jobs: int = Field(2, ge=1, description="runs side by side (one CPU thread each)")
    eval: dict[str, Any] = Field(
        default_factory=dict, description="eval.* keys for every run of every task (e.g. n: 1000); a task block's "
        "own eval keys win")
    budget: Budget | None = Field(None, description="equal training seconds per variant (max_steps from "
                                  "step_seconds); without it each phase's max_steps comes from the task blocks")
    floors: dict[str, FloorSpec] = Field(
        default_factory=dict, description="metric -> when its comparisons carry no signal; 'default' for the rest")
    tasks: dict[str, TaskBlock]
    ablations: dict[str, Ablation] = Field(default_factory=dict)
    quick: Quick = Field(default_factory=Quick)
    high_complexity: dict[str, str] = Field(
        default_factory=dict, description="task -> the bucket that counts as high perceptual complexity")
    signal_floor: float = Field(
        0.01, ge=0, description="a metric below this in every compared run carries no signal (about one eval sample "
        "in 100): the comparison is inconclusive whatever its interval")
    equivalence_margin: float = Field(
        0.02, ge=0, description="|difference| below this is 'no meaningful effect' (metric units) for 'CoT does "
        "not help'")
    superiority_margin: float | None = Field(
        None, ge=0, description="smallest gain (metric units) that counts for 'A beats B' claims on the primary "
        "metric (findings 1 and 4): an interval entirely below it reads not reproduced; unset: only below 0 does")

    def resolved_floors(self) -> dict[str, Any]:
        """metric -> findings.Floor: the code's defaults, then ``floors.default`` (``signal_floor`` is its
        default ``near``), then the metric's own entry."""
        from pr1bench.study.findings import DEFAULT_FLOOR, Floor

        base = {"base": DEFAULT_FLOOR.base, "chance": DEFAULT_FLOOR.chance, "near": self.signal_floor}
        dflt = self.floors.get("default")
        if dflt is not None:
            base.update({k: v for k, v in dflt.model_dump().items() if v is not None})
        out = {"default": Floor(**base)}
        for metric, fs in self.floors.items():
            if metric != "default":
                out[metric] = Floor(**{**base, **{k: v for k, v in fs.model_dump().items() if v is not None}})
        return out


@dataclass
class PlannedRun:
    """One run of the study: its key, its dependencies and the run-spec fields/overrides that define it."""

    key: str
    arm: str
    task: str
    variant: str
    seed: int
    overrides: dict[str, Any]
    hparams: dict[str, Any] = field(default_factory=dict)
    needs: str | None = None  # key of the SFT run an sft-grpo run starts from

    @property
    def plan_hash(self) -> str:
        blob = json.dumps({"overrides": self.overrides, "variant": self.variant, "seed": self.seed,
                           "needs": self.needs}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def studies_dir() -> Path:
    import os

    env = os.environ.get(STUDIES_ENV)
    return Path(env) if env else project_root() / "studies"


def study_names() -> list[str]:
    d = studies_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def resolve_study_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not p.is_file():
            raise FileNotFoundError(f"study file {p} does not exist")
        return p
    cand = studies_dir() / f"{name_or_path}.yaml"
    if not cand.is_file():
        names = study_names()
        raise FileNotFoundError(f"no study {name_or_path!r} in {studies_dir()} (have: {', '.join(names) or 'none'})."
                                f"{did_you_mean(name_or_path, names)}")
    return cand


def load_study(name_or_path: str, *, quick: bool = False) -> tuple[StudySpec, Path]:
    """Load and validate a study file; with ``quick`` the ``quick:`` overrides are applied."""
    path = resolve_study_path(name_or_path)
    raw = load_yaml(path)
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as e:
        raise pydantic_to_config_error(e, path, StudySpec) from None
    if quick:
        spec = apply_quick(spec, path)
    check_study(spec, path)
    return spec, path


def apply_quick(spec: StudySpec, path: Path) -> StudySpec:
    d = spec.model_dump(mode="python")
    q = spec.quick
    if q.seeds:
        d["seeds"] = list(q.seeds)
    if q.eval:
        d["eval"] = deep_merge(d.get("eval") or {}, q.eval)
    if q.budget:
        if d.get("budget") is None:
            raise ConfigError(path, "quick.budget", "the study has no budget: to give the quick form one, add a "
                              "top-level budget: {seconds: ...} (or move these keys there)")
        d["budget"] = deep_merge(d["budget"], q.budget)
    for name, over in q.tasks.items():
        if name not in d["tasks"]:
            raise ConfigError(path, f"quick.tasks.{name}", f"no task {name!r} in the study's tasks."
                              f"{did_you_mean(name, list(d['tasks']))}")
        d["tasks"][name] = deep_merge(d["tasks"][name], over)
    if q.variants is not None:
        extra = [v for v in q.variants if v not in spec.variants]
        if extra:
            raise ConfigError(path, "quick.variants", f"{extra} are not variants of the study {spec.variants}: the "
                              "quick form runs a subset of them")
        d["variants"] = list(q.variants)
    for name, over in q.ablations.items():
        if name not in d["ablations"]:
            raise ConfigError(path, f"quick.ablations.{name}", f"no ablation {name!r}."
                              f"{did_you_mean(name, list(d['ablations']))}")
        if over is None:
            del d["ablations"][name]
        else:
            d["ablations"][name] = deep_merge(d["ablations"][name], over)
    d["quick"] = {}
    try:
        return StudySpec.model_validate(d)
    except ValidationError as e:
        raise pydantic_to_config_error(e, f"{path} (quick:)", StudySpec) from None


def check_study(spec: StudySpec, path: Path) -> None:
    from pr1bench.spec import task_names

    known = task_names()
    for name in spec.tasks:
        if name not in known:
            raise ConfigError(path, f"tasks.{name}", f"no task {name!r} in tasks/.{did_you_mean(name, known)}")
    for v in spec.variants:
        if v not in VARIANTS:
            raise ConfigError(path, "variants", f"unknown variant {v!r}; one of {', '.join(VARIANTS)}."
                              f"{did_you_mean(v, list(VARIANTS))}")
    for a_name, ab in spec.ablations.items():
        for t in ab.tasks:
            if t not in spec.tasks:
                raise ConfigError(path, f"ablations.{a_name}.tasks", f"task {t!r} is not in the study's tasks")
        for v in ab.variants:
            if v not in VARIANTS or v == "base":
                raise ConfigError(path, f"ablations.{a_name}.variants", f"{v!r} is not a trained variant")
    arms = [("variants", spec.variants)] + [(f"ablations.{n}.variants", ab.variants) for n, ab in spec.ablations.items()]
    for key, variants in arms:
        if "sft-grpo" in variants and "sft" not in variants and spec.budget is None:
            raise ConfigError(path, key, "sft-grpo starts from the arm's SFT run of the same seed: add sft")
    for t in spec.high_complexity:
        if t not in spec.tasks:
            raise ConfigError(path, f"high_complexity.{t}", f"task {t!r} is not in the study's tasks")
    if spec.budget is not None:
        _check_budget(spec, path)


def _phases_needed(spec: StudySpec, task: str) -> set[str]:
    variants = set(spec.variants)
    for ab in spec.ablations.values():
        if task in ab.tasks:
            variants |= set(ab.variants)
    need = set()
    if variants & {"sft", "sft-grpo"}:
        need.add("sft")
    if variants & {"grpo", "cot-grpo", "sft-grpo"}:
        need.add("grpo")
    return need


def _check_budget(spec: StudySpec, path: Path) -> None:
    """A budget needs every task's measured step cost of each phase it trains, and one batch shape for GRPO."""
    b = spec.budget
    assert b is not None
    for name, block in spec.tasks.items():
        have = block.step_seconds.model_dump() if block.step_seconds else {}
        for phase in sorted(_phases_needed(spec, name)):
            if not have.get(phase):
                raise ConfigError(path, f"tasks.{name}.step_seconds.{phase}",
                                  f"budget: needs the measured seconds per {phase.upper()} step of task {name!r} to "
                                  f"turn {block.budget_seconds or b.seconds:g} s into max_steps; measure them with `pr1bench study costs "
                                  f"{spec.study}` after a short run, or drop budget: and set max_steps per task")
        if (b.grpo_prompts or b.grpo_completions) and int(block.grpo.get("gradient_accumulation_steps", 1)) != 1:
            raise ConfigError(path, f"tasks.{name}.grpo.gradient_accumulation_steps",
                              "budget.grpo_prompts/grpo_completions set the whole GRPO batch; remove "
                              "gradient_accumulation_steps (or set it to 1)")
    if bool(b.grpo_prompts) != bool(b.grpo_completions):
        raise ConfigError(path, "budget", "give grpo_prompts and grpo_completions together (the GRPO batch is "
                          "prompts x completions sampled sequences)")


def budget_steps(spec: StudySpec, task: str) -> dict[str, int]:
    """max_steps per phase from the budget: {'sft', 'grpo', 'sft-grpo/sft', 'sft-grpo/grpo'} (empty: no budget).

    A task block's ``budget_seconds`` replaces ``budget.seconds`` for that task. Steps are the seconds divided by
    the measured seconds per step, rounded, at least 1. CoT-GRPO gets GRPO's
    steps (the paper's protocol: same steps; its longer completions cost more seconds). SFT-then-GRPO gives its
    SFT phase ``sft_grpo_sft_share`` of the seconds and its GRPO phase the rest.
    """
    b = spec.budget
    block = spec.tasks[task]
    if b is None or block.step_seconds is None:
        return {}
    out: dict[str, int] = {}
    seconds = block.budget_seconds or b.seconds
    sft, grpo = block.step_seconds.sft, block.step_seconds.grpo
    if sft:
        out["sft"] = max(1, round(seconds / sft))
        out["sft-grpo/sft"] = max(1, round(seconds * b.sft_grpo_sft_share / sft))
    if grpo:
        out["grpo"] = max(1, round(seconds / grpo))
        out["sft-grpo/grpo"] = max(1, round(seconds * (1 - b.sft_grpo_sft_share) / grpo))
    return out


def _phase_params(block: TaskBlock, phase: Phase, best: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The phase's hyperparameters and their provenance: the sweep's best trial in the database, else pinned."""
    hp = block.hparams.get(phase)
    if hp is None:
        return {"source": "study file", "params": {}}
    found = (best or {}).get(hp.sweep or "")
    if found:
        return {"source": "database", "sweep": hp.sweep, "trial": found["trial"], "value": found["value"],
                "params": dict(found["params"])}
    return {"source": "pinned", "sweep": hp.sweep, "trial": hp.trial, "value": hp.value, "params": dict(hp.params)}


def _trainer_keys(params: dict[str, Any], *, drop: tuple[str, ...]) -> dict[str, Any]:
    """Sweep params -> run overrides; the arm's own axis (e.g. ``matching``) is never taken from a sweep."""
    return {k: v for k, v in params.items() if k not in drop and k.split(".")[0] not in ("variant",)}


def plan(spec: StudySpec, *, best_trials: dict[str, dict[str, Any]] | None = None) -> list[PlannedRun]:
    """Expand a study into its runs, in an order where every run comes after the run it starts from."""
    runs: list[PlannedRun] = []
    arms: list[tuple[str, list[str], list[str], dict[str, Any]]] = [
        (MAIN_ARM, list(spec.tasks), spec.variants, {})]
    arms += [(name, ab.tasks, ab.variants, ab.set) for name, ab in spec.ablations.items()]
    for arm, tasks, variants, arm_set in arms:
        axis = tuple(arm_set)
        for task in tasks:
            block = spec.tasks[task]
            common: dict[str, Any] = {}
            common.update({f"eval.{k}": v for k, v in spec.eval.items()})
            for section in ("data", "eval", "generation"):
                common.update({f"{section}.{k}": v for k, v in getattr(block, section).items()})
            sft_hp = _phase_params(block, "sft", best_trials)
            grpo_hp = _phase_params(block, "grpo", best_trials)
            sft_keys = {**{f"trainer.{k}": v for k, v in block.sft.items()},
                        **_trainer_keys(sft_hp["params"], drop=axis + ("matching",))}
            grpo_keys = {**{f"trainer.{k}": v for k, v in block.grpo.items()},
                         **_trainer_keys(grpo_hp["params"], drop=axis + ("matching",))}
            steps = budget_steps(spec, task)
            budget = spec.budget
            if budget is not None and budget.grpo_prompts and budget.grpo_completions:
                # the budget's batch shape wins over the task block and the sweep's num_generations
                grpo_keys["trainer.num_generations"] = budget.grpo_completions
                grpo_keys["trainer.per_device_train_batch_size"] = budget.grpo_prompts * budget.grpo_completions
            for variant in variants:
                seeds = spec.seeds[: spec.base_seeds] if variant == "base" else spec.seeds
                for seed in seeds:
                    ov = copy.deepcopy(common)
                    hp: dict[str, Any] = {}
                    needs = None
                    if variant == "sft":
                        ov.update(sft_keys)
                        if "sft" in steps:
                            ov["trainer.max_steps"] = steps["sft"]
                        hp = {"sft": sft_hp}
                    elif variant in ("grpo", "cot-grpo"):
                        ov.update(grpo_keys)
                        if "grpo" in steps:
                            ov["trainer.max_steps"] = steps["grpo"]
                        hp = {"grpo": grpo_hp}
                    elif variant == "sft-grpo":
                        ov.update(grpo_keys)
                        hp = {"sft": sft_hp, "grpo": grpo_hp}
                        if spec.budget is not None:  # both phases in one run, splitting the seconds
                            ov.update({("sft_" + k if k.startswith("trainer.") else k): v
                                       for k, v in sft_keys.items()})
                            if "sft-grpo/sft" in steps:
                                ov["sft_trainer.max_steps"] = steps["sft-grpo/sft"]
                            if "sft-grpo/grpo" in steps:
                                ov["trainer.max_steps"] = steps["sft-grpo/grpo"]
                        else:
                            needs = _key(arm, task, "sft", seed)
                    if budget is not None and budget.curve_points and variant != "base":
                        longest = max((v for k, v in ov.items()
                                       if k in ("trainer.max_steps", "sft_trainer.max_steps")), default=None)
                        if longest:
                            ov["eval.every_steps"] = max(1, int(longest) // budget.curve_points)
                    ov.update(arm_set)
                    runs.append(PlannedRun(key=_key(arm, task, variant, seed), arm=arm, task=task, variant=variant,
                                           seed=seed, overrides=ov, hparams=hp, needs=needs))
    keys = {r.key for r in runs}
    for r in runs:
        if r.needs and r.needs not in keys:
            raise ConfigError(None, f"{r.arm}.{r.task}", f"{r.variant} starts from the SFT run {r.needs}, which "
                              f"the study does not plan: add 'sft' to the variants of arm {r.arm!r}")
    order = {"base": 0, "sft": 1, "grpo": 2, "cot-grpo": 3, "sft-grpo": 4}
    return sorted(runs, key=lambda r: (order[r.variant], r.seed, r.arm != MAIN_ARM, r.task))


def _key(arm: str, task: str, variant: str, seed: int) -> str:
    return f"{arm}/{task}/{variant}/s{seed}"


def run_fields(study: StudySpec, pr: PlannedRun, *, quick: bool) -> dict[str, Any]:
    """The study tag a planned run carries in its RunSpec (``study`` section), and so in run.json and the DB."""
    return {"name": study.study, "quick": quick, "arm": pr.arm, "key": pr.key, "plan": pr.plan_hash,
            "hparams": pr.hparams}


def validate_plan(study: StudySpec, runs: list[PlannedRun], path: Path, *, quick: bool) -> None:
    """Validate every planned run as a RunSpec now, so a bad key fails before the first training starts."""
    from pr1bench.runner import build_spec

    for pr in runs:
        fields: dict[str, Any] = {"seed": pr.seed, "study": run_fields(study, pr, quick=quick), "model": study.model}
        if pr.needs:
            fields["init_run"] = "planned"
        try:
            build_spec(pr.task, pr.variant, dict(pr.overrides), **fields)
        except ConfigError as e:
            raise ConfigError(path, f"{pr.key}: {e.key}" if e.key else pr.key, e.reason) from None
