"""Build the embedded default policy: a randomly initialised, tiny Qwen2-VL, fully offline.

Why a real Qwen2-VL architecture rather than a toy: every code path the benchmark exercises on a 2B/7B model on
GPU (processor, chat template, mrope positions, TRL trainers, generation, box tokens) runs unchanged on this one on
CPU, so tests and CI cover the real thing. Why random init: there is no hub access; the bootstrap SFT turns it
into a usable policy (see /work/shared/SPIKE-NOTES.md for the measured recipe).

The output directory is a normal ``save_pretrained`` checkpoint (model, tokenizer, processor, generation config)
plus ``pr1bench_model.json``, a manifest with the builder version, seed, config, parameter count and the sha256 of
the weights, so results can name exactly which initial policy they started from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILDER_VERSION = 3
"""Bump whenever the corpus, tokenizer, template or config defaults change what ``build_tiny`` produces.

2: one token per integer 0..1000 (coordinates in pixels and on Qwen2-VL's 0-1000 scale), their embeddings
initialised from Fourier features of the value, answer-structure tokens, and the M-RoPE layout as a knob.
3: the tokenizer corpus holds the OCR task's own lexicon and ``vocab_size`` is 1536, so every word the OCR task
renders is one token, alone and after a space (issue 20: version 2 split 109 of its 130 words into 2-6 pieces,
differently at the start of an answer than after a space). Same architecture otherwise."""

MANIFEST_NAME = "pr1bench_model.json"
PATCH_SIZE = 14
MERGE_SIZE = 2
MIN_PIXELS = 56 * 56


@dataclass(frozen=True)
class TinyConfig:
    """The few knobs worth turning when the default tiny model is too weak (or too slow).

    Attributes:
        hidden: text hidden size; also the vision merger's output size. Must be divisible by ``heads``.
        intermediate: text MLP size.
        layers: text decoder layers.
        heads: text attention heads (KV heads are half of these, at least 1).
        vision_depth: vision transformer blocks.
        vision_dim: vision embedding size (4 vision heads).
        vocab_size: BPE vocabulary target, including 256 bytes and 14 special tokens.
        max_new_tokens: default generation length stored in the generation config.
        number_tokens: integers ``0 .. number_tokens - 1`` become single tokens (0: numbers stay digit by
            digit, builder version 1). Measured (../shared/SPIKE-NOTES.md, arms A vs B): with digit tokens the
            answer loss never left the plateau of a model that ignores positions; with number tokens it did.
        structure_tokens: add the answer-format fragments of ``tokenizer.STRUCTURE_TOKENS`` as single tokens.
        mrope: ``"interleaved"`` (t, h, w take every third rotary frequency, as Qwen3-VL does) or ``"chunked"``
            (Qwen2-VL's own three contiguous blocks, which leave the width axis only the lowest frequencies).
    """

    hidden: int = 128
    intermediate: int = 256
    layers: int = 2
    heads: int = 4
    vision_depth: int = 2
    vision_dim: int = 64
    vocab_size: int = 1536
    max_new_tokens: int = 256
    number_tokens: int = 1001
    structure_tokens: bool = True
    mrope: str = "interleaved"

    @property
    def head_dim(self) -> int:
        """Per-head width; mrope needs ``head_dim / 2`` split across (temporal, height, width)."""
        return self.hidden // self.heads


def mrope_section(head_dim: int, layout: str = "chunked") -> list[int]:
    """Split ``head_dim // 2`` rotary frequencies over (t, h, w).

    ``chunked`` is Qwen2-VL's own split ([16, 24, 24] for head_dim 128; [4, 6, 6] for 32): a quarter of the
    frequencies to time, then three eighths each to height and width, in that order, so width gets the lowest
    frequencies. At head_dim 32 and theta 1e4 one column step then turns the width section by at most 0.003 rad
    while one row step turns the height section by up to 0.1 rad: the LM can tell rows apart by position but
    hardly columns (the x/y asymmetry measured in the spike). ``interleaved`` lists ``head_dim // 2`` sections of
    one frequency each; transformers' Qwen2-VL assigns section ``i`` to axis ``i % 3``, so t, h and w take every
    third frequency and each axis spans the whole range, which is Qwen3-VL's interleaved M-RoPE expressed in a
    Qwen2-VL config.
    """
    half = head_dim // 2
    if layout == "interleaved":
        return [1] * half
    if layout != "chunked":
        raise ValueError(f"unknown M-RoPE layout {layout!r}; known: chunked, interleaved")
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def build_tiny(
    out_dir: Path,
    *,
    seed: int = 0,
    image_size: int = 112,
    overwrite: bool = False,
    config: TinyConfig | None = None,
) -> Path:
    """Build, save and return the directory of a tiny random-init Qwen2-VL with its processor.

    Args:
        out_dir: where to save; must not exist (or be empty) unless ``overwrite``.
        seed: torch seed for weight init; the same seed gives byte-identical weights.
        image_size: the largest image side the tasks use; ``max_pixels`` is ``image_size**2`` so a square image of
            that size is not downscaled (112 px -> 8x8 patches -> 16 visual tokens).
        overwrite: replace an existing non-empty ``out_dir``.
        config: model size knobs; ``TinyConfig()`` by default.

    Returns:
        ``out_dir`` (resolved).
    """
    cfg = config or TinyConfig()
    out_dir = _prepare_dir(Path(out_dir), overwrite)
    start = time.perf_counter()
    processor = build_processor(cfg, image_size)
    model = build_model(cfg, processor.tokenizer, seed)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    manifest = _manifest(cfg, seed, image_size, model, out_dir, time.perf_counter() - start)
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def _prepare_dir(out_dir: Path, overwrite: bool) -> Path:
    """Refuse to clobber a previous build unless asked; a half-overwritten checkpoint is worse than an error."""
    out_dir = out_dir.expanduser().resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out_dir} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def build_processor(cfg: TinyConfig, image_size: int) -> Any:
    """Tokenizer + image/video processors + chat template, as one ``Qwen2VLProcessor``."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    from pr1bench.models.corpus import build_corpus
    from pr1bench.models.tokenizer import CHAT_TEMPLATE, add_answer_tokens, train_tokenizer

    tokenizer = train_tokenizer(build_corpus(), cfg.vocab_size)
    if cfg.number_tokens or cfg.structure_tokens:
        add_answer_tokens(tokenizer, cfg.number_tokens, structure=cfg.structure_tokens)
    pixels = {"min_pixels": min(MIN_PIXELS, image_size**2), "max_pixels": image_size**2}
    common = {"patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": 2}
    image_processor = Qwen2VLImageProcessor(**pixels, **common)
    video_processor = Qwen2VLVideoProcessor(**pixels, **common)
    return Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def model_config(cfg: TinyConfig, tokenizer: Any) -> Any:
    """The ``Qwen2VLConfig`` for ``cfg``, with token ids taken from ``tokenizer`` (not Qwen's 151k-vocab ids)."""
    from transformers import Qwen2VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": cfg.hidden,
        "intermediate_size": cfg.intermediate,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.heads,
        "num_key_value_heads": max(1, cfg.heads // 2),
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": mrope_section(cfg.head_dim, cfg.mrope),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": cfg.vision_depth,
        "embed_dim": cfg.vision_dim,
        "hidden_size": cfg.hidden,
        "num_heads": 4,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": 2,
    }
    return Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_model(cfg: TinyConfig, tokenizer: Any, seed: int) -> Any:
    """Instantiate the model under a fixed torch seed (init order is fixed, so weights are reproducible)."""
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    config = model_config(cfg, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
        if cfg.number_tokens:
            init_number_embeddings(model, tokenizer, cfg.number_tokens, seed)
    model.eval()
    eos, pad = config.text_config.eos_token_id, config.text_config.pad_token_id
    model.generation_config = GenerationConfig(
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=pad,
        do_sample=False,
        max_new_tokens=cfg.max_new_tokens,
    )
    return model


def init_number_embeddings(model: Any, tokenizer: Any, n: int, seed: int, *, periods: tuple[float, float] = (2.0, 4000.0)
                           ) -> None:
    """Give the number tokens embeddings that are a smooth function of their value.

    Why: with tied embeddings the output layer scores token ``57`` with the embedding of ``57``; if neighbouring
    values have similar embeddings, learning to say 57 also raises 56 and 58, so coordinates are learned as a
    quantity rather than as 1,001 unrelated classes. The embedding of value ``v`` is a fixed random projection of
    ``[sin(2 pi v / p_k), cos(2 pi v / p_k)]`` over periods ``p_k`` spaced geometrically in ``periods``, scaled to
    the std of the other embeddings.
    """
    import torch

    from pr1bench.models.tokenizer import number_token_strings

    emb = model.get_input_embeddings().weight
    ids = tokenizer.convert_tokens_to_ids(number_token_strings(n))
    g = torch.Generator().manual_seed(seed + 7919)
    k = emb.shape[1] // 2
    p = torch.logspace(torch.log10(torch.tensor(periods[0])), torch.log10(torch.tensor(periods[1])), k)
    v = torch.arange(n, dtype=torch.float32)[:, None] * (2 * torch.pi / p)[None, :]
    feats = torch.cat([v.sin(), v.cos()], dim=1)  # (n, 2k), each row has norm sqrt(k)
    proj = torch.linalg.qr(torch.randn(emb.shape[1], 2 * k, generator=g))[0].T  # orthonormal rows
    vec = feats @ proj
    others = torch.ones(emb.shape[0], dtype=torch.bool)
    others[ids] = False
    vec = vec / vec.std() * emb[others].std()
    with torch.no_grad():
        emb[ids] = vec.to(emb.dtype)


def _manifest(cfg: TinyConfig, seed: int, image_size: int, model: Any, out_dir: Path, seconds: float) -> dict:
    """Provenance for the checkpoint: what built it and a hash that identifies its weights."""
    from pr1bench.models.corpus import CORPUS_SEED

    weights = sorted(out_dir.glob("*.safetensors"))
    return {
        "builder": "pr1bench.models.tiny.build_tiny",
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "corpus_seed": CORPUS_SEED,
        "image_size": image_size,
        "config": dataclasses.asdict(cfg),
        "param_count": sum(p.numel() for p in model.parameters()),
        "weights_sha256": {w.name: _sha256(w) for w in weights},
        "build_seconds": round(seconds, 3),
    }


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
