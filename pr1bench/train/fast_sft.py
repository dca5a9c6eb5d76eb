"""SFT with TRL's fused LM head scoring only the answer tokens, as it already does on Triton devices.

TRL 1.16's SFTTrainer computes the loss through a fused LM head (``add_fused_lm_head``) that, off Triton devices
(so on CPU), projects *every* position through the vocabulary, prompt and padding included, and zeroes the ignored
ones afterwards. With completion-only loss on the embedded model, most positions are prompt (16 image tokens plus
the instruction) or padding. ``compact_sft_trainer`` keeps TRL's kernel and outputs but gives it only the
positions whose label counts, which is what TRL does on GPUs: same loss, entropy and token accuracy (the kernel
is per position; only float summation order can differ).
"""

from __future__ import annotations

import functools
import os
import types
from typing import Any

ENV_TRAINER = "PR1BENCH_SFT_TRAINER"
"""Environment variable: ``plain`` keeps TRL's fused head as it is (scoring every position) for SFT."""


def sft_trainer_class(base: type) -> type:
    """What ``run_sft`` trains with: ``base`` with the compact head, or ``base`` itself with PR1BENCH_SFT_TRAINER=plain."""
    choice = os.environ.get(ENV_TRAINER, "compact").strip().lower()
    if choice == "plain":
        return base
    if choice not in ("", "compact"):
        raise ValueError(f"{ENV_TRAINER}={choice!r}: use 'plain' (TRL's head on every position) or 'compact'")
    return compact_sft_trainer(base)



def compact_sft_trainer(base: type) -> type:
    """A subclass of the SFT trainer class ``base`` whose fused LM head scores only labelled positions."""

    class _CompactHead(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.compact_head = install_compact_head(self.model)

    _CompactHead.__name__ = f"Compact{base.__name__}"
    return _CompactHead


def _supported(model: Any) -> bool:
    text = model.config.get_text_config()
    scaled = any(getattr(text, k, None) is not None for k in ("final_logit_softcapping", "logit_scale",
                                                            "output_multiplier", "lm_head_multiplier", "logits_scaling"))
    backbone = getattr(model, "base_model", None)
    return not scaled and backbone is not None and backbone is not model and model.get_output_embeddings() is not None


def install_compact_head(model: Any, outputs: tuple[str, ...] = ("log_probs", "entropy", "is_top1")) -> bool:
    """Wrap the fused forward TRL installed on ``model``: ``fused_lm_head=True`` calls score labelled positions only.

    Anything the wrapper does not cover (shift_labels from sequence parallelism, MoE router logits, scaled or
    soft-capped logits, PEFT) goes to TRL's forward unchanged. Returns whether the wrapper was installed.
    """
    from accelerate.utils import is_peft_model

    if is_peft_model(model) or not _supported(model):
        return False
    trl_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: Any = None, shift_labels: Any = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        if not fused_lm_head or labels is None or shift_labels is not None or kwargs.get("output_router_logits") \
                or getattr(self.config.get_text_config(), "output_router_logits", False):
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        from trl.kernels import ChunkedLogProbFunction
        from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE, FusedCausalLMOutput

        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:].to(hidden.device)
        mask = labels != -100
        head = self.get_output_embeddings()
        per_token = ChunkedLogProbFunction.apply(hidden[mask], head.weight, head.bias, labels[mask], 1.0,
                                                 _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, outputs)
        # masked_scatter keeps an all-ignored batch connected to the graph (a differentiable zero), as TRL does
        log_probs, entropy, log_sum_sq, mean_logits, is_top1 = (
            None if x is None else x.new_zeros(mask.shape).masked_scatter(mask, x) for x in per_token)
        denom = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / denom, log_probs=log_probs, entropy=entropy,
                                   log_sum_sq_probs=log_sum_sq, mean_logits=mean_logits, is_top1=is_top1,
                                   label_mask=mask, aux_loss=None)

    model.forward = types.MethodType(forward, model)
    return True

