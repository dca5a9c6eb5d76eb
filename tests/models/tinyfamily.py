"""Tiny random-init checkpoints of each Qwen VL family, offline (the embedded model's tokenizer, fresh weights).

Each is a real ``save_pretrained`` directory whose ``config.json`` carries the family's ``model_type``, so
:mod:`pr1bench.models.family` reads it exactly as it reads a released checkpoint, and TRL trains it unchanged.
No ``pr1bench_model.json`` is written: these stand in for released models with native conventions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
HIDDEN, HEADS, LAYERS = 64, 4, 1


def _text(tok: Any, ids: dict[str, int], head_dim: int, mrope: list[int]) -> dict[str, Any]:
    return {"vocab_size": len(tok), "hidden_size": HIDDEN, "intermediate_size": 128, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "num_key_value_heads": 2, "head_dim": head_dim,
            "max_position_embeddings": 2048,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}


def build(family: str, out: Path, *, seed: int = 0) -> Path:
    """Save a tiny ``family`` model + processor under ``out`` (a few seconds) and return ``out``."""
    import torch
    import transformers as tf

    from pr1bench.embedded import resolve_model

    base = tf.AutoProcessor.from_pretrained(resolve_model(None))
    tok = base.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens}
    vis_ids = {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
               "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"]}
    head_dim = HIDDEN // HEADS
    patch = 16 if family == "qwen3_vl" else 14
    pixels = {"min_pixels": 56 * 56, "max_pixels": 128 * 128}
    common = {"patch_size": patch, "merge_size": 2, "temporal_patch_size": 2}
    if family == "qwen2_vl":
        cfg = tf.Qwen2VLConfig(text_config=_text(tok, ids, head_dim, [2, 3, 3]), vision_config={
            "depth": 1, "embed_dim": 32, "hidden_size": HIDDEN, "num_heads": 2, "patch_size": 14,
            "spatial_merge_size": 2, "temporal_patch_size": 2}, tie_word_embeddings=True, **vis_ids)
        model_cls, proc_cls = tf.Qwen2VLForConditionalGeneration, tf.Qwen2VLProcessor
    elif family == "qwen2_5_vl":
        cfg = tf.Qwen2_5_VLConfig(text_config=_text(tok, ids, head_dim, [2, 3, 3]), vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": HIDDEN,
            "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
            "fullatt_block_indexes": [0]}, tie_word_embeddings=True, **vis_ids)
        model_cls, proc_cls = tf.Qwen2_5_VLForConditionalGeneration, tf.Qwen2_5_VLProcessor
    elif family == "qwen3_vl":
        cfg = tf.Qwen3VLConfig(text_config=_text(tok, ids, head_dim, [2, 3, 3]), vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": HIDDEN,
            "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 64,
            "deepstack_visual_indexes": []}, tie_word_embeddings=True, **vis_ids)
        model_cls, proc_cls = tf.Qwen3VLForConditionalGeneration, tf.Qwen3VLProcessor
    else:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    if family == "qwen3_vl":
        image_processor = tf.Qwen2VLImageProcessor(**pixels, **common)
        video_processor = tf.Qwen3VLVideoProcessor(size={"shortest_edge": pixels["min_pixels"],
                                                         "longest_edge": pixels["max_pixels"]}, **common)
    else:
        image_processor = tf.Qwen2VLImageProcessor(**pixels, **common)
        video_processor = tf.Qwen2VLVideoProcessor(**pixels, **common)
    processor = proc_cls(image_processor=image_processor, tokenizer=tok, video_processor=video_processor,
                         chat_template=base.chat_template)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(cfg)
    model.generation_config = tf.GenerationConfig(eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                                                  do_sample=False, max_new_tokens=8)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
