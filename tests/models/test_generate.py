"""Batched generation: prompt kinds, left padding equivalence, special-token-preserving decoding."""

from __future__ import annotations

from typing import Any

import pytest

from pr1bench.models.generate import build_messages, decode_completions, generate_batch

PROMPTS = [
    "Output the bounding box of the red circle in the image.",
    "How many red circles are there in the image?",
    "Please output bbox coordinates and names of circle, square, triangle.",
    "OCR this image.",
]


def test_generates_one_string_per_prompt(tiny: tuple[Any, Any], red_circle: Any) -> None:
    model, processor = tiny
    out = generate_batch(model, processor, [red_circle] * 4, PROMPTS, max_new_tokens=6)
    assert len(out) == 4 and all(isinstance(o, str) for o in out)
    assert not any("<|im_end|>" in o or "<|endoftext|>" in o for o in out)


def test_batched_equals_unbatched_greedy(tiny: tuple[Any, Any], red_circle: Any) -> None:
    """Prompts of different lengths force left padding; greedy results must not depend on batching."""
    import torch

    model, processor = tiny
    prompts = [*PROMPTS, "Output all the bounding boxes of the red circles"]
    images = [red_circle] * len(prompts)
    batched = generate_batch(model, processor, images, prompts, max_new_tokens=8, batch_size=len(prompts))
    single = [
        generate_batch(model, processor, [im], [p], max_new_tokens=8)[0]
        for im, p in zip(images, prompts, strict=True)
    ]
    assert batched == single
    # The random model's greedy output can be degenerate, so also compare next-token logits directly.
    texts = [processor.apply_chat_template(build_messages(p), add_generation_prompt=True) for p in prompts]
    with torch.inference_mode():
        batch = processor(text=texts, images=images, padding=True, padding_side="left", return_tensors="pt")
        logits_b = model(**batch).logits[:, -1]
        for i, text in enumerate(texts):
            one = processor(text=[text], images=[images[i]], return_tensors="pt")
            torch.testing.assert_close(model(**one).logits[0, -1], logits_b[i], atol=1e-4, rtol=1e-4)


def test_sampling_runs(tiny: tuple[Any, Any], red_circle: Any) -> None:
    import torch

    torch.manual_seed(0)
    out = generate_batch(
        *tiny, [red_circle] * 2, PROMPTS[:2], max_new_tokens=4, do_sample=True, temperature=0.7
    )
    assert len(out) == 2


def test_decoding_keeps_box_tokens_and_drops_pad_and_eos(tiny: tuple[Any, Any]) -> None:
    import torch

    tok = tiny[1].tokenizer
    answer = "<|object_ref_start|>red circle<|object_ref_end|><|box_start|>(1,2),(30,40)<|box_end|>"
    ids = tok.encode(answer, add_special_tokens=False)
    row = [*ids, tok.eos_token_id, *tok.encode("junk", add_special_tokens=False)]
    rows = torch.tensor([row, [tok.pad_token_id] * 2 + row[:-2]])
    assert decode_completions(rows, tiny[1], {tok.eos_token_id}) == [answer, answer]


def test_mismatched_lengths_raise(tiny: tuple[Any, Any], red_circle: Any) -> None:
    with pytest.raises(ValueError, match="one image per prompt"):
        generate_batch(*tiny, [red_circle], PROMPTS[:2], max_new_tokens=2)


def test_system_prompt_is_rendered(tiny: tuple[Any, Any]) -> None:
    text = tiny[1].apply_chat_template(build_messages("Hi", system="Be brief."), add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|>")


def test_trl_sft_and_grpo_train_two_steps(tiny_dir: Any) -> None:
    """The recipe in pr1bench/models/TRL_NOTES.md, executed: 2 SFT + 2 GRPO steps on CPU."""
    pytest.importorskip("trl")
    import tempfile

    from pr1bench.models.trl_smoke import run_grpo, run_sft

    with tempfile.TemporaryDirectory() as tmp:
        sft = run_sft(tiny_dir, f"{tmp}/sft")
        grpo = run_grpo(tiny_dir, f"{tmp}/grpo")
    assert sft["trained_text"] == ["1<|im_end|>", "2<|im_end|>"]  # assistant-only loss, stop token included
    assert [log["loss"] > 0 for log in sft["logs"] if "loss" in log] == [True, True]
    steps = [log for log in grpo["logs"] if "reward" in log]
    assert len(steps) == 2 and "rewards/exact_count/mean" in steps[0] and "rewards/brevity/mean" in steps[0]
    assert any(log["grad_norm"] > 0 for log in steps)
    seen = grpo["reward_saw"]
    assert seen["completion_type"] == "list" and seen["completion_example"][0]["role"] == "assistant"
    assert {"image", "completion_ids", "prompts", "trainer_state"} <= set(seen["kwargs"])
