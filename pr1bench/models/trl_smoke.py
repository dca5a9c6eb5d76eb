"""Smoke check: can TRL's SFTTrainer and GRPOTrainer train the tiny Qwen2-VL on CPU? (2 steps each)

Run: ``python -m pr1bench.models.trl_smoke [MODEL_DIR]`` (builds a tiny model in a temp dir when omitted).
It is the executable form of ``TRL_NOTES.md``: the dataset shapes and config keys below are the ones that work with
TRL 1.16 / transformers 5.24. Prints one JSON line of findings. Not imported by the package.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

PROMPT = "How many red circles are there in the image?"


def _image(n: int) -> Any:
    """A 112 px white image with ``n`` red circles (deterministic positions)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (112, 112), "white")
    draw = ImageDraw.Draw(img)
    for i in range(n):
        x, y = 8 + (i % 3) * 34, 8 + (i // 3) * 34
        draw.ellipse((x, y, x + 24, y + 24), fill="red")
    return img


def sft_rows(n: int = 8) -> list[dict[str, Any]]:
    """Conversational language-modeling rows: ``messages`` (string contents) + ``image`` (one PIL image)."""
    return [
        {
            "messages": [
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": str(1 + i % 5)},
            ],
            "image": _image(1 + i % 5),
        }
        for i in range(n)
    ]


def grpo_rows(n: int = 8) -> list[dict[str, Any]]:
    """Conversational prompt-only rows: ``prompt`` (messages) + ``image`` + an extra reward column ``count``."""
    return [
        {"prompt": [{"role": "user", "content": PROMPT}], "image": _image(1 + i % 5), "count": 1 + i % 5}
        for i in range(n)
    ]


class ExactCount:
    """Reward 1.0 when the completion text equals the count; records what TRL passes in."""

    __name__ = "exact_count"

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def __call__(self, completions: list[Any], count: list[int], **kwargs: Any) -> list[float]:
        self.seen = {
            "kwargs": sorted(kwargs),
            "completion_type": type(completions[0]).__name__,
            "completion_example": completions[0],
            "n": len(completions),
        }
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 if t.strip() == str(k) else 0.0 for t, k in zip(texts, count, strict=True)]


class Brevity:
    """Reward shorter completions: always has within-group variance, so GRPO gets a non-zero gradient."""

    __name__ = "brevity"

    def __call__(self, completions: list[Any], **_: Any) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 / (1.0 + len(t)) for t in texts]


def _common_args(out: str) -> dict[str, Any]:
    """Trainer settings every CPU run needs (TRL defaults bf16=True and gradient_checkpointing=True)."""
    return {
        "output_dir": out,
        "use_cpu": True,
        "bf16": False,
        "activation_checkpointing": False,  # TRL defaults gradient_checkpointing=True (a deprecated alias)
        "max_steps": 2,
        "logging_steps": 1,
        "report_to": "none",
        "save_strategy": "no",
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-4,
        "dataloader_num_workers": 0,
    }


class _LogSink:
    """Collect ``on_log`` dicts (the same hook pr1bench's metrics.jsonl callback uses)."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        logs: list[dict[str, Any]] = []
        self.logs = logs

        class _CB(TrainerCallback):
            def on_log(
                self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any
            ) -> None:
                if logs:
                    _CB.sink.append(dict(logs))

        _CB.sink = logs
        self.callback = _CB()


def run_sft(model_dir: Path, out: str, assistant_only_loss: bool = True) -> dict[str, Any]:
    """Two SFT steps on conversational rows with images; returns logged losses and the label mask check."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    sink = _LogSink()
    args = SFTConfig(**_common_args(out), assistant_only_loss=assistant_only_loss, max_length=None)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(sft_rows()),
        processing_class=processor,
        callbacks=[sink.callback],
    )
    batch = trainer.data_collator([dict(r) for r in sft_rows(2)])
    trained = [
        processor.tokenizer.decode(ids[lab != -100])
        for ids, lab in zip(batch["input_ids"], batch["labels"], strict=True)
    ]
    trainer.train()
    return {"logs": sink.logs, "trained_text": trained, "batch_keys": sorted(batch)}


def run_grpo(model_dir: Path, out: str) -> dict[str, Any]:
    """Two GRPO steps (4 prompts x 4 generations) with a custom reward; returns logs and the reward's inputs."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    reward = ExactCount()
    sink = _LogSink()
    args = GRPOConfig(
        **_common_args(out),
        num_generations=4,
        max_completion_length=8,
        temperature=1.0,
        beta=0.04,
        reward_weights=[1.0, 0.5],
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward, Brevity()],
        args=args,
        train_dataset=Dataset.from_list(grpo_rows()),
        processing_class=processor,
        callbacks=[sink.callback],
    )
    trainer.train()
    return {"logs": sink.logs, "reward_saw": reward.seen}


def main(argv: list[str] | None = None) -> int:
    """Build (or use) a tiny model, run both trainers, print findings as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        if argv:
            model_dir = Path(argv[0])
        else:
            from pr1bench.models.tiny import build_tiny

            model_dir = build_tiny(Path(tmp) / "tiny")
        findings = {
            "sft": run_sft(model_dir, str(Path(tmp) / "sft")),
            "grpo": run_grpo(model_dir, str(Path(tmp) / "grpo")),
        }
    print(json.dumps(findings, default=str))  # last stdout line (the trainers print their logs above)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
