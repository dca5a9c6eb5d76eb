"""Run specifications: one training or evaluation of one variant on one task, fully resolved.

A RunSpec is what `pr1bench train`, `pr1bench eval`, a sweep trial and `pr1bench repro` all build, and
what the training subprocess reads back from ``run.json``. Overrides use dotted keys
(``trainer.beta=0.04``, ``rewards.box_iou.weight=0.5``, ``data.order=sorted``); a bare key
(``max_steps=50``) means ``trainer.<key>``, with TRL's own GRPOConfig/SFTConfig names.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import secrets
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pr1bench.registry import did_you_mean
from pr1bench.spec import VARIANTS, ConfigError, TaskSpec, config_hash, pydantic_to_config_error

SECTIONS = ("task", "variant", "model", "seed", "trainer", "sft_trainer", "rewards", "matching", "data", "generation",
            "eval",
            "accelerate", "launch", "vllm", "sweep", "trial", "parent_run", "init_run", "study")

# Defaults tuned for the embedded tiny model on CPU (see ../shared/SPIKE-NOTES.md: small learning rates for
# GRPO; beta set explicitly because TRL's default is 0 while the paper used 0.04). Real models override them.
GRPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 2e-5, "beta": 0.04, "num_generations": 8, "per_device_train_batch_size": 16,
    "gradient_accumulation_steps": 1, "max_steps": 150, "temperature": 1.0, "logging_steps": 5,
    "save_steps": 50, "lr_scheduler_type": "constant", "warmup_steps": 0, "gradient_checkpointing": False,
}
SFT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-4, "per_device_train_batch_size": 16, "gradient_accumulation_steps": 1,
    "max_steps": 150, "logging_steps": 5, "save_steps": 50, "lr_scheduler_type": "cosine", "warmup_steps": 10,
    "gradient_checkpointing": False,
}


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int | None = Field(None, ge=1, description="number of eval samples (default: the task's data.eval)")
    batch_size: int = Field(32, ge=1)
    every_steps: int | None = Field(None, ge=1, description="intermediate evaluation for sweeps/pruning")
    n_intermediate: int = Field(64, ge=1, description="samples per intermediate evaluation")
    backend: Literal["hf", "vllm"] = "hf"
    protocol: Literal["perception-r1", "pr1bench"] | None = Field(
        None, description="evaluation protocol; default: the task's eval.protocol (see pr1bench.perception.protocols)")


class LaunchSpec(BaseModel):
    """Pass-through multi-node/multi-process arguments for `accelerate launch`."""

    model_config = ConfigDict(extra="forbid")
    num_processes: int | None = None
    num_machines: int | None = None
    machine_rank: int | None = None
    main_process_ip: str | None = None
    main_process_port: int | None = None
    num_cpu_threads_per_process: int | None = Field(
        None, ge=1, description="CPU threads per process; default 1 with the cpu config (the tiny model's matmuls "
        "are too small to gain from more, and sweeps run several trials side by side)")
    dist_timeout_s: int = Field(
        600, ge=5, description="seconds any rank waits in a collective (a dead peer, a rank busy evaluating) before "
        "it fails instead of hanging; not an accelerate argument (pr1bench sets the process group's timeout)")

    def accelerate_args(self) -> dict[str, Any]:
        """The fields that are `accelerate launch` options."""
        return self.model_dump(exclude={"dist_timeout_s"})


class RewardOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    variant: Literal["base", "sft", "grpo", "cot-grpo", "sft-grpo"]
    model: str | None = None
    seed: int = 0
    trainer: dict[str, Any] = Field(default_factory=dict)
    sft_trainer: dict[str, Any] = Field(default_factory=dict)
    rewards: dict[str, RewardOverride] = Field(default_factory=dict)
    matching: Literal["hungarian", "sequential"] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    generation: dict[str, int] = Field(default_factory=dict)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    accelerate: str = "cpu"
    launch: LaunchSpec = Field(default_factory=LaunchSpec)
    vllm: Literal["off", "colocate", "server"] = "off"
    sweep: str | None = None
    trial: int | None = None
    parent_run: str | None = None
    init_run: str | None = None
    study: dict[str, Any] | None = Field(
        None, description="bookkeeping of a study run: {name, arm, key, hparams}; set by `pr1bench study run`")


def parse_value(text: str) -> Any:
    """`key=value` values are YAML scalars: 1e-5, true, [4, 8], null, plain strings."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string; users mean a number
        try:
            return float(value)
        except ValueError:
            return value
    return value


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def normalize_key(key: str) -> str:
    """A bare TRL key goes to ``trainer``; ``rewards.<name>.weight`` etc. stay as they are."""
    head = key.split(".", 1)[0]
    return key if head in SECTIONS else f"trainer.{key}"


def apply_overrides(base: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Apply ``key=value`` strings (CLI) or a ``{dotted.key: value}`` mapping (sweeps) to a spec dict."""
    out = copy.deepcopy(base)
    items = overrides.items() if isinstance(overrides, dict) else (_split(o) for o in overrides)
    for k, v in items:
        set_dotted(out, normalize_key(k), v)
    return out


def _split(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(None, item, "overrides are key=value, e.g. max_steps=50 or rewards.box_iou.weight=0.5")
    k, v = item.split("=", 1)
    return k.strip(), parse_value(v.strip())


@functools.cache
def trl_fields(kind: Literal["grpo", "sft"]) -> frozenset[str]:
    """Field names of TRL's GRPOConfig / SFTConfig by importing trl (exact, seconds; the fallback of trlkeys)."""
    import dataclasses

    if kind == "grpo":
        from trl import GRPOConfig as cfg
    else:
        from trl import SFTConfig as cfg
    return frozenset(f.name for f in dataclasses.fields(cfg))


# Keys the harness sets itself; a user override of these would silently break the run layout.
RESERVED_TRAINER_KEYS = {"output_dir", "reward_weights", "use_cpu", "seed", "data_seed"}


# report_to values pr1bench supports, and the module each needs (installed by the extra of the same name).
TRACKERS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "trackio": ("trackio",)}


def report_to_list(value: Any) -> list[str]:
    """``report_to`` as TRL takes it: a list of tracker names; none/empty means no tracker (the default)."""
    if value is None or value == "none" or value == [] or value == ["none"]:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name and name != "none" and name not in out:
                out.append(name)
    return out


def check_report_to(spec: RunSpec) -> None:
    """Known trackers only, and installed: a missing one fails here, not minutes into the training."""
    import importlib.util

    for section in ("trainer", "sft_trainer"):
        value = getattr(spec, section).get("report_to")
        for name in report_to_list(value):
            key = f"{section}.report_to"
            if name not in TRACKERS:
                raise ConfigError(None, key, f"unknown tracker {name!r}.{did_you_mean(name, list(TRACKERS))} "
                                  f"Known: {', '.join(TRACKERS)} (or none, the default)")
            if not any(importlib.util.find_spec(m) for m in TRACKERS[name]):
                raise ConfigError(None, key, f"tracker {name!r} is not installed: pip install 'pr1bench[{name}]'")


def validate_run(raw: dict[str, Any], task: TaskSpec, *, check_trl: bool = True) -> RunSpec:
    """Validate a run spec against its schema, its task (reward names) and TRL's config keys."""
    try:
        spec = RunSpec.model_validate(raw)
    except ValidationError as e:
        raise pydantic_to_config_error(e, "<run spec>", RunSpec) from None
    known = task.reward_weights()
    for name in spec.rewards:
        if name not in known and not (name == "think_format" and spec.variant == "cot-grpo"):
            raise ConfigError(None, f"rewards.{name}",
                              f"task {task.task!r} has no reward {name!r}.{did_you_mean(name, list(known))}")
    check_report_to(spec)
    if check_trl:
        kind = "sft" if spec.variant == "sft" else "grpo"
        _check_trainer_keys(spec.trainer, kind, "trainer")
        _check_trainer_keys(spec.sft_trainer, "sft", "sft_trainer")
    return spec


def _check_trainer_keys(d: dict[str, Any], kind: Literal["grpo", "sft"], section: str) -> None:
    from pr1bench.trlkeys import check_trainer_keys  # reads TRL's sources: ~0.1 s instead of importing trl

    check_trainer_keys(d, kind, section)


def resolved_trainer(spec: RunSpec, phase: Literal["grpo", "sft"]) -> dict[str, Any]:
    """Defaults for the phase, then the user's keys. For sft-grpo, SFT keys come from ``sft_trainer``."""
    if phase == "sft":
        user = spec.trainer if spec.variant == "sft" else spec.sft_trainer
        return {**SFT_DEFAULTS, **user}
    return {**GRPO_DEFAULTS, **spec.trainer}


def new_run_id(spec: RunSpec) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.task}-{spec.variant}-s{spec.seed}-{stamp}-{secrets.token_hex(3)}"


PHASES: dict[str, list[str]] = {"base": [], "sft": ["sft"], "grpo": ["grpo"], "cot-grpo": ["grpo"],
                                 "sft-grpo": ["sft", "grpo"]}


def phases_of(spec: RunSpec) -> list[str]:
    """The training phases a run executes. An sft-grpo run started from an SFT run (``init_run``) only does GRPO:
    its SFT phase is that run (a study trains SFT once per seed and reuses it for SFT-then-GRPO)."""
    if spec.variant == "sft-grpo" and spec.init_run:
        return ["grpo"]
    return PHASES[spec.variant]


def resolved_config(spec: RunSpec, task: TaskSpec) -> dict[str, Any]:
    """Everything that determines a run's result, as one JSON-able dict (hashed for provenance)."""
    task_d = effective_task(spec, task).model_dump(mode="json")
    return {
        "run": spec.model_dump(mode="json"),
        "task": task_d,
        "trainer": {p: resolved_trainer(spec, p) for p in phases_of(spec)},  # type: ignore[arg-type]
    }


def hash_of(spec: RunSpec, task: TaskSpec) -> str:
    cfg = resolved_config(spec, task)
    # sweep/trial bookkeeping does not change what is computed
    cfg["run"] = {k: v for k, v in cfg["run"].items() if k not in ("sweep", "trial", "study")}
    return config_hash(cfg)


def effective_task(spec: RunSpec, task: TaskSpec) -> TaskSpec:
    """The task with the run's reward weights/args, matching and data overrides applied."""
    d = task.model_dump(mode="python")
    for r in d["rewards"]:
        ov = spec.rewards.get(r["name"])
        if ov is not None:
            if ov.weight is not None:
                r["weight"] = ov.weight
            r["args"] = {**r["args"], **ov.args}
    if spec.matching:
        d["matching"] = spec.matching
    if spec.data:
        d["data"] = {**d["data"], **spec.data}
    if spec.generation:
        d["generation"] = {**d["generation"], **spec.generation}
    if spec.eval.protocol:
        d["eval"] = {**d.get("eval", {}), "protocol": spec.eval.protocol}
    try:
        return TaskSpec.model_validate(d)
    except ValidationError as e:
        raise pydantic_to_config_error(e, "<run overrides>", TaskSpec) from None


assert set(VARIANTS) == {"base", "sft", "grpo", "cot-grpo", "sft-grpo"}
