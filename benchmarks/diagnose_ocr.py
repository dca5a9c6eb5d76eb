"""Where does reading break? Short single-task OCR runs on the embedded model (issue 20's diagnosis ladder).

Each arm fine-tunes a copy of a checkpoint (default: embedded-v3, stage 1 of the shipped model) on one synthetic reading task for a
few minutes with the pretraining loop's own batcher and answer loss (teacher forcing, loss on the answer and
``<|im_end|>`` only), then scores exact-match on held-out images by teacher-forced argmax over every answer token
(equal to greedy decoding's exact match: greedy is right iff every next-token argmax along the true answer is right).

Arms (``--arm``):
  glyph-F      one capital letter A-Z at font F px in a 56x56 image (4 visual tokens of 28x28 px). Chance 1/26.
  glyph2-F     two capital letters "A B" at font F in 112x56.
  word20-F     one word of a 20-word lexicon (single-token words) at font F in 112x56.
  word20m-F    the same with 20 words the tokenizer splits into 3+ pieces.
  lex-F        one word of the task's full lexicon at font F in 112x56.
  task         the OCR task's own distribution (1-3 words, font 12-18, 112x112).
  tasknl       the same images, the answer's words one per line: each word then has one token form (the
               standalone one), where "a b" uses the standalone form for the first and the "Ġb" form after it.
Options: --vision DEPTHxDIM[pPATCHmMERGE] swaps in a fresh vision tower of that shape first (is the tower's size or
patching the limit?); --glyph-steps N trains the tower on per-token reading targets first
(pr1bench.train.vision_pretrain.pretrain_glyphs); --glyph-probe runs only that stage and logs its terms (can the
tower learn glyphs when told, per visual token, which letters and word lie there? arms task, big (one word,
30-36 px) or letter (one letter at 36 px: the positive control)).
Run: python benchmarks/diagnose_ocr.py --arm glyph-36 --steps 1500 [--model DIR]
     python benchmarks/diagnose_ocr.py --arm task --steps 12000 --score-every 1500 --save DIR   (then pr1bench eval ocr --model DIR)
     python benchmarks/diagnose_ocr.py --arm big --glyph-probe --glyph-steps 2000 --vision 2x64
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
    if kind == "tasknl":  # the task's images, words one per line in the answer: one token form per word
        inner = sampler("task", tok)
        return lambda rng: (lambda im_t: (im_t[0], "\n".join(im_t[1].split(" "))))(inner(rng))
    if kind == "task":
        from pr1bench.data.base import iter_samples
        from pr1bench.spec import load_task
        task = load_task("ocr")
        params = task.data.extras()
        def h(rng):
            # a random index as well as a random seed: the generator balances its knob by index (n_distribution
            # "balanced"), so index 0 alone would always be a one-word image (as this arm was before issue 20's stop 27)
            s = next(iter(iter_samples("words", params, split="pretrain", n_samples=1, seed=int(rng.integers(1 << 30)),
                                       start=int(rng.integers(1 << 20)))))
            return s.image, s.target["text"]
        return h
    raise SystemExit(f"unknown arm {arm}")


def letters_36(n: int, start: int) -> list:
    """The glyph probe's positive control: one lower-case letter at 36 px in a 112x112 image (arm ``letter``)."""
    from types import SimpleNamespace

    f = font(36)
    out = []
    for i in range(start, start + n):
        rng = np.random.default_rng([7, i])
        c = string.ascii_lowercase[int(rng.integers(26))]
        x, y = int(rng.integers(3, 80)), int(rng.integers(3, 66))
        img = Image.new("RGB", (112, 112), (245, 245, 245))
        ImageDraw.Draw(img).text((x, y), c, font=f, fill=INK[int(rng.integers(len(INK)))])
        w = int(np.ceil(f.getlength(c)))
        out.append(SimpleNamespace(image=img, width=112, height=112,
                                   meta={"font_size": 36, "lines": [c], "text_box": [x, y, x + w, y + 40]}))
    return out


def transplant_vision(model, proc, shape: str, seed: int) -> None:
    """Swap in a randomly initialised vision tower of ``shape`` (the language model keeps its weights)."""
    import re

    import torch
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    m = re.fullmatch(r"(\d+)x(\d+)(?:p(\d+)m(\d+))?", shape)
    if not m:
        raise SystemExit(f"--vision {shape!r}: expected DEPTHxDIM or DEPTHxDIMpPATCHmMERGE, e.g. 4x128 or 2x64p7m4")
    depth, dim, patch, merge = int(m[1]), int(m[2]), int(m[3] or 14), int(m[4] or 2)
    vc = model.config.vision_config
    vc.depth, vc.embed_dim, vc.patch_size, vc.spatial_merge_size = depth, dim, patch, merge
    torch.manual_seed(seed + 1)
    model.model.visual = Qwen2VisionTransformerPretrainedModel._from_config(vc)
    proc.image_processor.patch_size, proc.image_processor.merge_size = patch, merge


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arm", required=True)
    ap.add_argument("--model", default="pr1bench/models/weights/tiny-qwen2vl-v3")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--score-every", type=int, default=0, help="score the held-out images every N steps (default: steps/4)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--save", type=Path, default=None, help="save the fine-tuned model here (to evaluate it greedily)")
    ap.add_argument("--glyph-steps", type=int, default=0,
                    help="first train the vision tower on per-token reading targets (vision_pretrain.pretrain_glyphs)")
    ap.add_argument("--glyph-lr", type=float, default=1e-3)
    ap.add_argument("--glyph-probe", action="store_true",
                    help="only the glyph stage (text images only, no shape scenes, no LM fine-tuning), logging its "
                         "terms: can the tower learn glyphs when told per visual token? --arm names the fonts: "
                         "task (12-18 px, 1-3 words) or big (30-36 px, one word)")
    ap.add_argument("--vision", default=None, metavar="DEPTHxDIM[pPATCHmMERGE]",
                    help="replace the checkpoint's vision tower by a fresh random one of this shape (e.g. 4x128, "
                         "2x64p7m4) before fine-tuning: is reading limited by the tower's size or its patching?")
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.train.pretrain import Batcher, answer_loss

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    proc = AutoProcessor.from_pretrained(a.model)
    model = AutoModelForImageTextToText.from_pretrained(a.model)
    if a.vision:
        transplant_vision(model, proc, a.vision, a.seed)
    if a.glyph_probe:
        from pr1bench.train.vision_pretrain import pretrain_glyphs

        params = {"n_words": [1, 1], "font_size": [30, 36]} if a.arm == "big" else None
        t = time.perf_counter()
        res = pretrain_glyphs(model, proc, steps=a.glyph_steps or 600, seed=a.seed, lr=a.glyph_lr, shape_every=0,
                              text_params=params, draw=letters_36 if a.arm == "letter" else None,
                              log=lambda m: print(f"{time.perf_counter() - t:.0f}s {m}", flush=True))
        print(json.dumps({"arm": a.arm, "vision": a.vision, **res}))
        return
    if a.glyph_steps:
        from pr1bench.train.vision_pretrain import pretrain_glyphs

        t = time.perf_counter()
        pretrain_glyphs(model, proc, steps=a.glyph_steps, seed=a.seed, lr=a.glyph_lr, log=lambda m: None)
        print(json.dumps({"glyph_steps": a.glyph_steps, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
    batcher = Batcher(proc)
    draw = sampler(a.arm, proc.tokenizer)  # (after the --glyph-probe exit: "big" is a probe arm only)
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
        if step % (a.score_every or max(1, a.steps // 4)) == 0:
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
