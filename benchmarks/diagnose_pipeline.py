"""Does the project's TRL path feed the model what the plain loop feeds it? (issue 13, "the cause, measured")

Three checks on one model (default: the shipped embedded checkpoint), each printed with its numbers:

1. **Same inputs.** For the same rows, TRL's SFT collator (``DataCollatorForVisionLanguageModeling``, as
   ``pr1bench train --variant sft`` uses it) and the pretraining loop's batcher build the same token ids, the
   same image tensors and M-RoPE token types, and put the loss on the same positions (TRL also labels the
   ``\\n`` after ``<|im_end|>``, which the chat template emits). The losses agree.
2. **The images reach the model.** The TRL batch's loss with each row's own image vs with the images rotated
   by one row: if the model uses its image, the rotated loss is clearly higher.
3. **Batched greedy generation equals one-by-one generation** (left padding with M-RoPE positions is where
   a silent defect would hide), on the counting eval split.

Run: python benchmarks/diagnose_pipeline.py [--model DIR] [--task counting] [--n 32]
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from pr1bench.dataset import build_rows
    from pr1bench.embedded import resolve_model
    from pr1bench.evaluate.core import hf_generator
    from pr1bench.spec import load_task
    from pr1bench.train.phases import sft_example
    from pr1bench.train.pretrain import Batcher, answer_loss

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--task", default="counting")
    p.add_argument("--n", type=int, default=32)
    a = p.parse_args(argv)
    path = resolve_model(a.model)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    task = load_task(a.task)
    rows = build_rows(task, "train", n=a.n)
    out: dict[str, object] = {"model": a.model or "embedded (shipped)", "task": a.task, "rows": a.n}

    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    trl = collator([sft_example(r, task.system_prompt) for r in rows])
    mine = Batcher(processor)([(r.image, r.prompt_text, r.answer) for r in rows])
    same_ids = all(
        trl["input_ids"][i][trl["attention_mask"][i] == 1].tolist()[: int(mine["attention_mask"][i].sum())]
        == mine["input_ids"][i][mine["attention_mask"][i] == 1].tolist() for i in range(a.n))
    extra = [(trl["labels"][i] != -100).sum().item() - (mine["labels"][i] != -100).sum().item() for i in range(a.n)]
    out["1_same_token_ids"] = same_ids
    out["1_same_pixel_values"] = bool(torch.equal(trl["pixel_values"], mine["pixel_values"]))
    out["1_same_mm_token_types"] = all(
        trl["mm_token_type_ids"][i][trl["attention_mask"][i] == 1].tolist()[: int(mine["attention_mask"][i].sum())]
        == mine["mm_token_type_ids"][i][mine["attention_mask"][i] == 1].tolist() for i in range(a.n))
    out["1_extra_labelled_tokens_in_trl_per_row"] = sorted(set(extra))
    with torch.no_grad():
        trl_loss = float(model(**trl).loss)
        own_loss = float(answer_loss(model, mine))
        rot = dict(trl)
        per = [int(t.prod()) for t in trl["image_grid_thw"]]
        chunks = list(torch.split(trl["pixel_values"], per))
        rot["pixel_values"] = torch.cat(chunks[1:] + chunks[:1])
        rot["image_grid_thw"] = torch.cat([trl["image_grid_thw"][1:], trl["image_grid_thw"][:1]])
        rotated = float(model(**rot).loss)
    out["1_loss_trl_collator"] = round(trl_loss, 4)
    out["1_loss_plain_loop_batcher"] = round(own_loss, 4)
    out["2_loss_own_images"] = round(trl_loss, 4)
    out["2_loss_images_rotated_by_one_row"] = round(rotated, 4)

    eval_rows = build_rows(task, "eval", n=a.n)
    batched = hf_generator(model, processor, task, batch_size=a.n, cot=False)(eval_rows, False)
    single = hf_generator(model, processor, task, batch_size=1, cot=False)(eval_rows, False)
    out["3_batched_equals_single"] = sum(b == s for b, s in zip(batched, single, strict=True)) / a.n
    print(json.dumps(out, indent=1))
    ok = (same_ids and out["1_same_pixel_values"] and out["1_same_mm_token_types"]
          and out["3_batched_equals_single"] == 1.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
