"""From a sweep's search space to Optuna suggestions, and from a trial's parameters to a RunSpec.

Parameters are named by their dotted run-spec key (``trainer.beta``, ``rewards.box_iou.weight``), so a trial's
params are at the same time Optuna's record and the overrides that build its run: nothing to translate, and
``pr1bench sweep best`` can print them back as a ``pr1bench train`` command line.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import yaml

from pr1bench.runspec import SECTIONS, RunSpec, apply_overrides, parse_value, validate_run
from pr1bench.spec import TaskSpec
from pr1bench.sweep.spec import CategoricalDist, Distribution, FloatDist, IntDist, SweepSpec, variant_raw

if TYPE_CHECKING:
    import optuna


def to_optuna(d: Distribution) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution object of one short-form entry."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(d, FloatDist):
        return FloatDistribution(d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, IntDist):
        return IntDistribution(d.low, d.high, log=d.log, step=d.step)
    return CategoricalDistribution(d.choices)


def suggest(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Sample every swept key (fixed params of an enqueued trial come back as they were enqueued)."""
    return {key: _suggest_one(trial, key, d) for key, d in spec.search_space.items()}


def _suggest_one(trial: optuna.Trial, key: str, d: Distribution) -> Any:
    if isinstance(d, FloatDist):
        return trial.suggest_float(key, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, IntDist):
        return trial.suggest_int(key, d.low, d.high, log=d.log, step=d.step)
    assert isinstance(d, CategoricalDist)
    return trial.suggest_categorical(key, d.choices)


def trial_raw(spec: SweepSpec, params: dict[str, Any], number: int | None = None) -> dict[str, Any]:
    """Base -> the variant's overrides -> sampled params, with ``sweep``/``trial`` set so run.json links back."""
    variant = str(params.get("variant", spec.base["variant"]))
    raw = variant_raw(spec, variant)
    raw = apply_overrides(raw, {k: v for k, v in params.items() if k != "variant"})
    raw["sweep"], raw["trial"] = spec.sweep, number
    return raw


def trial_spec(spec: SweepSpec, task: TaskSpec, params: dict[str, Any], number: int | None = None) -> RunSpec:
    """The validated RunSpec of one trial (the sweep was validated, so this only fails on a bug)."""
    return validate_run(trial_raw(spec, params, number), task, check_trl=False)


# ----------------------------------------------------------------------------------------------
# Back to a command line
# ----------------------------------------------------------------------------------------------

_OPTIONS = {"model": "--model", "seed": "--seed", "accelerate": "--accelerate", "vllm": "--vllm"}
_SKIP = {"task", "variant", "sweep", "trial"}


def yaml_scalar(v: Any) -> str:
    """A value as ``pr1bench train`` parses it back (PyYAML reads ``2e-05`` as a string, ``2.0e-05`` as a float)."""
    if isinstance(v, str) and parse_value(v) == v:
        return v
    text = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    return text[:-4].strip() if text.endswith("\n...") else text.removesuffix("...").strip()


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif not (isinstance(value, dict | list) and not value):
        out[prefix] = value


def changed_keys(run: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys of a run spec that differ from a fresh RunSpec of the same task and variant."""
    default = RunSpec(task=run["task"], variant=run["variant"]).model_dump(mode="json")
    now: dict[str, Any] = {}
    ref: dict[str, Any] = {}
    _flatten("", {k: v for k, v in run.items() if k not in _SKIP}, now)
    _flatten("", {k: v for k, v in default.items() if k not in _SKIP}, ref)
    return {k: v for k, v in now.items() if ref.get(k, object()) != v and not (v is None and k not in ref)}


def train_command(run: dict[str, Any]) -> list[str]:
    """``pr1bench train ...`` that rebuilds exactly this run spec (minus the sweep bookkeeping)."""
    cmd = ["pr1bench", "train", str(run["task"]), "--variant", str(run["variant"])]
    keys = changed_keys(run)
    for field, opt in _OPTIONS.items():
        if field in keys:
            cmd += [opt, str(keys.pop(field))]
    for k, v in sorted(keys.items()):
        bare = k.removeprefix("trainer.")  # a bare key means trainer.<key>
        key = bare if k.startswith("trainer.") and "." not in bare and bare not in SECTIONS else k
        cmd.append(f"{key}={yaml_scalar(v)}")
    return cmd


def train_command_text(run: dict[str, Any]) -> str:
    return shlex.join(train_command(run))
