"""Where does reading break? Short single-task OCR runs on the embedded model (issue 20's diagnosis ladder).

Each arm fine-tunes a copy of a checkpoint (default: the shipped embedded model) on one synthetic reading task for a
few minutes with the pretraining loop's own batcher and answer loss (teacher forcing, loss on the answer and
``<|im_end|>`` only), then scores exact-match on held-out images by teacher-forced argmax over every answer token
(equal to greedy decoding's exact match: greedy is right iff every next-token argmax along the true answer is right).

Arms (``--arm``):
  glyph-F      one capital letter A-Z at font F px in a 56x56 image (4 visual tokens of 28x28 px). Chance 1/26.
  glyph2-F     two capital letters "A B" at font F in 112x56.
  word20-F     one word of a 20-word lexicon (single-token words) at font F in 112x56.
  word20m-F    the same with 20 words the tokenizer splits into 3+ pieces.
  lex-F        one word of the task's full lexicon at font F in 112x56.
  task         the OCR task's own distribution (1-3 words, font 12-18, 112x56).
Run: python benchmarks/diagnose_ocr.py --arm glyph-36 --steps 1500 [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import string
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pr1bench.data.ocr import INK, LEXICON, font

PROMPT = "OCR this image."


def render(text: str, size: int, wh: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    f = font(size)
    w, h = wh
    left, top, right, bottom = f.getbbox(text)
    tw, th = right - left, bottom - top
    x = int(rng.integers(0, max(1, w - tw))) - left
    y = int(rng.integers(0, max(1, h - th))) - top
    img = Image.new("RGB", (w, h), (245, 245, 245))
    ImageDraw.Draw(img).text((x, y), text, font=f, fill=INK[int(rng.integers(len(INK)))])
    return img


def sampler(arm: str, tok):
    kind, _, arg = arm.partition("-")
    size = int(arg) if arg else 0
    if kind == "glyph":
        return lambda rng: (lambda c: (render(c, size, (56, 56), rng), c))(string.ascii_uppercase[rng.integers(26)])
    if kind == "glyph2":
        def f(rng):
            t = " ".join(string.ascii_uppercase[i] for i in rng.integers(26, size=2))
            return render(t, size, (112, 56), rng), t
        return f
    if kind in ("word20", "word20m", "lex"):
        words = list(LEXICON)
        if kind == "word20":  # 20 words that are one token each
            single = [w for w in words if len(tok.tokenize(w)) == 1]
            words = (single + [w for w in words if w not in single])[:20]
        elif kind == "word20m":  # 20 words of 3+ tokens each: the same visual task, a harder token sequence
            words = [w for w in words if len(tok.tokenize(w)) >= 3][:20]
        def g(rng):
            t = words[int(rng.integers(len(words)))]
            return render(t, size, (112, 56), rng), t
        return g
    if kind == "task":
        from pr1bench.data.base import iter_samples
        from pr1bench.spec import load_task
        task = load_task("ocr")
        params = task.data.extras()
        def h(rng):
            s = next(iter(iter_samples("words", params, split="pretrain", n_samples=1, seed=int(rng.integers(1 << 30)))))
            return s.image, s.target["text"]
        return h
    raise SystemExit(f"unknown arm {arm}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arm", required=True)
    ap.add_argument("--model", default="pr1bench/models/weights/tiny-qwen2vl-v3")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--save", type=Path, default=None, help="save the fine-tuned model here (to evaluate it greedily)")
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.train.pretrain import Batcher, answer_loss

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    proc = AutoProcessor.from_pretrained(a.model)
    model = AutoModelForImageTextToText.from_pretrained(a.model)
    batcher = Batcher(proc)
    draw = sampler(a.arm, proc.tokenizer)
    rng = np.random.default_rng(a.seed)
    held = [draw(np.random.default_rng([a.seed, 99, i])) for i in range(200)]
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)

    def score() -> dict:
        model.eval()
        ok, nll, ntok = 0, 0.0, 0
        with torch.no_grad():
            for i in range(0, len(held), 50):
                rows = [(im, PROMPT, t) for im, t in held[i:i + 50]]
                b = batcher(rows)
                inputs = {k: v for k, v in b.items() if k != "labels"}
                hid = model.model(**inputs).last_hidden_state[:, :-1]
                tgt = b["labels"][:, 1:]
                logits = model.lm_head(hid)
                m = tgt != -100
                pred = logits.argmax(-1)
                ok += int(((pred == tgt) | ~m).all(1).sum())
                nll += float(torch.nn.functional.cross_entropy(logits[m], tgt[m], reduction="sum"))
                ntok += int(m.sum())
        model.train()
        return {"exact": ok / len(held), "nll_per_token": nll / ntok}

    curve = [{"step": 0, **score()}]
    t0 = time.perf_counter()
    model.train()
    for step in range(1, a.steps + 1):
        rows = [(im, PROMPT, t) for im, t in (draw(rng) for _ in range(a.batch))]
        lr = a.lr * min(1.0, step / 100) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = answer_loss(model, batcher(rows))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % max(1, a.steps // 4) == 0:
            curve.append({"step": step, "seconds": round(time.perf_counter() - t0, 1), **score()})
            print(json.dumps({"arm": a.arm, **curve[-1]}), flush=True)
    res = {"arm": a.arm, "model": Path(a.model).name, "steps": a.steps, "lr": a.lr, "curve": curve}
    print(json.dumps(res))
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))
    if a.save:
        model.save_pretrained(a.save)
        proc.save_pretrained(a.save)


if __name__ == "__main__":
    main()
