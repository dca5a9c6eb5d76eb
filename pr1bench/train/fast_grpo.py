"""TRL's GRPOTrainer, same algorithm, less work per step: the G completions of a group share one prompt.

GRPO samples ``num_generations`` completions per prompt, and TRL treats the G rows of a group as unrelated
sequences: every pass (generation prefill, reference log-probs, policy log-probs with their backward) runs the
vision tower on G copies of the same image and the language model on G copies of the same prompt tokens, and
on CPU TRL's fused LM head scores every position, prompt included. On the embedded tiny model that repeated
prompt work is most of a step. ``SharedPromptGRPOTrainer`` computes it once per group:

* **log-prob passes** (policy with gradient, reference without): the prompt (image included) runs once per
  distinct prompt with a KV cache, the cache is indexed out to the G rows (autograd sums the G gradients
  into the one prompt pass, which is exactly the gradient of G separate copies), the completion tokens run
  on top of it in 1-4 chunks of rows sorted by length (padding not computed), and the LM head scores only
  the real completion tokens (TRL's own chunked log-prob kernel).
* **generation** (Qwen2-VL, Qwen2.5-VL): each distinct prompt goes to ``generate`` once with
  ``num_return_sequences=G`` (its image encoded once), is prefilled once and its cache expanded to the G rows;
  decoding then feeds only the rows that have not ended. Sampling calls ``torch.multinomial`` on the full batch
  at every step exactly as ``transformers``' ``_sample`` does, so the random stream, hence the completions, are
  the same.
* **preprocessing**: tokenization and image preprocessing once per distinct prompt, outputs repeated.

Nothing else changes: same loss, same completions for a seed, same number of updates. The rows of a group are
found by content (prompt tokens, mask and image pixels), so shuffled batches work. Whatever this does not
cover (several processes, PEFT, gradient checkpointing, dropout, vLLM, tools, models without Qwen-VL style
M-RoPE position ids or without a KV cache, beams, streamers) falls back to TRL's code, and the first log-prob
pass of a run is checked against TRL's own (``verify``): a mismatch warns and turns the shared path off.

``PR1BENCH_GRPO_TRAINER=plain`` in the environment makes ``run_grpo`` use TRL's GRPOTrainer unchanged.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import warnings
from typing import Any

import torch
from trl import GRPOTrainer

from pr1bench.train.shared_parts import (
    DECODE_FAMILIES,
    DedupImages,
    adjacent_groups,
    equal_runs,
    grouped_sample,
    repeat_fields,
)

log = logging.getLogger(__name__)

ENV_TRAINER = "PR1BENCH_GRPO_TRAINER"
"""Environment variable: ``plain`` selects TRL's GRPOTrainer as is (the opt-out); unset or ``shared`` this one."""

VERIFY_ATOL = 1e-4
"""Largest |log-prob difference| the first shared pass may show against TRL's own in float32 (measured: ~3e-6,
summation order only); in half precision 64 epsilons of the largest |log-prob|."""

_MM_UNSUPPORTED = ("pixel_attention_mask", "spatial_shapes", "num_tiles", "image_sizes", "token_type_ids",
                   "image_position_ids")


def grpo_trainer_class() -> type:
    """The trainer ``run_grpo`` builds: the shared-prompt one, or TRL's own with ``PR1BENCH_GRPO_TRAINER=plain``."""
    choice = os.environ.get(ENV_TRAINER, "shared").strip().lower()
    if choice == "plain":
        return GRPOTrainer
    if choice not in ("", "shared"):
        raise ValueError(f"{ENV_TRAINER}={choice!r}: use 'plain' (TRL's GRPOTrainer) or 'shared' (the default)")
    return SharedPromptGRPOTrainer


def prompt_groups(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, pixel_values: torch.Tensor | None,
                  image_grid_thw: torch.Tensor | None, num_images: list[int] | None
                  ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Rows with identical prompt tokens, mask and image pixels: (first row of each group, group of each row).

    Returns None when no two rows share a prompt (nothing to save) or the image layout is not one block of
    ``image_grid_thw`` rows per sample. Pixels are compared exactly (``torch.equal``), never hashed.
    """
    n = prompt_ids.size(0)
    blocks: list[torch.Tensor | None] = [None] * n
    img_rows: list[tuple[int, int]] = [(0, 0)] * n
    if pixel_values is None and image_grid_thw is not None:
        return None  # images without their pixels: rows cannot be compared
    if pixel_values is not None:
        if image_grid_thw is None or num_images is None or len(num_images) != n:
            return None
        per_image = image_grid_thw.prod(-1).tolist()
        if sum(per_image) != pixel_values.size(0):
            return None
        row = img = 0
        for i, k in enumerate(num_images):
            rows = sum(per_image[img:img + k])
            blocks[i] = pixel_values[row:row + rows]
            img_rows[i] = (img, img + k)
            row, img = row + rows, img + k
    ids, mask = prompt_ids.cpu(), prompt_mask.cpu()
    grid = image_grid_thw.cpu() if image_grid_thw is not None else None
    reps: list[int] = []
    by_key: dict[bytes, list[int]] = {}
    inverse = []
    for i in range(n):
        key = ids[i].numpy().tobytes() + mask[i].numpy().tobytes()
        if grid is not None:
            key += grid[img_rows[i][0]:img_rows[i][1]].numpy().tobytes()
        for g in by_key.setdefault(key, []):
            b_i, b_g = blocks[i], blocks[reps[g]]
            if b_i is None or (b_g is not None and torch.equal(b_i, b_g)):
                inverse.append(g)
                break
        else:
            by_key[key].append(len(reps))
            inverse.append(len(reps))
            reps.append(i)
    if len(reps) == n:
        return None
    dev = prompt_ids.device
    return torch.tensor(reps, device=dev), torch.tensor(inverse, device=dev)


def _select_images(pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, num_images: list[int],
                   rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel rows and grid rows of the given samples, in that order."""
    per_image = image_grid_thw.prod(-1).tolist()
    img_start = [0]
    for k in num_images:
        img_start.append(img_start[-1] + k)
    pix_start = [0]
    for p in per_image:
        pix_start.append(pix_start[-1] + p)
    pv, grid = [], []
    for r in rows:
        a, b = img_start[r], img_start[r + 1]
        pv.append(pixel_values[pix_start[a]:pix_start[b]])
        grid.append(image_grid_thw[a:b])
    return torch.cat(pv), torch.cat(grid)


PARTS = ("logps", "length_chunks", "generation", "preprocessing")
"""The shared-prompt changes: log-prob passes with one prompt pass per group and the LM head on completion
tokens; those passes cut into length chunks; generation from each prompt once; tokenization and image
preprocessing once per prompt."""

CHUNK_OVERHEAD_TOKENS = 128
"""What one more completion forward costs, in completion tokens, when choosing how to split rows by length."""


def _length_chunks(valid: torch.Tensor, max_chunks: int = 4) -> list[tuple[torch.Tensor, int]]:
    """Rows sorted by completion length and cut into 1-4 equal chunks, each with its longest length.

    A batch pads every completion to the longest; computing the short ones in their own chunk skips that
    padding. The split minimises (rows x length) summed over chunks plus CHUNK_OVERHEAD_TOKENS per chunk.
    Rows without any completion token are left out (they score nothing).
    """
    pos = torch.arange(1, valid.size(1) + 1, device=valid.device)
    length = (valid * pos).amax(1)  # last real token + 1 (0 for none)
    order = torch.argsort(length, stable=True)
    order = order[length[order] > 0]
    if order.numel() == 0:
        return []
    lens = length[order].tolist()
    best: list[tuple[torch.Tensor, int]] = []
    best_cost = None
    for k in range(1, min(max_chunks, len(lens)) + 1):
        bounds = [round(i * len(lens) / k) for i in range(k + 1)]
        parts = [(bounds[i], bounds[i + 1]) for i in range(k) if bounds[i + 1] > bounds[i]]
        cost = sum((b - a) * lens[b - 1] for a, b in parts) + CHUNK_OVERHEAD_TOKENS * len(parts)
        if best_cost is None or cost < best_cost:
            best_cost, best = cost, [(order[a:b], lens[b - 1]) for a, b in parts]
    return best


class SharedPromptGRPOTrainer(GRPOTrainer):
    """GRPOTrainer that computes each group's shared prompt once per pass (see the module docstring).

    Args beyond GRPOTrainer's:
        verify: compare the first shared log-prob pass with TRL's own and fall back on a mismatch.
        parts: which of :data:`PARTS` to use (all by default; fewer only to measure what each buys).
    """

    def __init__(self, *args: Any, verify: bool = True, parts: tuple[str, ...] = PARTS, **kwargs: Any):
        super().__init__(*args, **kwargs)
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown shared-prompt parts {sorted(unknown)}; known: {list(PARTS)}")
        self.parts = frozenset(parts)
        self._shared_verify = verify
        self._shared_ok: bool | None = None  # None: not decided yet (needs the first batch)
        self.shared_stats = {"logp_shared": 0, "logp_plain": 0, "gen_shared": 0, "gen_plain": 0, "images_shared": 0}

    # ---- when the shared path applies -------------------------------------------------------------------
    def _shared_supported(self) -> bool:
        if self._shared_ok is None:
            self._shared_ok = self._check_supported()
        return self._shared_ok

    def _check_supported(self) -> bool:
        from accelerate.utils import is_peft_model

        reasons = []
        if self.accelerator.num_processes != 1:
            reasons.append("several processes")
        model = self.model
        if is_peft_model(model):
            reasons.append("PEFT model")
        if self.args.gradient_checkpointing:
            reasons.append("gradient checkpointing")
        if self.use_vllm or self.use_transformers_continuous_batching or self.tools or self.rollout_func:
            reasons.append("vLLM / continuous batching / tools / rollout_func")
        if self.args.cast_lm_head_to_fp32:
            reasons.append("cast_lm_head_to_fp32")
        text_cfg = model.config.get_text_config()
        if getattr(text_cfg, "final_logit_softcapping", None) is not None or any(
                getattr(text_cfg, k, None) is not None
                for k in ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")):
            reasons.append("scaled or soft-capped logits")
        if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules()) or any(
                float(getattr(c, k, 0.0) or 0.0) > 0 for c in (text_cfg, model.config)
                for k in ("attention_dropout", "hidden_dropout", "dropout")):
            reasons.append("dropout (the G copies of a prompt would get different masks)")
        backbone = getattr(model, "base_model", None)
        if backbone is None or backbone is model or model.get_output_embeddings() is None:
            reasons.append("no separate backbone / LM head")
        elif self._is_vlm and not hasattr(backbone, "compute_3d_position_ids"):
            reasons.append(f"{type(backbone).__name__} has no compute_3d_position_ids (not a Qwen-VL family)")
        if reasons:
            log.info("shared-prompt GRPO off, TRL's code used: %s", "; ".join(reasons))
        return not reasons

    # ---- log-prob passes ----------------------------------------------------------------------------------
    def _get_per_token_logps_and_entropies(self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                                           logits_to_keep: int, batch_size: int | None = None,
                                           compute_entropy: bool = False, compute_aux_loss: bool = False,
                                           pixel_values: torch.Tensor | None = None,
                                           image_grid_thw: torch.Tensor | None = None,
                                           num_images: list[int] | None = None, mm_token_type_ids: Any = None,
                                           **other: Any) -> Any:
        plain = functools.partial(
            super()._get_per_token_logps_and_entropies, model, input_ids, attention_mask, logits_to_keep,
            batch_size=batch_size, compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss,
            pixel_values=pixel_values, image_grid_thw=image_grid_thw, num_images=num_images,
            mm_token_type_ids=mm_token_type_ids, **other)
        if (compute_aux_loss or any(other.get(k) is not None for k in _MM_UNSUPPORTED)
                or "logps" not in self.parts or not self._shared_supported()
                or model is not self.accelerator.unwrap_model(model)):
            self.shared_stats["logp_plain"] += 1
            return plain()
        bs = batch_size or input_ids.size(0)
        logps, ents = [], []
        for start in range(0, input_ids.size(0), bs):
            end = min(start + bs, input_ids.size(0))
            sl = slice(start, end)
            pv = grid = None
            n_img = None
            if pixel_values is not None:
                n_img = num_images[sl]
                pv, grid = _select_images(pixel_values, image_grid_thw, num_images, list(range(start, end)))
            lp, ent = self._shared_logps(model, input_ids[sl], attention_mask[sl], logits_to_keep, compute_entropy,
                                         pv, grid, n_img, None if mm_token_type_ids is None else mm_token_type_ids[sl])
            logps.append(lp)
            ents.append(ent)
        self.shared_stats["logp_shared"] += 1
        logps_t = torch.cat(logps)
        ents_t = torch.cat(ents) if compute_entropy else None
        if self._shared_verify:
            self._shared_verify = False
            with torch.no_grad():
                ref_lp, ref_ent, _ = plain()
            valid = attention_mask[:, -logits_to_keep:].bool()
            err = (logps_t.detach() - ref_lp)[valid].abs().max().item() if valid.any() else 0.0
            if compute_entropy:
                err = max(err, (ents_t.detach() - ref_ent)[valid].abs().max().item() if valid.any() else 0.0)
            tol = VERIFY_ATOL
            low = next(model.parameters()).dtype
            if self.args.bf16 or self.args.fp16 or low != torch.float32:  # half precision: scale by its epsilon
                eps = torch.finfo(torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else low).eps
                tol = 64 * eps * max(1.0, ref_lp[valid].abs().max().item() if valid.any() else 1.0)
            if not err <= tol:
                warnings.warn(f"shared-prompt GRPO: the first log-prob pass differs from TRL's by {err:.2e} "
                              f"(> {tol:.1e}); falling back to TRL's GRPOTrainer code for this run", stacklevel=2)
                self._shared_ok = False
                return (ref_lp, ref_ent, None) if not torch.is_grad_enabled() else plain()
            log.info("shared-prompt GRPO: first log-prob pass matches TRL's (max |diff| %.1e)", err)
        return logps_t, ents_t, None

    def _shared_logps(self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_comp: int,
                      compute_entropy: bool, pixel_values: torch.Tensor | None, image_grid_thw: torch.Tensor | None,
                      num_images: list[int] | None, mm_token_type_ids: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        from transformers.cache_utils import DynamicCache
        from trl.kernels import ChunkedLogProbFunction
        from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

        n_prompt = input_ids.size(1) - n_comp
        backbone = model.base_model
        groups = prompt_groups(input_ids[:, :n_prompt], attention_mask[:, :n_prompt], pixel_values,
                               image_grid_thw, num_images)
        if groups is None:
            reps = torch.arange(input_ids.size(0), device=input_ids.device)
            inverse = reps
        else:
            reps, inverse = groups
        with self.accelerator.autocast():
            position_ids = None
            if hasattr(backbone, "compute_3d_position_ids"):
                # exactly what the model's own full-sequence forward computes (M-RoPE from tokens, grid and mask)
                with torch.no_grad():
                    position_ids = backbone.compute_3d_position_ids(
                        input_ids=input_ids, inputs_embeds=None, image_grid_thw=image_grid_thw, video_grid_thw=None,
                        attention_mask=attention_mask, cache=None, mm_token_type_ids=mm_token_type_ids)
            if position_ids is None:  # a text model: positions are 0..L-1 whatever the padding
                position_ids = torch.arange(input_ids.size(1), device=input_ids.device).view(1, 1, -1).expand(
                    3, input_ids.size(0), -1)
            rep_list = reps.tolist()
            pref_kwargs: dict[str, Any] = {}
            if pixel_values is not None:
                pref_kwargs["pixel_values"], pref_kwargs["image_grid_thw"] = _select_images(
                    pixel_values, image_grid_thw, num_images, rep_list)
            if mm_token_type_ids is not None:
                pref_kwargs["mm_token_type_ids"] = mm_token_type_ids[reps, :n_prompt]
            prefix = backbone(input_ids=input_ids[reps, :n_prompt], attention_mask=attention_mask[reps, :n_prompt],
                              position_ids=position_ids[:, reps, :n_prompt], use_cache=True, **pref_kwargs)
            cache = prefix.cache
            last = prefix.last_hidden_state[:, -1:]
            targets = input_ids[:, n_prompt:]
            valid = attention_mask[:, n_prompt:].bool()
            hs, tgs, rows_at, cols_at = [], [], [], []
            for rows, length in _length_chunks(valid, 4 if "length_chunks" in self.parts else 1):
                # a cache of just these rows' prompts, cut to their longest completion: padding is not computed
                sub = DynamicCache(config=model.config)
                for li, layer in enumerate(cache.layers):
                    sub.update(layer.keys[inverse[rows]], layer.values[inverse[rows]], li)
                comp = backbone(input_ids=targets[rows, :length],
                                attention_mask=attention_mask[rows, :n_prompt + length],
                                position_ids=position_ids[:, rows, n_prompt:n_prompt + length], cache=sub,
                                use_cache=True)
                # the hidden state at position t predicts token t+1: the last prompt position predicts token 0
                hidden = torch.cat([last[inverse[rows]], comp.last_hidden_state[:, :-1]], dim=1)
                v = valid[rows, :length]
                hs.append(hidden[v])
                tgs.append(targets[rows, :length][v])
                r, c = v.nonzero(as_tuple=True)
                rows_at.append(rows[r])
                cols_at.append(c)
            head = model.get_output_embeddings()
            outputs = ("log_probs", "entropy") if compute_entropy else ("log_probs",)
            if not hs:  # no completion token at all: zeros still connected to the model (as TRL's are)
                zero = last.sum() * 0.0
                return zero + valid.new_zeros(valid.shape, dtype=last.dtype), (
                    zero + valid.new_zeros(valid.shape, dtype=last.dtype) if compute_entropy else None)
            per_token = ChunkedLogProbFunction.apply(torch.cat(hs), head.weight, head.bias, torch.cat(tgs),
                                                     self.temperature, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, outputs)
        at = (torch.cat(rows_at), torch.cat(cols_at))
        logps = per_token[0].new_zeros(valid.shape).index_put(at, per_token[0])
        ent = per_token[1].new_zeros(valid.shape).index_put(at, per_token[1]) if compute_entropy else None
        return logps, ent

    # ---- image preprocessing ------------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: Any) -> Any:
        """TRL's, with the processor's image processor preprocessing each run of identical adjacent images once.

        TRL preprocesses the images again (all G copies) for the log-prob passes' pixel values; the repeated
        output is what the image processor returns for each copy, since it treats images one by one.
        """
        proc = self.processing_class
        original = getattr(proc, "image_processor", None)
        if original is None or not self._is_vlm or "preprocessing" not in self.parts or not self._shared_supported():
            return super()._generate_and_score_completions(inputs)
        proc.image_processor = DedupImages(original, self.shared_stats)
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            proc.image_processor = original

    # ---- prompt tokenization ----------------------------------------------------------------------------
    def _tokenize_prompts(self, prompts: list) -> Any:
        """Tokenize (and preprocess the image of) each run of identical adjacent prompts once, then repeat it.

        The processor treats every prompt of a batch on its own, so the repeated outputs are the ones it would
        have produced for each copy.
        """
        runs = None
        if "preprocessing" in self.parts and self._shared_supported() and self.environment_factories is None:
            runs = equal_runs(prompts)
        if runs is None:
            return super()._tokenize_prompts(prompts)
        firsts = [prompts[a] for a, _ in runs]
        prompt_ids, images, fields = super()._tokenize_prompts(firsts)
        counts = [b - a for a, b in runs]
        out = repeat_fields(fields, counts, prompt_ids)
        if out is None:
            return super()._tokenize_prompts(prompts)
        rep_ids = [ids for ids, c in zip(prompt_ids, counts, strict=True) for _ in range(c)]
        rep_images = None if images is None else [im for im, c in zip(images, counts, strict=True) for _ in range(c)]
        return rep_ids, rep_images, out

    # ---- generation ---------------------------------------------------------------------------------------
    def _generate_single_turn(self, prompt_ids: Any, images: Any, multimodal_fields: Any, num_generations: int,
                              has_tool_images: bool = False) -> Any:
        """Generate from each distinct prompt once with ``num_return_sequences=G`` when the G copies are adjacent.

        ``generate`` then encodes each image once and repeats the encoded prompt G times before sampling, so the
        batch it samples from, its order and the random stream are those of the G copies.
        """
        uniq = None
        # other families: transformers 5.24 cannot expand Qwen3-VL's deepstack features for num_return_sequences
        # greedy decoding: transformers refuses num_return_sequences > 1 (and G greedy copies would be equal anyway)
        family_ok = (self.accelerator.unwrap_model(self.model).config.model_type in DECODE_FAMILIES
                     and bool(self.generation_config.do_sample))
        if family_ok and "generation" in self.parts and self._shared_supported() and not has_tool_images:
            uniq = adjacent_groups(prompt_ids, multimodal_fields, num_generations)
        if uniq is None:
            self.shared_stats["gen_plain"] += 1
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        u_ids, u_fields = uniq
        config = self.generation_config
        self.generation_config = copy.copy(config)
        self.generation_config.num_return_sequences = num_generations * (config.num_return_sequences or 1)
        model = self.accelerator.unwrap_model(self.model)
        model.generate = functools.partial(type(model).generate, model, custom_generate=grouped_sample)
        try:
            self.shared_stats["gen_shared"] += 1
            return super()._generate_single_turn(u_ids, None if images is None else images[::num_generations],
                                                 u_fields, num_generations, has_tool_images)
        finally:
            self.generation_config = config
            del model.generate
