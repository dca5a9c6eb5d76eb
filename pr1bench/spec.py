"""Task and run specifications: YAML in, validated pydantic models out.

Tasks are data (``tasks/*.yaml``), not code. A file may ``include:`` templates (paths relative to the
file); the file's own keys override the template's, dicts merge deeply. Every error names the file,
the dotted key and the reason, with a "did you mean" for misspelt keys and registry names, and is
raised before anything heavy (torch, a model) is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pr1bench.paths import project_root
from pr1bench.registry import UnknownNameError, did_you_mean

TaskType = Literal["grounding", "counting", "ocr", "detection"]
Variant = Literal["base", "sft", "grpo", "cot-grpo", "sft-grpo"]
VARIANTS: tuple[str, ...] = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
REAL_SOURCES = ("refcoco", "pixmo_count", "pageocr", "coco", "jsonl")
REAL_DATA_KEYS = {"annotations", "images", "refs", "split", "eval_split", "train_split", "lang", "max_samples",
                  "min_pixels", "max_pixels", "resize_factor", "missing_images", "annotation_coords"}
TASKS_ENV = "PR1BENCH_TASKS"


class ConfigError(ValueError):
    """A configuration file is wrong; the message says which file, which key and how to fix it."""

    def __init__(self, file: str | os.PathLike[str] | None, key: str | None, reason: str):
        self.file, self.key, self.reason = (str(file) if file else None), key, reason
        where = self.file or "<config>"
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class DataSpec(BaseModel):
    """Where samples come from. Synthetic sources take their generator's parameters as extra keys."""

    model_config = ConfigDict(extra="allow")
    source: Literal["synthetic", "refcoco", "pixmo_count", "pageocr", "coco", "jsonl"]
    generator: str | None = None
    train: int = Field(1000, ge=0)
    eval: int = Field(200, ge=1)
    seed: int = 0

    def extras(self) -> dict[str, Any]:
        """The keys beyond the common ones: generator parameters or real-data paths."""
        return dict(self.model_extra or {})


class AnswerSpec(_Strict):
    """The answer format and coordinate convention; ``auto`` leaves either to the model's family.

    ``auto`` is filled when a run is prepared, from the model's ``config.json`` (see
    :mod:`pr1bench.models.family`); without a model it takes the task type's default.
    """

    format: Literal["box_tokens", "bracket_boxes", "json_boxes", "points", "count", "text", "auto"]
    coords: Literal["normalized_1000", "absolute_pixels", "auto"] = "absolute_pixels"


class RewardSpec(_Strict):
    name: str
    weight: float = 1.0
    args: dict[str, Any] = Field(default_factory=dict)


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(64, ge=1)
    cot_max_new_tokens: int = Field(128, ge=1)


PROTOCOLS: tuple[str, ...] = ("perception-r1", "pr1bench")


class TaskEvalSpec(_Strict):
    """How a task's answers are parsed and scored (see :mod:`pr1bench.perception.protocols`).

    ``perception-r1`` mirrors the released Perception-R1 evaluation code (its parsers, metrics and quirks, the
    paper's numbers were computed with it); ``pr1bench`` is this harness's own lenient parsing and metrics.
    """

    protocol: Literal["perception-r1", "pr1bench"] = "pr1bench"


class TaskSpec(_Strict):
    """One perception task: data, prompt, answer format, rewards and metrics, with a version."""

    task: str
    version: int = Field(ge=1)
    type: TaskType
    description: str = ""
    data: DataSpec
    answer: AnswerSpec
    prompt: str
    cot_prompt: str = (
        "{prompt} Output the thinking process in <think> </think> and the final answer in <answer> </answer>."
    )
    system_prompt: str | None = None
    matching: Literal["hungarian", "sequential"] = "hungarian"
    rewards: list[RewardSpec]
    metrics: list[str]
    primary_metric: str
    buckets: list[int] = Field(default_factory=lambda: [1, 2, 4, 7, 11])
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    eval: TaskEvalSpec = Field(default_factory=TaskEvalSpec)

    @field_validator("rewards")
    @classmethod
    def _unique_rewards(cls, v: list[RewardSpec]) -> list[RewardSpec]:
        names = [r.name for r in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"reward(s) listed twice: {', '.join(dup)}")
        if not v:
            raise ValueError("a task needs at least one reward")
        return v

    @field_validator("buckets")
    @classmethod
    def _sorted_buckets(cls, v: list[int]) -> list[int]:
        if not v or v != sorted(set(v)) or v[0] < 0:
            raise ValueError("buckets must be strictly increasing lower edges, e.g. [1, 2, 4, 7, 11]")
        return v

    @model_validator(mode="after")
    def _source_fields(self) -> TaskSpec:
        if self.data.source == "synthetic" and not self.data.generator:
            raise ValueError("data.generator is required for a synthetic source")
        return self

    def reward_weights(self) -> dict[str, float]:
        return {r.name: r.weight for r in self.rewards}


# ----------------------------------------------------------------------------------------------
# YAML loading with include templates
# ----------------------------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``over``; nested dicts merge, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML mapping, resolving ``include:`` (a path or list of paths relative to the file)."""
    path = path.resolve()
    if path in _seen:
        raise ConfigError(path, "include", f"include cycle: {' -> '.join(p.name for p in (*_seen, path))}")
    if not path.is_file():
        raise ConfigError(path, None, "file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, None, f"invalid YAML: {line}{getattr(e, 'problem', e)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, None, f"expected a mapping at the top level, got {type(raw).__name__}")
    includes = raw.pop("include", None) or []
    if isinstance(includes, str):
        includes = [includes]
    merged: dict[str, Any] = {}
    for inc in includes:
        if not isinstance(inc, str):
            raise ConfigError(path, "include", "include must be a path or a list of paths")
        merged = deep_merge(merged, load_yaml(path.parent / inc, (*_seen, path)))
    return deep_merge(merged, raw)


def _fields_of(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the location of an error (for "did you mean" on unknown keys)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or ()
        candidates = [ann, *args]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            for c in args:
                inner = next(
                    (a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)),
                    None,
                )
                if inner is not None:
                    nxt = inner
        if nxt is None:
            return []
        current = nxt
    return list(getattr(current, "model_fields", {}))


def pydantic_to_config_error(e: ValidationError, file: Path | str, model: type[BaseModel]) -> ConfigError:
    """Turn pydantic's first error into a ConfigError with a dotted key and a did-you-mean."""
    errors = e.errors()
    # a misspelt key shows up twice (unknown + missing): the unknown one, with its did-you-mean, is the fix
    err = next((x for x in errors if x.get("type") == "extra_forbidden"), errors[0])
    loc = tuple(err.get("loc", ()))
    key = ".".join(str(p) for p in loc) or None
    reason = err.get("msg", "invalid value")
    if err.get("type") == "extra_forbidden":
        reason = f"unknown key.{did_you_mean(str(loc[-1]), _fields_of(model, loc))}"
    elif err.get("type") == "missing":
        reason = "required key is missing"
    elif "input" in err and err.get("type") != "missing":
        reason = f"{reason} (got {err['input']!r})"
    more = len(e.errors()) - 1
    if more:
        reason += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(file, key, reason)


# ----------------------------------------------------------------------------------------------
# Task discovery and validation
# ----------------------------------------------------------------------------------------------


def tasks_dir() -> Path:
    env = os.environ.get(TASKS_ENV)
    return Path(env) if env else project_root() / "tasks"


def task_names() -> list[str]:
    """Shipped task names: YAML stems in ``tasks/`` that do not start with ``_`` (templates)."""
    d = tasks_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if not p.name.startswith("_")) if d.is_dir() else []


def resolve_task_path(name_or_path: str) -> Path:
    """A task name (``counting``) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not p.is_file():
            raise ConfigError(p, None, "task file not found")
        return p
    candidate = tasks_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            tasks_dir(), None, f"unknown task {name_or_path!r}.{did_you_mean(name_or_path, task_names())} "
            f"Known: {', '.join(task_names())}."
        )
    return candidate


def load_task(name_or_path: str) -> TaskSpec:
    """Load and fully validate a task (schema, stem, registry names, reward and generator args)."""
    path = resolve_task_path(name_or_path)
    raw = load_yaml(path)
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as e:
        raise pydantic_to_config_error(e, path, TaskSpec) from None
    if spec.task != path.stem:
        raise ConfigError(path, "task", f"must equal the file stem {path.stem!r} (got {spec.task!r})")
    check_task_names(spec, path)
    return spec


def check_task_names(spec: TaskSpec, path: Path | str) -> None:
    """Check every name against its registry and every argument against its signature."""
    from pr1bench import perception

    for i, r in enumerate(spec.rewards):
        try:
            allowed = set(perception.reward_arg_names(r.name))
        except UnknownNameError as e:
            raise ConfigError(path, f"rewards.{i}.name", e.message) from None
        for arg in r.args:
            if arg not in allowed:
                raise ConfigError(
                    path, f"rewards.{i}.args.{arg}",
                    f"reward {r.name!r} has no argument {arg!r}.{did_you_mean(arg, sorted(allowed))} "
                    f"Arguments: {', '.join(sorted(allowed)) or '(none)'}.",
                )
    for i, m in enumerate(spec.metrics):
        if m not in perception.METRICS:
            raise ConfigError(path, f"metrics.{i}", UnknownNameError("metric", m, perception.METRICS.names()).message)
    _check_data(spec, path)
    _check_templates(spec, path)


def _check_data(spec: TaskSpec, path: Path | str) -> None:
    extras = spec.data.extras()
    if spec.data.source == "synthetic":
        from pr1bench.data import GENERATORS

        try:
            gen = GENERATORS.get(spec.data.generator or "")
        except UnknownNameError as e:
            raise ConfigError(path, "data.generator", e.message) from None
        try:
            gen.Params.model_validate(extras)
        except ValidationError as e:
            err = pydantic_to_config_error(e, path, gen.Params)
            raise ConfigError(path, f"data.{err.key}" if err.key else "data", err.reason) from None
    else:
        for k in extras:
            if k not in REAL_DATA_KEYS:
                raise ConfigError(
                    path, f"data.{k}", f"unknown key for source {spec.data.source!r}."
                    f"{did_you_mean(k, sorted(REAL_DATA_KEYS))} Known: {', '.join(sorted(REAL_DATA_KEYS))}."
                )


_TEMPLATE_FIELDS = {"expression", "label", "categories", "prompt"}


def _check_templates(spec: TaskSpec, path: Path | str) -> None:
    import string

    for key, tmpl in (("prompt", spec.prompt), ("cot_prompt", spec.cot_prompt)):
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(tmpl) if f}
        except ValueError as e:
            raise ConfigError(path, key, f"bad template: {e}") from None
        unknown = names - _TEMPLATE_FIELDS
        if unknown:
            raise ConfigError(path, key, f"unknown placeholder(s) {sorted(unknown)}; known: {sorted(_TEMPLATE_FIELDS)}")


# ----------------------------------------------------------------------------------------------
# Hashing
# ----------------------------------------------------------------------------------------------


def config_hash(obj: Any) -> str:
    """Stable sha256 of a JSON-serialisable config (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
