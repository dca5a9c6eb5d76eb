"""Helpers of the shared-prompt GRPO trainer (pr1bench.train.fast_grpo): finding a group's repeated prompts and
images, repeating one prompt's processed fields, and the sampling loop for G adjacent copies of each prompt."""

from __future__ import annotations

import copy
from typing import Any

import torch


def adjacent_groups(prompt_ids: list[list[int]], fields: dict[str, Any], g: int
                     ) -> tuple[list[list[int]], dict[str, Any]] | None:
    """The first prompt of each run of ``g`` identical adjacent prompts, and their multimodal fields.

    None unless the batch is exactly such runs (same tokens and same pixels within each run) and every field
    has a known layout: ``pixel_values`` by ``image_grid_thw`` blocks, ``image_grid_thw`` one row per image,
    per-prompt lists. One image per prompt is the only image layout handled.
    """
    n = len(prompt_ids)
    if g < 2 or n % g or set(fields) - {"pixel_values", "image_grid_thw", "mm_token_type_ids"}:
        return None
    starts = list(range(0, n, g))
    if any(prompt_ids[s + j] != prompt_ids[s] for s in starts for j in range(1, g)):
        return None
    out: dict[str, Any] = {}
    pv, grid = fields.get("pixel_values"), fields.get("image_grid_thw")
    if (pv is None) != (grid is None):
        return None
    if pv is not None:
        if not isinstance(pv, torch.Tensor) or grid.size(0) != n:
            return None
        per = grid.prod(-1).tolist()
        offs = [0]
        for p in per:
            offs.append(offs[-1] + p)
        if offs[-1] != pv.size(0):
            return None
        for s in starts:
            a = pv[offs[s]:offs[s + 1]]
            if any(not torch.equal(grid[s + j], grid[s]) or not torch.equal(pv[offs[s + j]:offs[s + j + 1]], a)
                   for j in range(1, g)):
                return None
        out["pixel_values"] = torch.cat([pv[offs[s]:offs[s + 1]] for s in starts])
        out["image_grid_thw"] = grid[starts]
    if "mm_token_type_ids" in fields:
        mm = fields["mm_token_type_ids"]
        if isinstance(mm, torch.Tensor):
            out["mm_token_type_ids"] = mm[starts]
        else:
            out["mm_token_type_ids"] = [mm[s] for s in starts]
    return [prompt_ids[s] for s in starts], out


def same_part(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if hasattr(a, "tobytes") and hasattr(b, "tobytes") and hasattr(a, "size") and hasattr(a, "mode"):
        return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_part(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_part(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str | int | float | bool | type(None)) and isinstance(b, str | int | float | bool | type(None)):
        return a == b
    return False


def equal_runs(prompts: list) -> list[tuple[int, int]] | None:
    """[start, end) of each run of identical adjacent prompts (images compared by pixels); None if no run > 1."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(prompts) + 1):
        if i == len(prompts) or not same_part(prompts[i], prompts[start]):
            runs.append((start, i))
            start = i
    return runs if len(runs) < len(prompts) else None


def repeat_fields(fields: dict[str, Any], counts: list[int], prompt_ids: list[Any]) -> dict[str, Any] | None:
    """Each prompt's multimodal fields repeated ``counts[i]`` times; None for a field layout not known here."""
    n = len(counts)
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if k == "image_grid_thw" or k == "pixel_values":
            continue
        if isinstance(v, list) and len(v) == n:
            out[k] = [x for x, c in zip(v, counts, strict=True) for _ in range(c)]
        elif isinstance(v, torch.Tensor) and v.dim() >= 1 and v.size(0) == n and len(prompt_ids) == n:
            out[k] = v.repeat_interleave(torch.tensor(counts, device=v.device), dim=0)
        else:
            return None
    pv, grid = fields.get("pixel_values"), fields.get("image_grid_thw")
    if (pv is None) != (grid is None):
        return None
    if pv is not None:
        if not isinstance(pv, torch.Tensor) or not isinstance(grid, torch.Tensor) or grid.size(0) != n:
            return None  # one image per prompt is the layout handled
        per = grid.prod(-1).tolist()
        if sum(per) != pv.size(0):
            return None
        blocks = torch.split(pv, per)
        out["pixel_values"] = torch.cat([b for b, c in zip(blocks, counts, strict=True) for _ in range(c)])
        out["image_grid_thw"] = grid.repeat_interleave(torch.tensor(counts, device=grid.device), dim=0)
    return out


DECODE_KWARGS = {"attention_mask", "mm_token_type_ids", "position_ids", "mm_encoder_outputs", "logits_to_keep",
                  "cache", "use_cache"}
DECODE_FAMILIES = ("qwen2_vl", "qwen2_5_vl")


def grouped_sample(model: Any, input_ids: torch.Tensor, logits_processor: Any, stopping_criteria: Any,
                    generation_config: Any, synced_gpus: bool = False, streamer: Any = None,
                    **model_kwargs: Any) -> torch.Tensor:
    """``transformers``' ``_sample`` for G adjacent copies of each prompt: one prefill per prompt, and decoding
    steps that feed only the rows still running.

    Token choice is ``_sample``'s: the logits processors see the whole batch (rows that have ended get zero
    logits, which only they see and which are replaced by padding anyway), then ``torch.multinomial`` draws
    for every row, so the random stream is consumed exactly as in ``_sample``. Anything else (other model
    families, streamers, beams, returned dicts, a pre-filled cache, inputs_embeds, unknown kwargs) runs
    ``_sample`` itself.
    """
    from transformers.cache_utils import DynamicCache
    from transformers.generation.utils import GenerationMixin

    n, g = input_ids.size(0), int(generation_config.num_return_sequences or 1)
    cache, pos = model_kwargs.get("cache"), model_kwargs.get("position_ids")
    mm = model_kwargs.get("mm_encoder_outputs") or {}
    image = mm.get("image")
    pooled = getattr(image, "pooler_output", None)
    if (synced_gpus or streamer is not None or generation_config.return_dict_in_generate
            or generation_config.num_beams != 1 or g < 2 or n % g or set(model_kwargs) - DECODE_KWARGS
            or model.config.model_type not in DECODE_FAMILIES or not isinstance(cache, DynamicCache)
            or cache.get_seq_length() != 0 or generation_config.prefill_chunk_size is not None
            or pos is None or pos.dim() != 3 or set(mm) - {"image"}
            or (image is not None and (not isinstance(pooled, tuple | list) or len(pooled) != n))):
        return GenerationMixin._sample(model, input_ids, logits_processor, stopping_criteria, generation_config,
                                       synced_gpus=synced_gpus, streamer=streamer, **model_kwargs)
    dev = input_ids.device
    reps = torch.arange(0, n, g, device=dev)
    mask = model_kwargs.get("attention_mask")
    sub: dict[str, Any] = {"cache": cache, "use_cache": True, "logits_to_keep": model_kwargs.get("logits_to_keep", 1),
                           "position_ids": pos[:, reps]}
    if mask is not None:
        sub["attention_mask"] = mask[reps]
    if model_kwargs.get("mm_token_type_ids") is not None:
        sub["mm_token_type_ids"] = model_kwargs["mm_token_type_ids"][reps]
    if image is not None:
        one = copy.copy(image)
        one.pooler_output = tuple(pooled[i] for i in range(0, n, g))
        sub["mm_encoder_outputs"] = {"image": one}
    out = model(**model.prepare_inputs_for_generation(input_ids[reps], is_first_iteration=True, **sub),
                return_dict=True)
    cache = out.cache
    cache.batch_repeat_interleave(g)
    logits = out.logits[:, -1].to(dtype=torch.float32).repeat_interleave(g, dim=0)
    del out
    pad = generation_config._pad_token_tensor
    has_eos = any(hasattr(c, "eos_token_id") for c in stopping_criteria)
    unfinished = torch.ones(n, dtype=torch.long, device=dev)
    active = torch.arange(n, device=dev)  # the rows the cache holds, in order
    last_pos = pos[..., -1:]
    while True:
        scores = logits_processor(input_ids, logits)
        if generation_config.do_sample:
            next_tokens = torch.multinomial(torch.nn.functional.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            next_tokens = torch.argmax(scores, dim=-1)
        if has_eos and pad is not None:
            next_tokens = next_tokens * unfinished + pad.to(dev) * (1 - unfinished)
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones((n, 1))], dim=-1)
        last_pos = last_pos + 1
        unfinished = unfinished & ~stopping_criteria(input_ids, scores)
        if unfinished.max() == 0:
            return input_ids
        keep = unfinished.nonzero().squeeze(1)
        if keep.numel() != active.numel():
            cache.batch_select_indices(torch.searchsorted(active, keep))
            active = keep
        step: dict[str, Any] = {"input_ids": next_tokens[active, None], "position_ids": last_pos[:, active],
                                "cache": cache, "use_cache": True, "logits_to_keep": 1}
        if mask is not None:
            step["attention_mask"] = mask[active]
        if "mm_token_type_ids" in model_kwargs:
            step["mm_token_type_ids"] = torch.zeros_like(step["input_ids"])
        out = model(**step, return_dict=True)
        cache = out.cache
        logits = torch.zeros((n, out.logits.size(-1)), dtype=torch.float32, device=dev)
        logits[active] = out.logits[:, -1].to(dtype=torch.float32)
        del out


class DedupImages:
    """Calls an image processor once per run of identical adjacent images and repeats its per-image outputs.

    Every other attribute is the wrapped processor's. Outputs other than ``pixel_values`` (blocks of
    ``image_grid_thw`` rows) and ``image_grid_thw`` make it call the processor on all images instead.
    """

    def __init__(self, inner: Any, stats: dict[str, int]):
        self._inner, self._stats = inner, stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        from transformers.image_utils import make_flat_list_of_images

        try:
            flat = make_flat_list_of_images(images)
        except (TypeError, ValueError):
            return self._inner(images, *args, **kwargs)
        runs = equal_runs(flat) if args == () else None
        if runs is None:
            return self._inner(images, *args, **kwargs)
        out = self._inner([flat[a] for a, _ in runs], **kwargs)
        if set(out.keys()) != {"pixel_values", "image_grid_thw"}:
            return self._inner(images, *args, **kwargs)
        counts = [b - a for a, b in runs]
        fields = repeat_fields(dict(out), counts, [None] * len(counts))
        if fields is None:
            return self._inner(images, *args, **kwargs)
        for k, v in fields.items():
            out[k] = v
        self._stats["images_shared"] = self._stats.get("images_shared", 0) + 1
        return out
