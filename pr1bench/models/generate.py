"""Batched HF generation for one-image prompts, returning answers with their meaningful special tokens intact.

Why not ``skip_special_tokens=True``: Qwen2-VL grounding answers use ``<|object_ref_start|>``/``<|box_start|>``
etc., which are special tokens; skipping them would destroy the answer before the parser sees it. We instead cut at
the first eos and drop padding, then decode everything else verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image


def build_messages(prompt: str, system: str | None = None) -> list[dict[str, Any]]:
    """The conversation for one image + one text prompt (image first, as Qwen2-VL was trained)."""
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]})
    return messages


def _stop_ids(model: Any, processor: Any) -> set[int]:
    """Token ids that end an answer: the generation config's eos id(s) plus the tokenizer's eos."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if processor.tokenizer.eos_token_id is not None:
        ids.add(processor.tokenizer.eos_token_id)
    return ids


def _vision_placeholder_ids(model: Any) -> list[int]:
    """Image/video pad ids must never be generated: a completion containing one breaks the next forward pass with
    pixel values (feature/token count mismatch). TRL's GRPO rollouts suppress the image token the same way, so
    evaluation samples from the same distribution as training."""
    config = model.config
    return [
        i
        for i in (getattr(config, "image_token_id", None), getattr(config, "video_token_id", None))
        if i is not None
    ]


def decode_completions(token_rows: Any, processor: Any, stop_ids: set[int]) -> list[str]:
    """Decode generated ids: truncate at the first stop id, drop pad ids, keep every other special token."""
    pad_id = processor.tokenizer.pad_token_id
    texts = []
    for row in token_rows.tolist():
        cut = next((i for i, tok in enumerate(row) if tok in stop_ids), len(row))
        kept = [tok for tok in row[:cut] if tok != pad_id]
        texts.append(
            processor.tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        )
    return texts


def _generate_chunk(
    model: Any, processor: Any, images: Sequence[Image], texts: Sequence[str], gen_kwargs: dict[str, Any]
) -> list[str]:
    """Tokenise one chunk with left padding, generate, and decode only the new tokens."""
    import torch

    inputs = processor(
        text=list(texts), images=list(images), padding=True, padding_side="left", return_tensors="pt"
    ).to(model.device)
    with torch.inference_mode():
        out = model.generate(**inputs, **gen_kwargs)
    new_tokens = out[:, inputs["input_ids"].shape[1] :]
    return decode_completions(new_tokens, processor, _stop_ids(model, processor))


def generate_batch(
    model: Any,
    processor: Any,
    images: list[Image],
    prompts: list[str],
    *,
    system: str | None = None,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    batch_size: int = 16,
) -> list[str]:
    """Generate one completion per (image, prompt) pair, in input order.

    Args:
        model: a Qwen2-VL-style ``*ForConditionalGeneration`` model.
        processor: its processor (chat template + image processor).
        images: one PIL image per prompt.
        prompts: user text per image.
        system: optional system message for every conversation.
        max_new_tokens: generation budget per completion.
        do_sample: sample instead of greedy; seed torch yourself for reproducibility.
        temperature: sampling temperature (ignored when greedy).
        batch_size: conversations per ``generate`` call.

    Returns:
        Decoded completions without pad/eos but with other special tokens (``<|box_start|>`` ...) kept.
    """
    if len(images) != len(prompts):
        raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; pass one image per prompt")
    texts = [
        processor.apply_chat_template(build_messages(p, system), tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    gen_kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample}
    gen_kwargs["pad_token_id"] = processor.tokenizer.pad_token_id
    gen_kwargs["suppress_tokens"] = _vision_placeholder_ids(model)
    if do_sample:
        gen_kwargs["temperature"] = temperature
    results: list[str] = []
    for start in range(0, len(texts), batch_size):
        end = start + batch_size
        results += _generate_chunk(model, processor, images[start:end], texts[start:end], gen_kwargs)
    return results
