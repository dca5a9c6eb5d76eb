"""The training phases: SFT (TRL SFTTrainer) and GRPO (TRL GRPOTrainer), each resumable from checkpoints.

Runs inside the accelerate subprocess only. Datasets follow TRL 1.16's vision conventions: a
conversational ``prompt`` whose user turn holds ``{"type": "image"}`` plus the text, and an ``image``
column; SFT adds a conversational ``completion`` so the loss is on the answer only (completion-only loss).
Extra columns (``target``, ``width``, ``height``, ``n``) reach the reward functions as keyword lists.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pr1bench.dataset import Row, cot_answer
from pr1bench.train import dist
from pr1bench.train.callbacks import IntermediateEval, MetricsWriter


def conversation(row: Row, system: str | None) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    if system:
        msgs.append({"role": "system", "content": [{"type": "text", "text": system}]})
    msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row.prompt_text}]})
    return msgs


def sft_example(row: Row, system: str | None, *, cot: bool = False) -> dict[str, Any]:
    """One SFT row in TRL's prompt/completion vision format (completion-only loss on the answer)."""
    answer = cot_answer(row.answer) if cot else row.answer
    return {"prompt": conversation(row, system),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
            "image": row.image}


def grouped_sft_trainer(lengths: list[int]) -> Any:
    """SFTTrainer whose batches group samples of similar answer length (randomised in megabatches).

    A batch pads to its longest sample; with 1-object and 10-object answers mixed, most tokens would be
    padding (measured: ~3x slower steps on mixed detection data). TRL's own group_by_length needs a length
    column that its vision collator drops, so the sampler is given the lengths directly.
    """
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler
    from trl import SFTTrainer

    class _Grouped(SFTTrainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            g = torch.Generator()
            g.manual_seed(int(self.args.seed))
            # the global batch: each optimizer step then takes the same samples whatever the process count
            bs = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
            return LengthGroupedSampler(bs, lengths=lengths, generator=g)

    return _Grouped


def _device_kwargs() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported()}
    return {"use_cpu": True, "bf16": False}


def last_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest *complete* checkpoint: a kill during a save leaves a directory without its state files."""
    if not ckpt_dir.is_dir():
        return None
    done = []
    for d in ckpt_dir.glob("checkpoint-*"):
        step = d.name.rsplit("-", 1)[-1]
        if step.isdigit() and (d / "trainer_state.json").is_file() and (d / "optimizer.pt").is_file():
            done.append((int(step), d))
    return str(max(done)[1]) if done else None


def _common_args(out: Path, seed: int, trainer_cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "output_dir": str(out), "report_to": [], "seed": seed, "data_seed": seed, "save_strategy": "steps",
        "save_total_limit": 2, "save_only_model": False, "logging_first_step": True, "disable_tqdm": True,
        "dataloader_num_workers": 0, **_device_kwargs(), **trainer_cfg,
    }


def _resume(writer: MetricsWriter, ckpt_dir: Path, resume: bool) -> str | None:
    ckpt = last_checkpoint(ckpt_dir) if resume else None
    if ckpt and dist.is_main():  # metrics.jsonl is the main rank's file
        writer.truncate_after(int(Path(ckpt).name.rsplit("-", 1)[-1]))
    return ckpt


def run_sft(*, model_path: str, rows: list[Row], system: str | None, out_dir: Path, ckpt_dir: Path,
            metrics_path: Path, seed: int, trainer_cfg: dict[str, Any], resume: bool, cot: bool = False,
            callbacks: list[Any] | None = None, phase: str = "sft", evaluator: Any = None,
            eval_every: int | None = None) -> Path:
    """Supervised fine-tuning on ground-truth answers, loss on the answer tokens only (``evaluator`` and
    ``eval_every``: the same intermediate evaluation as GRPO's, for the learning curve)."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig

    from pr1bench.train.fast_sft import sft_trainer_class

    ds = Dataset.from_list([sft_example(r, system, cot=cot) for r in rows])
    cfg = {"max_length": None, "completion_only_loss": True, **trainer_cfg}
    args = SFTConfig(**_common_args(ckpt_dir, seed, cfg))
    processor = AutoProcessor.from_pretrained(model_path)
    model = AutoModelForImageTextToText.from_pretrained(model_path)
    writer = MetricsWriter(metrics_path, phase)
    extra = [IntermediateEval(evaluator, writer, eval_every)] if evaluator is not None and eval_every else []
    trainer_cls = sft_trainer_class(grouped_sft_trainer([len(r.answer) for r in rows]))
    trainer = trainer_cls(model=model, args=args, train_dataset=ds, processing_class=processor,
                          callbacks=[writer, *extra, *(callbacks or []), *dist.trainer_callbacks()])
    trainer.train(resume_from_checkpoint=_resume(writer, ckpt_dir, resume))
    return _save(trainer, processor, out_dir)


def run_grpo(*, model_path: str, rows: list[Row], system: str | None, out_dir: Path, ckpt_dir: Path,
             metrics_path: Path, seed: int, trainer_cfg: dict[str, Any], reward_funcs: list[Any],
             reward_weights: list[float], max_completion_length: int, resume: bool,
             evaluator: Any = None, eval_every: int | None = None) -> Path:
    """GRPO with the task's rewards; the group size, beta, lr and temperature come from ``trainer_cfg``."""
    writer = MetricsWriter(metrics_path, "grpo")
    callbacks: list[Any] = [writer]
    if evaluator is not None and eval_every:
        callbacks.append(IntermediateEval(evaluator, writer, eval_every))
    callbacks += dist.trainer_callbacks()  # last: the ranks' stop agreement sees every other callback's decision
    trainer, processor = build_grpo_trainer(
        model_path=model_path, rows=rows, system=system, ckpt_dir=ckpt_dir, seed=seed, trainer_cfg=trainer_cfg,
        reward_funcs=reward_funcs, reward_weights=reward_weights, max_completion_length=max_completion_length,
        callbacks=callbacks)
    trainer.train(resume_from_checkpoint=_resume(writer, ckpt_dir, resume))
    return _save(trainer, processor, out_dir)


def build_grpo_trainer(*, model_path: str, rows: list[Row], system: str | None, ckpt_dir: Path, seed: int,
                       trainer_cfg: dict[str, Any], reward_funcs: list[Any], reward_weights: list[float],
                       max_completion_length: int, callbacks: list[Any] | None = None,
                       trainer_cls: type | None = None) -> tuple[Any, Any]:
    """The GRPO trainer and processor ``run_grpo`` trains with (also what benchmarks/bench_step.py times).

    ``trainer_cls`` defaults to :func:`pr1bench.train.fast_grpo.grpo_trainer_class`: TRL's GRPOTrainer with
    each group's shared prompt computed once (same algorithm), or TRL's own with PR1BENCH_GRPO_TRAINER=plain.
    """
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig

    from pr1bench.train.fast_grpo import grpo_trainer_class

    ds = Dataset.from_list([
        {"prompt": conversation(r, system), "image": r.image, "target": r.target_json, "width": r.width,
         "height": r.height, "n": r.n}
        for r in rows
    ])
    cfg = {"max_completion_length": max_completion_length, **trainer_cfg}
    _check_group(cfg)
    args = GRPOConfig(reward_weights=reward_weights, **_common_args(ckpt_dir, seed, cfg))
    processor = AutoProcessor.from_pretrained(model_path, padding_side="left")
    model = AutoModelForImageTextToText.from_pretrained(model_path)
    cls = trainer_cls or grpo_trainer_class()
    trainer = cls(model=model, reward_funcs=reward_funcs, args=args, train_dataset=ds, processing_class=processor,
                  callbacks=callbacks or [])
    return trainer, processor


def _check_group(cfg: dict[str, Any]) -> None:
    """TRL needs the generation batch to be a multiple of the group size; say so in our terms."""
    g = int(cfg.get("num_generations", 8))
    world = dist.world_size()  # TRL groups over the global generation batch (gathered across ranks)
    b = int(cfg.get("per_device_train_batch_size", 8)) * int(cfg.get("gradient_accumulation_steps", 1)) * world
    if g < 2:
        raise ValueError(f"num_generations must be >= 2 for GRPO (got {g}): the advantage needs a group")
    if b % g:
        lcm = b * g // math.gcd(b, g)
        what = "per_device_train_batch_size x gradient_accumulation_steps" + (f" x {world} processes" if world > 1 else "")
        raise ValueError(f"{what} ({b}) must be a multiple of num_generations ({g}); e.g. set "
                         f"per_device_train_batch_size={lcm // world if lcm % world == 0 else lcm}")


def _save(trainer: Any, processor: Any, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out_dir))
    if dist.needs_own_copy():  # another machine's own results dir: transformers writes weights on rank 0 only
        dist.write_weights(trainer.accelerator.unwrap_model(trainer.model), out_dir)
    if trainer.args.should_save:  # one writer per machine (the trainer's own rule for its files)
        processor.save_pretrained(str(out_dir))
    return out_dir
