"""Pretraining of the embedded tiny model: the analog of the instruct checkpoint a real user starts from.

Why a plain PyTorch loop and not TRL here: this runs once, for about 90 minutes, to make the checkpoint that ships in
the repository (like a hub model); every task training afterwards goes through TRL unchanged. What made the
difference between "learns nothing" and "perceives" was measured (issue 13, ../shared/SPIKE-NOTES.md):

* **Budget and fresh data.** The answer loss of point answers sits on the plateau of a model that ignores
  positions for the first ~1,500-2,000 single-task steps. The old bootstrap gave each task ~300 steps of a fixed
  pool. Here every step draws new images (per-index seeding, so step k costs the same as step 0).
* **One token per number** (builder version 2) and **interleaved M-RoPE** (see ``pr1bench.models.tiny``).
* **A short vision stage first** (``Recipe.vision_steps``, ``pr1bench.train.vision_pretrain``): with it the base
  localised twice as well on grounding and detection (measured, issue 13 note).
* **The LM head only at the answer positions**: ``labels=`` would project every prompt position onto the
  vocabulary (~40% of a step at this size).

The distribution is broader or easier than the tasks', so that the base is a generalist and task SFT and GRPO
have something to win: counting and detection with 1-8 objects (the tasks have 1-10), grounding with 0-4
distractors (tasks: 1-5), OCR of 1-2 words (task: 1-3), each task's prompt mixed with other phrasings, and a fifth
of the samples in the CoT think/answer shape so that CoT variants parse. The eval splits of the tasks are never
drawn from (split ``pretrain``, own seed).

Run by ``pr1bench model bootstrap`` as ``python -m pr1bench.train.pretrain OUT_DIR --base TINY_DIR``. Writes into
``OUT_DIR.partial`` (with a checkpoint every ``--save-every`` steps: a killed pretraining resumes where it stopped)
and renames it at the end, so a half model never sits at ``OUT_DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

SYNTHETIC_TASKS = ("grounding", "counting", "detection", "ocr")


@dataclass(frozen=True)
class Mix:
    """One task's share of the pretraining mixture and how its distribution differs from the task's own."""

    weight: float
    data: dict[str, Any]
    prompts: tuple[str, ...]  # phrasings besides the task's own prompt


#: Shares (v3, issue 20): OCR 0.14 (v2 had 0.05, about 800 OCR steps in all). The v2 note said OCR "does not learn
#: to read at this size"; benchmarks/diagnose_ocr.py measured otherwise: fine-tuned on OCR alone, the v2 model names
#: one glyph (0.67 exact after 1,000 steps) and one word of a 20-word lexicon (0.58), and the task itself climbs
#: (exact 0.01 -> 0.08 over 2,000 steps). Reading needed steps, and one token per word (builder version 3). OCR now
#: draws the task's own 1-3 words. Detection keeps the largest share, as the task furthest from its target.
MIXTURE: dict[str, Mix] = {
    "counting": Mix(0.28, {"n_objects": [1, 8]}, (
        "Point to every {label} in the image.", "Give the points of all {label}.",
        "Where are the {label}? Output their points.")),
    "detection": Mix(0.38, {"n_objects": [1, 8]}, (
        "Detect every {categories} in the image and output boxes with labels.",
        "Output the bbox_2d and label of each object ({categories}).",
        "Find all objects among {categories}; give their boxes and names.")),
    "grounding": Mix(0.20, {"n_distractors": [0, 4]}, (
        "Where is the {expression}? Output its bounding box.", "Locate the {expression} in the image.",
        "Give the box of the {expression}.")),
    "ocr": Mix(0.14, {"n_words": [1, 3]}, (
        "Read the text in the image.", "What does the image say?", "Transcribe the words in the image.")),
}


def later_mixture(*, counting: float, detection: float, grounding: float, ocr: float) -> dict[str, Mix]:
    """A later stage's mixture: its own shares; every task keeps stage 1's data and phrasings, except detection,
    which draws the task's own 1-10 objects (stage 1: 1-8). Keys in :data:`MIXTURE`'s order (it orders the schedule)."""
    weights = {"counting": counting, "detection": detection, "grounding": grounding, "ocr": ocr}
    return {name: Mix(weights[name], {"n_objects": [1, 10]} if name == "detection" else mix.data, mix.prompts)
            for name, mix in MIXTURE.items()}


@dataclass
class Recipe:
    """Everything that decides the pretrained weights (stored in the manifest; its hash names a resumable run)."""

    steps: int = 36000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 200
    min_lr_frac: float = 0.05
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    cot_fraction: float = 0.2
    seed: int = 0
    mixture: dict[str, Any] = field(default_factory=lambda: {k: asdict(v) for k, v in MIXTURE.items()})
    vision_steps: int = 1000
    vision_objective: str = "geometry"
    init: str | None = None
    """Where the weights start: ``None`` for the random-init build (stage 1), else ``recipe:<digest>``, the output
    of the previous stage's recipe with that digest (a continuation; see :data:`STAGES`)."""

    def digest(self) -> str:
        d = asdict(self)
        if not self.vision_steps:  # recipes without the vision stage keep the digest they had before it existed
            d.pop("vision_steps"), d.pop("vision_objective")
        if d["init"] is None:  # stage-1 recipes keep the digest they had before continuations existed
            d.pop("init")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


#: Stage 2 (issue 20): a continuation of the stage-1 model (builder v3, 36k steps, digest f1ee042ded009e3c), whose
#: detection AP was still rising at its last step (0.076 / 0.087 / 0.112 at 24k / 30k / 36k). Detection takes 0.6 of
#: the steps and its own task range of 1-10 objects (stage 1: 1-8; the 7-10 bucket was its weakest); lr re-warmed to
#: half of stage 1's peak. The other tasks keep enough share not to be forgotten.
STAGE2_MIXTURE: dict[str, Mix] = later_mixture(counting=0.15, detection=0.60, grounding=0.15, ocr=0.10)


def _continuation(previous_digest: str, mixture: dict[str, Mix], **kw: Any) -> Recipe:
    s1 = Recipe()
    return Recipe(batch_size=s1.batch_size, min_lr_frac=0.05, weight_decay=s1.weight_decay, betas=s1.betas,
                  grad_clip=s1.grad_clip, cot_fraction=s1.cot_fraction, seed=s1.seed,
                  mixture={k: asdict(v) for k, v in mixture.items()}, vision_steps=0, init=f"recipe:{previous_digest}",
                  **kw)


def stage2_recipe(stage1_digest: str | None = None) -> Recipe:
    """The stage-2 recipe continuing from the output of the stage-1 recipe with digest ``stage1_digest`` (default:
    the shipped stage-1 recipe's; a shortened stage 1 gives a stage 2 of another digest, as it should)."""
    return _continuation(stage1_digest or Recipe().digest(), STAGE2_MIXTURE, steps=30000, lr=5e-4, warmup=500)


#: Stage 3 (issue 20): reading. Measured before it (benchmarks/diagnose_ocr.py, stop 27): an OCR-only continuation of
#: stage 1 (12,000 steps of 16 on the task's own 1-3 words, lr 5e-4 cosine) took greedy F1 on the OCR eval split from
#: 0.023 to 0.206 and was still rising, while OCR at 0.10-0.14 of a mixture never left its plateau (loss ~2.6). So
#: this stage gives OCR most of its steps; detection keeps a fifth so that stage 2's gain is not given back.
STAGE3_MIXTURE: dict[str, Mix] = later_mixture(counting=0.08, detection=0.20, grounding=0.07, ocr=0.65)


def stage3_recipe(stage2_digest: str | None = None) -> Recipe:
    """The stage-3 (reading) recipe continuing from the output of the stage-2 recipe with digest ``stage2_digest``."""
    return _continuation(stage2_digest or stage2_recipe().digest(), STAGE3_MIXTURE, steps=14000, lr=5e-4, warmup=300)


#: Stage 4 (issue 20, stop 28): reading, with replay. Measured before it (benchmarks/diagnose_ocr.py, stop 27): OCR
#: alone from the stage-3 model, 12,000 steps at lr 5e-4, took greedy OCR F1 from 0.033 to 0.441 (stage 3 had primed
#: reading: teacher-forced exact 0.23 against 0.095 from stage 1) but every other task fell to 0. So OCR takes 0.8 of
#: the steps and the others a replay share each, detection the largest (it sits closest to its floor). Measured (300
#: images): at lr 1e-3 OCR 0.510, detection 0.139, counting 0.417, grounding 0.377; at lr 5e-4 OCR 0.252, detection
#: 0.153 (results/reference/pretrain-stage4-6/).
STAGE4_MIXTURE: dict[str, Mix] = later_mixture(counting=0.04, detection=0.12, grounding=0.04, ocr=0.80)


def stage4_recipe(stage3_digest: str | None = None) -> Recipe:
    """The stage-4 (reading with replay) recipe continuing from the output of the stage-3 recipe ``stage3_digest``."""
    return _continuation(stage3_digest or stage3_recipe().digest(), STAGE4_MIXTURE, steps=16000, lr=1e-3, warmup=300)


#: Stage 5 (issue 20, stop 28): consolidation. Stage 4 reads (greedy OCR F1 0.510 on 300 eval images) but gave back
#: detection (AP 0.158 -> 0.139) and some counting and grounding; the same stage at lr 5e-4 kept detection (0.153) but
#: read only 0.252. This short stage, at a lower lr, gives the other tasks most of the steps again and keeps a quarter
#: for OCR. Measured (300 images): detection 0.146, OCR 0.498; at lr 3e-4 detection 0.143, OCR 0.484.
STAGE5_MIXTURE: dict[str, Mix] = later_mixture(counting=0.10, detection=0.45, grounding=0.20, ocr=0.25)


def stage5_recipe(stage4_digest: str | None = None) -> Recipe:
    """The stage-5 (consolidation) recipe continuing from the output of the stage-4 recipe ``stage4_digest``."""
    return _continuation(stage4_digest or stage4_recipe().digest(), STAGE5_MIXTURE, steps=8000, lr=1.5e-4, warmup=300)


#: Stage 6 (issue 20, stop 28): detection polish. After stage 5 every target but detection holds (300 eval images:
#: OCR F1 0.498, counting 0.473, grounding 0.400; detection AP 0.146 against 0.15, stage 3's 0.158). Measured after it
#: (300 images): detection 0.151, OCR 0.486, counting 0.480, grounding 0.407 -- the shipped embedded-v3s6. The same
#: stage with detection 0.70 and OCR 0.05 reached detection 0.158 but OCR fell to 0.345.
STAGE6_MIXTURE: dict[str, Mix] = later_mixture(counting=0.10, detection=0.55, grounding=0.15, ocr=0.20)


def stage6_recipe(stage5_digest: str | None = None) -> Recipe:
    """The stage-6 (detection polish) recipe continuing from the output of the stage-5 recipe ``stage5_digest``."""
    return _continuation(stage5_digest or stage5_recipe().digest(), STAGE6_MIXTURE, steps=5000, lr=1.5e-4, warmup=200)


#: The stages after the first: stage number -> recipe from the previous stage's digest. ``--stage N`` runs one.
STAGES: dict[int, Any] = {2: stage2_recipe, 3: stage3_recipe, 4: stage4_recipe, 5: stage5_recipe, 6: stage6_recipe}
LAST_STAGE = max(STAGES)


def lr_at(r: Recipe, step: int) -> float:
    """Linear warm-up, then cosine from ``lr`` down to ``min_lr_frac * lr`` at the last step."""
    warm = min(1.0, (step + 1) / max(1, r.warmup))
    frac = step / max(1, r.steps - 1)
    return r.lr * warm * (r.min_lr_frac + (1 - r.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


class Stream:
    """Fresh samples of one task's pretraining distribution, drawn by index (no pool, no epochs)."""

    def __init__(self, name: str, mix: Mix, seed: int):
        from pr1bench.spec import load_task

        self.task = load_task(name)
        self.params = {**self.task.data.extras(), **mix.data}
        self.seed = self.task.data.seed + 2000 + seed
        self.prompts = (self.task.prompt, *mix.prompts)

    def rows(self, start: int, n: int, rng: np.random.Generator, cot_fraction: float) -> list[tuple[Any, str, str]]:
        """``n`` (image, prompt, answer) triples from sample index ``start`` on."""
        from pr1bench.data.base import iter_samples
        from pr1bench.dataset import cot_answer
        from pr1bench.perception import format_answer

        out = []
        a = self.task.answer
        for s in iter_samples(self.task.data.generator or "", self.params, split="pretrain", n_samples=n,
                              seed=self.seed, start=start):
            prompt = self.prompts[int(rng.integers(len(self.prompts)))].format(**s.fields)
            answer = format_answer(a.format, s.target, width=s.width, height=s.height, coords=a.coords)
            if rng.random() < cot_fraction:
                prompt, answer = self.task.cot_prompt.format(prompt=prompt, **s.fields), cot_answer(answer)
            out.append((s.image, prompt, answer))
        return out


class Batcher:
    """(image, prompt, answer) triples -> model inputs, the same token sequence TRL's SFT collator builds."""

    def __init__(self, processor: Any):
        self.proc, self.tok = processor, processor.tokenizer
        self.eos = self.tok.convert_tokens_to_ids("<|im_end|>")
        self.pad = self.tok.pad_token_id
        self.image_pad = self.tok.convert_tokens_to_ids("<|image_pad|>")
        self._prefix: dict[tuple[str, int], list[int]] = {}

    def prefix(self, prompt: str, n_visual: int) -> list[int]:
        key = (prompt, n_visual)
        if key not in self._prefix:
            from pr1bench.models.generate import build_messages

            text = self.proc.apply_chat_template(build_messages(prompt), tokenize=False, add_generation_prompt=True)
            text = text.replace("<|image_pad|>", "<|image_pad|>" * n_visual)
            self._prefix[key] = self.tok(text, add_special_tokens=False)["input_ids"]
        return self._prefix[key]

    def __call__(self, rows: list[tuple[Any, str, str]]) -> dict[str, Any]:
        import torch

        img = self.proc.image_processor([r[0] for r in rows], return_tensors="pt")
        merge = self.proc.image_processor.merge_size ** 2
        seqs, labels = [], []
        for (_, prompt, answer), thw in zip(rows, img["image_grid_thw"].tolist(), strict=True):
            p = self.prefix(prompt, int(np.prod(thw)) // merge)
            a = self.tok(answer, add_special_tokens=False)["input_ids"] + [self.eos]
            seqs.append(p + a)
            labels.append([-100] * len(p) + a)
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad)
        lab = torch.full((len(seqs), width), -100)
        att = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (q, lb) in enumerate(zip(seqs, labels, strict=True)):
            ids[i, : len(q)], lab[i, : len(lb)], att[i, : len(q)] = torch.tensor(q), torch.tensor(lb), 1
        return {"input_ids": ids, "attention_mask": att, "labels": lab, "pixel_values": img["pixel_values"],
                "image_grid_thw": img["image_grid_thw"], "mm_token_type_ids": (ids == self.image_pad).long()}


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over answer tokens, with the LM head applied at those positions only."""
    import torch

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model.model(**inputs).last_hidden_state
    target = batch["labels"][:, 1:]
    mask = target != -100
    logits = model.lm_head(hidden[:, :-1][mask])
    return torch.nn.functional.cross_entropy(logits.float(), target[mask])


def schedule(r: Recipe, step: int) -> tuple[str, np.random.Generator]:
    """The task of ``step`` and the random stream for its prompts (a pure function of seed and step)."""
    rng = np.random.default_rng([r.seed, step, 17])
    names = list(r.mixture)
    w = np.asarray([r.mixture[n]["weight"] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))], rng


def train(out_dir: Path, base: Path, r: Recipe, *, threads: int = 1, save_every: int = 1000, eval_every: int = 0,
          eval_n: int = 60, final_eval_n: int = 300, log: Any = print) -> Path:
    """Pretrain the model at ``base`` with recipe ``r`` into ``out_dir`` (resumable; see module docstring)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(threads)
    partial = out_dir.with_name(out_dir.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    processor = AutoProcessor.from_pretrained(base)
    model = AutoModelForImageTextToText.from_pretrained(base)
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr, betas=r.betas, weight_decay=r.weight_decay)
    streams = {n: Stream(n, Mix(**m), r.seed) for n, m in r.mixture.items()}
    state = {"step": 0, "drawn": dict.fromkeys(streams, 0), "seconds": 0.0, "curve": []}
    ckpt = partial / "pretrain_state.pt"
    if ckpt.is_file():
        saved = torch.load(ckpt, weights_only=False)
        if saved["recipe"] != r.digest():
            raise RuntimeError(f"{ckpt} belongs to another recipe ({saved['recipe']} != {r.digest()}); "
                               f"delete {partial} to start again")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state = saved["state"]
        log(f"resumed at step {state['step']}")
    if r.vision_steps and "vision" not in state:
        from pr1bench.train.vision_pretrain import pretrain_vision

        state["vision"] = pretrain_vision(model, processor, steps=r.vision_steps, seed=r.seed,
                                          objective=r.vision_objective, log=log)
        _save_state(ckpt, model, opt, state, r)
    batcher = Batcher(processor)
    metrics_log = (partial / "pretrain_log.jsonl").open("a")
    ema: dict[str, float] = {}
    model.train()
    t0 = time.perf_counter() - state["seconds"]
    while state["step"] < r.steps:
        step = state["step"]
        name, rng = schedule(r, step)
        rows = streams[name].rows(state["drawn"][name], r.batch_size, rng, r.cot_fraction)
        state["drawn"][name] += r.batch_size
        for g in opt.param_groups:
            g["lr"] = lr_at(r, step)
        loss = answer_loss(model, batcher(rows))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), r.grad_clip)
        opt.step()
        value = loss.item()
        ema[name] = value if name not in ema else 0.98 * ema[name] + 0.02 * value
        state["step"] = step = step + 1
        state["seconds"] = time.perf_counter() - t0
        if step % 100 == 0 or step == r.steps:
            rec = {"step": step, "seconds": round(state["seconds"], 1), "lr": lr_at(r, step - 1),
                   **{f"loss/{k}": round(v, 4) for k, v in ema.items()}}
            metrics_log.write(json.dumps(rec) + "\n")
            metrics_log.flush()
            log(json.dumps(rec))
        if eval_every and (step % eval_every == 0):
            model.eval()
            point = {"step": step, "seconds": round(state["seconds"], 1), **_flat(evaluate_all(model, processor, eval_n))}
            state["curve"].append(point)
            log(f"eval {json.dumps(point)}")
            model.train()
            t0 = time.perf_counter() - state["seconds"]
        if step % save_every == 0 or step == r.steps:
            _save_state(ckpt, model, opt, state, r)
    metrics_log.close()
    model.eval()
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    evaluation = evaluate_all(model, processor, final_eval_n)
    _write_manifest(partial, base, r, state, evaluation, threads)
    (partial / "bootstrap_eval.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    (partial / "pretrain_curve.json").write_text(json.dumps(state["curve"], indent=1) + "\n")
    (partial / "RECIPE.md").write_text(recipe_card(partial))
    ckpt.unlink(missing_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return out_dir


def stage_of(base: Path) -> tuple[int, str]:
    """(stage number, recipe digest) of a pretrained checkpoint; clear error for one that is not pretrained."""
    from pr1bench.models.tiny import MANIFEST_NAME

    manifest = base / MANIFEST_NAME
    m = json.loads(manifest.read_text()) if manifest.is_file() else {}
    pt = m.get("pretrain") or {}
    if not pt.get("recipe_digest"):
        raise SystemExit(f"{base} is not a pretrained pr1bench checkpoint (no pretraining recipe in {MANIFEST_NAME}); "
                         "a continuation starts from the output of the previous stage: the shipped "
                         "pr1bench/models/weights/tiny-qwen2vl-v3 is stage 1")
    return len(earlier_stages(m)) + 1, str(pt["recipe_digest"])


def earlier_stages(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The pretraining records of the stages before the manifest's own, first first."""
    return list(manifest.get("earlier_stages") or [])


def continuation(stage: int, base: Path) -> Recipe:
    """The recipe of ``stage`` (>= 2) for ``base``, which must be the output of stage ``stage - 1``."""
    if stage not in STAGES:
        raise SystemExit(f"no stage {stage}: the stages after the first are {sorted(STAGES)}")
    have, digest = stage_of(base)
    if have != stage - 1:
        raise SystemExit(f"{base} is the output of stage {have}; stage {stage} continues from stage {stage - 1}")
    return STAGES[stage](digest)


def _flat(ev: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(v["value"], 4) for k, v in ev.items()}


def _save_state(path: Path, model: Any, opt: Any, state: dict[str, Any], r: Recipe) -> None:
    """Atomic checkpoint: a kill during the save leaves the previous one intact."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state, "recipe": r.digest()},
               tmp)
    tmp.replace(path)


def _write_manifest(partial: Path, base: Path, r: Recipe, state: dict[str, Any], evaluation: dict[str, Any],
                    threads: int) -> None:
    from pr1bench.models.tiny import MANIFEST_NAME, _sha256

    manifest = json.loads((base / MANIFEST_NAME).read_text())
    previous = manifest.pop("pretrain", None)
    earlier = earlier_stages(manifest)
    if previous is None:  # stage 1: the base is the random-init build
        manifest["base_weights_sha256"] = manifest.pop("weights_sha256", None)
    else:  # a continuation: keep each earlier stage's record whole; base_weights_sha256 stays the random init's
        earlier.append({**previous, "stage": len(earlier) + 1, "weights_sha256": manifest.pop("weights_sha256", None)})
        manifest["earlier_stages"] = earlier
    manifest["pretrain"] = {"stage": len(earlier) + 1, "recipe": asdict(r), "recipe_digest": r.digest(),
                            "steps_done": state["step"],
                            "samples_drawn": state["drawn"], "train_seconds": round(state["seconds"], 1),
                            "torch_threads": threads, "eval": _flat(evaluation)}
    manifest["weights_sha256"] = {w.name: _sha256(w) for w in sorted(partial.glob("*.safetensors"))}
    (partial / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def recipe_card(model_dir: Path) -> str:
    """RECIPE.md for a pretrained checkpoint: how to rebuild it, what it is, and how it scored (from its manifest)."""
    from pr1bench.models.tiny import MANIFEST_NAME

    m = json.loads((model_dir / MANIFEST_NAME).read_text())
    pt, r = m["pretrain"], m["pretrain"]["recipe"]
    earlier = earlier_stages(m)
    stage = len(earlier) + 1
    ev = json.loads((model_dir / "bootstrap_eval.json").read_text()) if (model_dir / "bootstrap_eval.json").is_file() \
        else {}
    sha = m["weights_sha256"]
    lines = [
        f"# Embedded tiny Qwen2-VL, builder version {m['builder_version']}",
        "",
        "The checkpoint every pr1bench command uses when `--model` is not given. A real Hugging Face checkpoint:",
        "`AutoProcessor` and `AutoModelForImageTextToText` load it, TRL trains it unchanged.",
        "",
        "## Rebuild it",
        "```bash",
        *([f"pr1bench model bootstrap --seed {r['seed']}"
           f"      # = build_tiny, then pretraining stages 1 to {stage} (recipes below)",
           f"pr1bench model bootstrap --from-stage1 shipped      # stages 2 to {stage} only, from the shipped stage-1 "
           "weights (pr1bench/models/weights/tiny-qwen2vl-v3)"] if earlier else
          [f"pr1bench model bootstrap --seed {r['seed']} --steps {r['steps']}"
           "      # = python -m pr1bench.train.build_tiny + python -m pr1bench.train.pretrain"]),
        "```",
        f"Wall time here: {pt['train_seconds'] / 60:.1f} min of training on {pt['torch_threads']} torch thread(s), "
        "plus the final evaluation"
        + (f" (the earlier stages took {sum(e['train_seconds'] for e in earlier) / 60:.1f} min more)" if earlier else "")
        + ". Same seed, same versions: the same schedule and data; bitwise-equal weights are",
        "expected on the same CPU kind and torch build, not across them.",
        "",
        "## What it is",
        f"- {m['param_count']:,} parameters; config {json.dumps(m['config'])}",
        f"- weights sha256: {', '.join(f'`{k}` {v}' for k, v in sha.items())}",
        f"- random-init base (builder seed {m['seed']}) sha256: "
        f"{', '.join(f'{v}' for v in (m.get('base_weights_sha256') or {}).values())}",
        f"- recipe digest {pt['recipe_digest']}: {r['steps']} steps of {r['batch_size']}, AdamW lr {r['lr']} "
        f"(warm-up {r['warmup']}, cosine to {r['min_lr_frac']}x), betas {tuple(r['betas'])}, wd {r['weight_decay']}, "
        f"clip {r['grad_clip']}, CoT-shaped fraction {r['cot_fraction']}",
        f"- samples drawn per task (fresh images, split `pretrain`): {json.dumps(pt['samples_drawn'])}",
        (f"- vision stage first: {r['vision_steps']} steps of the `{r['vision_objective']}` objective "
         "(pr1bench.train.vision_pretrain: per visual token, what is in its cell, the box of the object centred "
         "there, its own position)" if r.get("vision_steps") else "- no separate vision stage"),
        "- mixture (weight, data overrides against the task file, extra prompt phrasings):",
    ]
    for name, mix in r["mixture"].items():
        lines.append(f"  - {name}: {mix['weight']}, {json.dumps(mix['data'])}, {len(mix['prompts'])} extra phrasings")
    if earlier:
        lines.append(f"- this is stage {stage} of {stage}: it starts from the output of the stage-{stage - 1} recipe "
                     f"(`init` {r.get('init')})")
    for i, e in enumerate(earlier, start=1):
        re_ = e["recipe"]
        sha = (e.get("weights_sha256") or {}).get("model.safetensors")
        lines.append(
            f"- stage {i}: recipe {e['recipe_digest']}, {re_['steps']} steps of {re_['batch_size']}, AdamW lr {re_['lr']} "
            f"(warm-up {re_['warmup']}, cosine to {re_['min_lr_frac']}x), vision stage {re_.get('vision_steps', 0)} steps, "
            f"{e['train_seconds'] / 60:.1f} min, samples drawn {json.dumps(e['samples_drawn'])}; mixture "
            + ", ".join(f"{k} {v['weight']} {json.dumps(v['data'])}" for k, v in re_["mixture"].items())
            + (f"; weights sha256 {sha}" if sha else "") + f"; its own evaluation {json.dumps(e.get('eval'))}")
    lines += ["", "## Evaluation (greedy, each task's own eval split, the task files as shipped)", "",
              "| task | metric | value | parse rate | n |", "|---|---|---|---|---|"]
    for name, e in ev.items():
        lines.append(f"| {name} | {e['metric']} | {e['value']:.3f} | {e['parse_rate']:.2f} | {e['n']} |")
    lines += ["", "`bootstrap_eval.json` holds these numbers; `pretrain_curve.json` the learning curve (greedy, 100",
              "eval images per task every few thousand steps) and `pretrain_log.jsonl` the per-task training loss.", ""]
    return "\n".join(lines)


def evaluate_all(model: Any, processor: Any, n: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Greedy primary metric per synthetic task on the task's own eval split (the 'base' row of every table)."""
    from pr1bench.dataset import build_rows
    from pr1bench.evaluate.core import evaluate_rows, hf_generator
    from pr1bench.spec import load_task

    processor.tokenizer.padding_side = "left"
    out = {}
    for name in SYNTHETIC_TASKS:
        task = load_task(name)
        rows = build_rows(task, "eval", n=n)
        res = evaluate_rows(task, rows, hf_generator(model, processor, task, batch_size=50, cot=False),
                            cot=False, sampled=False, seed=seed)
        m = res.summary["metrics"]
        out[name] = {"metric": task.primary_metric, "value": m.get(task.primary_metric, float("nan")),
                     "parse_rate": m["parse_rate"], "n": n}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--base", type=Path, required=True, help="a build-tiny checkpoint (random init)")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's steps (a shortened recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=None,
                   help=f"override the recipe's peak lr (stage 1: {Recipe.lr}; a continuation: its stage's)")
    p.add_argument("--vision-steps", type=int, default=Recipe.vision_steps,
                   help="first train the vision tower on dense per-token targets (pr1bench.train.vision_pretrain)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the shipped model used 1)")
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=0, help="greedy eval of --eval-n images per task every N steps")
    p.add_argument("--eval-n", type=int, default=60)
    p.add_argument("--final-eval-n", type=int, default=300)
    p.add_argument("--stage", type=int, choices=(1, *sorted(STAGES)), default=1,
                   help="1: the stage-1 recipe from a random-init --base; N > 1: the stage-N continuation, whose --base "
                        "must be the output of stage N-1 (read from its manifest, whose recipe digest names stage N's init)")
    a = p.parse_args(argv)
    if a.stage > 1:
        r = continuation(a.stage, a.base)
        r = replace(r, steps=a.steps or r.steps, lr=a.lr or r.lr)
    else:
        r = Recipe(steps=a.steps or Recipe.steps, seed=a.seed, lr=a.lr or Recipe.lr, vision_steps=a.vision_steps)
    train(a.out_dir, a.base, r, threads=a.threads, save_every=a.save_every, eval_every=a.eval_every,
          eval_n=a.eval_n, final_eval_n=a.final_eval_n, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
