"""vLLM offline engine for evaluation on GPUs (`pr1bench eval TASK --backend vllm`).

Not exercised on the CPU machines this project is tested on: vLLM needs CUDA. The request shape follows
vLLM's multimodal offline API (a chat-templated prompt plus ``multi_modal_data={"image": PIL}``).
"""

from __future__ import annotations

from typing import Any

from pr1bench.dataset import Row
from pr1bench.spec import TaskSpec


def vllm_generator(model_path: str, task: TaskSpec, *, cot: bool, temperature: float, seed: int) -> Any:
    """A Generate function (rows, sample) -> completions over one vLLM engine loaded once."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as e:  # the gpu extra is not installed, or no CUDA
        raise ValueError("--backend vllm needs vLLM on a CUDA machine: pip install 'pr1bench[gpu]'") from e
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_path)
    llm = LLM(model=model_path, seed=seed, limit_mm_per_prompt={"image": 1})
    max_new = task.generation.cot_max_new_tokens if cot else task.generation.max_new_tokens

    def prompt_text(row: Row) -> str:
        msgs: list[dict[str, Any]] = []
        if task.system_prompt:
            msgs.append({"role": "system", "content": [{"type": "text", "text": task.system_prompt}]})
        msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row.prompt_text}]})
        return processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def gen(rows: list[Row], sample: bool) -> list[str]:
        params = SamplingParams(max_tokens=max_new, temperature=temperature if sample else 0.0, seed=seed,
                                skip_special_tokens=False)
        reqs = [{"prompt": prompt_text(r), "multi_modal_data": {"image": r.image}} for r in rows]
        outs = llm.generate(reqs, params, use_tqdm=False)
        pad = processor.tokenizer.pad_token or ""
        eos = processor.tokenizer.eos_token or ""
        return [o.outputs[0].text.replace(pad, "").replace(eos, "").strip() for o in outs]

    return gen
