"""Task -> rows: generate (or load) samples, fill the prompt template, format the ground-truth answer.

A row is the unit every consumer shares (SFT, GRPO, evaluation, `pr1bench score`):
``{id, image, width, height, prompt_text, answer, target, n, meta}``. ``answer`` is the exact
ground-truth text in the task's answer format (what SFT imitates); ``target`` stays canonical
(absolute pixels) and is what rewards and metrics compare against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pr1bench.spec import ConfigError, TaskSpec

Split = Literal["train", "eval"]


@dataclass
class Row:
    id: str
    image: Any  # PIL.Image.Image
    width: int
    height: int
    prompt_text: str
    answer: str
    target: dict[str, Any]
    n: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def target_json(self) -> str:
        return json.dumps(self.target, separators=(",", ":"))

    def image_handle(self) -> Any:
        """The stored image without decoding it: a PIL image, or a lazy handle for real-data rows."""
        return self.__dict__["image"]


def _get_image(row: Row) -> Any:
    value = row.__dict__["image"]
    return value.load() if getattr(type(value), "is_lazy_image", False) else value


def _set_image(row: Row, value: Any) -> None:
    row.__dict__["image"] = value


# Real-data rows hold a lazy image (pr1bench.data.real.lazy.LazyImage: the file and the resize, no pixels), so
# building 100k rows holds no decoded image; reading ``row.image`` decodes it then, and keeps nothing.
Row.image = property(_get_image, _set_image, doc="The row's RGB image (decoded on access for real-data rows).")  # type: ignore[assignment]


def user_prompt(task: TaskSpec, fields: dict[str, Any], *, cot: bool) -> str:
    """The user turn: the task's prompt, wrapped in its CoT instruction for CoT variants."""
    text = task.prompt.format(**fields)
    return task.cot_prompt.format(prompt=text, **fields) if cot else text


def build_rows(task: TaskSpec, split: Split, *, n: int | None = None, cot: bool = False) -> list[Row]:
    """Build ``n`` rows (default: the task's data.train / data.eval) deterministically from the task's seed."""
    from pr1bench.models.family import resolve_answer_defaults

    task = resolve_answer_defaults(task)  # an answer left to the model family ('auto'), built without a model
    count = n if n is not None else (task.data.train if split == "train" else task.data.eval)
    if task.data.source != "synthetic":
        from pr1bench.data import load_real  # issue 8: adapters for the paper's datasets

        samples = load_real(task, split=split, n_samples=count)
    else:
        from pr1bench.data import generate

        samples = generate(task.data.generator or "", task.data.extras(), split=split, n_samples=count,
                           seed=task.data.seed)
    return [_to_row(task, s, cot=cot) for s in samples]


def _to_row(task: TaskSpec, s: Any, *, cot: bool) -> Row:
    from pr1bench.perception import format_answer

    try:
        prompt = user_prompt(task, s.fields, cot=cot)
    except KeyError as e:
        raise ConfigError(None, "prompt", f"placeholder {e} is not provided by generator {task.data.generator!r}; "
                                          f"it provides {sorted(s.fields)}") from None
    answer = format_answer(task.answer.format, s.target, width=s.width, height=s.height, coords=task.answer.coords)
    return Row(id=s.id, image=s.image, width=s.width, height=s.height, prompt_text=prompt, answer=answer,
               target=s.target, n=s.n, meta=dict(s.meta))


def cot_answer(answer: str) -> str:
    """The think/answer shape for CoT targets (used to teach the format, never the reasoning itself)."""
    return f"<think> </think><answer>{answer}</answer>"
