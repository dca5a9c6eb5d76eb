"""Vision pretraining for the embedded tiny model: the analog of the pretrained ViT every real MLLM starts from.

The first stage of ``pr1bench.train.pretrain`` (``Recipe.vision_steps``, objective ``geometry``): the vision tower
and its merger learn, for every visual token (one 28x28 cell of the image), which shapes and colours are in the
cell and whether an object's centre lies in it; which colour+shape kind is centred in it; that object's centre and
box (regressed, as fractions of the image side); and the token's own cell position. The last two exist because the
tower has only relative (rotary) positions: without an absolute-coordinate target nothing makes a visual token
carry *where* it is, which the point and box answers need. Generic synthetic scenes, not any task's answers.

Measured (issue 13, same init, same mixture, one core): with 1,000 steps of this stage (~2.5 min) before 13,000
LM steps the base reached grounding Acc@0.5 0.167 and detection AP 0.023, against 0.083 and 0.009 after 17,000
LM steps without it (counting acc 0.317 vs 0.477). The old claim that the model "never learned to look" without
this stage was an artefact of digit-by-digit coordinates and ~300 steps per task: the spike learned to count
without it. The shipped base (this stage, then 16,000 LM steps with OCR's share cut to 0.05) reached grounding
0.377, detection AP 0.062 and counting 0.377.
"""

from __future__ import annotations

import random
from typing import Any

from pr1bench.data import generate
from pr1bench.data.draw import PALETTE, SHAPES

CELL = 28  # patch 14 x spatial merge 2: one visual token per 28x28 cell
COLOURS: tuple[str, ...] = tuple(PALETTE)
N_LABELS = len(SHAPES) + len(COLOURS) + 1
N_KINDS = len(SHAPES) * len(COLOURS)  # one "a <colour> <shape> is centred here" label per combination
N_GEOM = 6  # centre x, y and box x1, y1, x2, y2 of the object centred in the cell, as fractions of the image side
DIGIT_CLASSES = (12, 12, 10, 10, 10, 10)
"""Leading digits of the answers' numbers for the object centred in a cell: the tens of its centre x, y in pixels
(0-11 on a 112 px image; point answers) and the hundreds of its box x1, y1, x2, y2 on the 0-1000 scale (box-token
answers), so that a visual token holds the digits an answer copies out, not only a coordinate to be converted."""


def cell_labels(objects: list[dict[str, Any]], width: int, height: int) -> list[list[float]]:
    """Multi-hot labels per visual token (row-major over cells): shapes, colours, centre-in-cell."""
    cols, rows = width // CELL, height // CELL
    out = [[0.0] * N_LABELS for _ in range(cols * rows)]
    for obj in objects:
        x1, y1, x2, y2 = obj["box"]
        s_idx = SHAPES.index(obj["shape"]) if obj["shape"] in SHAPES else None
        c_idx = COLOURS.index(obj["colour"]) if obj["colour"] in COLOURS else None
        for cy in range(max(0, y1 // CELL), min(rows, (y2 - 1) // CELL + 1)):
            for cx in range(max(0, x1 // CELL), min(cols, (x2 - 1) // CELL + 1)):
                lab = out[cy * cols + cx]
                if s_idx is not None:
                    lab[s_idx] = 1.0
                if c_idx is not None:
                    lab[len(SHAPES) + c_idx] = 1.0
        mx, my = min(cols - 1, ((x1 + x2) // 2) // CELL), min(rows - 1, ((y1 + y2) // 2) // CELL)
        out[my * cols + mx][-1] = 1.0
    return out


def cell_geometry(objects: list[dict[str, Any]], width: int, height: int) -> tuple[list[list[float]], list[list[float]], list[float]]:
    """Per visual token: kind-of-object-centred-here labels, its geometry and a mask (1 where an object is centred).

    The geometry is absolute (fractions of the image side), so a token must know *where* it is: Qwen2-VL's vision
    tower has only relative (rotary) positions, and an LM can copy coordinates out of a token only if they are in it.
    Where two centres share a cell the larger object wins.
    """
    cols, rows = width // CELL, height // CELL
    kinds = [[0.0] * N_KINDS for _ in range(cols * rows)]
    geom = [[0.0] * N_GEOM for _ in range(cols * rows)]
    mask = [0.0] * (cols * rows)
    area = [0] * (cols * rows)
    for obj in objects:
        x1, y1, x2, y2 = obj["box"]
        mx, my = min(cols - 1, ((x1 + x2) // 2) // CELL), min(rows - 1, ((y1 + y2) // 2) // CELL)
        i = my * cols + mx
        if obj["shape"] in SHAPES and obj["colour"] in COLOURS:
            kinds[i][SHAPES.index(obj["shape"]) * len(COLOURS) + COLOURS.index(obj["colour"])] = 1.0
        a = (x2 - x1) * (y2 - y1)
        if a >= area[i]:
            area[i], mask[i] = a, 1.0
            geom[i] = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, x1 / width, y1 / height, x2 / width, y2 / height]
    return kinds, geom, mask


def digit_targets(geom: list[float], width: int) -> list[int]:
    """``DIGIT_CLASSES`` targets from one ``cell_geometry`` row (fractions of the image side)."""
    cx, cy, *box = geom
    tens = [min(11, int(v * width) // 10) for v in (cx, cy)]
    hundreds = [min(9, int(round(v * 1000)) // 100) for v in box]
    return tens + hundreds


def cell_positions(width: int, height: int) -> list[list[float]]:
    """Each token's own cell centre (x, y) as fractions of the image side: an explicit absolute-position target."""
    cols, rows = width // CELL, height // CELL
    return [[(cx + 0.5) / cols, (cy + 0.5) / rows] for cy in range(rows) for cx in range(cols)]


def scenes(n: int, seed: int) -> list[Any]:
    """Generic shape scenes (random colours, all shapes, 1-12 objects); not any task's data split."""
    params = {"colour_mode": "random", "classes": list(SHAPES), "n_objects": [1, 12]}
    return generate("shapes", params, split="vision-pretrain", n_samples=n, seed=seed)


OBJECTIVES = ("cells", "geometry")
"""``cells``: the shape/colour/centre multi-hot only (the default). ``geometry``: also the kind, absolute box, own
position and answer-digit targets. Measured on the 2-layer default (400 steps, one core, ~95-110 s): the tower learns
them (linear-probe RMSE ~4-5 px for centres and own position) but an SFT of 400-1,200 steps on top still answered
counting at chance (greedy acc 0.00-0.10 on 100 images) with image-independent points, so it is opt-in, not default."""


def pretrain_vision(model: Any, processor: Any, *, steps: int, seed: int, batch_size: int = 32,
                    lr: float = 1e-3, log: Any = print, objective: str = "cells") -> dict[str, float]:
    """Train ``model.model.visual`` in place with a per-token linear head; returns first/last loss (and terms)."""
    import torch

    torch.manual_seed(seed)
    data = scenes(min(steps * batch_size, 8000), seed)
    rng = random.Random(seed)
    visual = model.model.visual
    hidden = model.config.text_config.hidden_size
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown vision objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    full = objective == "geometry"
    head = torch.nn.Linear(hidden, N_LABELS + (N_KINDS + N_GEOM + 2 + sum(DIGIT_CLASSES) if full else 0))
    opt = torch.optim.AdamW([*visual.parameters(), *head.parameters()], lr=lr)
    visual.train()

    def batch_loss(step: int) -> tuple[Any, dict[str, Any]]:
        batch = rng.sample(data, batch_size)
        parts = _losses(head(token_features(model, processor, [s.image for s in batch])), batch, full=full)
        return sum(LOSS_WEIGHTS[k] * v for k, v in parts.items()), parts

    return _train_loop(steps, opt, batch_loss, "vision", log)


def _train_loop(steps: int, opt: Any, batch_loss: Any, label: str, log: Any,
                clip: Any = None) -> dict[str, float]:
    """``steps`` optimizer steps on ``batch_loss(step) -> (loss, terms)`` (gradients clipped to norm 1 over ``clip``
    if given), logging every 50 steps; returns the first and last loss and the last terms."""
    import torch

    first = last = float("nan")
    parts: dict[str, Any] = {}
    for step in range(steps):
        loss, parts = batch_loss(step)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(clip, 1.0)
        opt.step()
        opt.zero_grad()
        last = float(loss.detach())
        if step == 0:
            first = last
        if step % 50 == 0 or step == steps - 1:
            detail = " ".join(f"{k} {float(v.detach()):.4f}" for k, v in parts.items())
            log(f"{label} pretrain step {step}/{steps} loss {last:.4f} ({detail})")
    return {"first_loss": first, "last_loss": last, **{f"last_{k}": float(v.detach()) for k, v in parts.items()}}


def token_features(model: Any, processor: Any, images: list[Any]) -> Any:
    """The merged visual tokens of ``images`` (one row per token, images in order): what the LM sees of them."""
    import torch

    inputs = processor.image_processor(images=images, return_tensors="pt")
    feats = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
    feats = getattr(feats, "pooler_output", feats)
    return torch.cat(list(feats)) if isinstance(feats, list | tuple) else feats


LOSS_WEIGHTS = {"cells": 1.0, "kinds": 4.0, "geometry": 10.0, "position": 10.0, "digits": 0.5}
"""Weights of the loss terms; the regression terms are in squared image fractions (small), hence x10."""


def _losses(out: Any, batch: list[Any], *, full: bool) -> dict[str, Any]:
    """The per-token loss terms for one batch of scenes (``out``: head logits, tokens row-major per image)."""
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    cells = torch.tensor([lab for s in batch for lab in cell_labels(s.meta["objects"], s.width, s.height)])
    if not full:
        return {"cells": bce(out, cells)}
    geo = [cell_geometry(s.meta["objects"], s.width, s.height) for s in batch]
    kinds = torch.tensor([k for g in geo for k in g[0]])
    boxes = torch.tensor([b for g in geo for b in g[1]])
    mask = torch.tensor([m for g in geo for m in g[2]]).unsqueeze(-1)
    pos = torch.tensor([p for s in batch for p in cell_positions(s.width, s.height)])
    a, b, c = N_LABELS, N_LABELS + N_KINDS, N_LABELS + N_KINDS + N_GEOM
    digits = torch.tensor([digit_targets(g, s.width) for s, gs in zip(batch, geo, strict=True) for g in gs[1]])
    on = mask.squeeze(-1) > 0
    ce, start = [], c + 2
    for j, k in enumerate(DIGIT_CLASSES):
        ce.append(torch.nn.functional.cross_entropy(out[on, start:start + k], digits[on, j]))
        start += k
    return {
        "cells": bce(out[:, :a], cells),
        "kinds": bce(out[:, a:b], kinds),
        "geometry": ((out[:, b:c] - boxes) ** 2 * mask).sum() / mask.sum().clamp(min=1) / N_GEOM,
        "position": torch.nn.functional.mse_loss(out[:, c:c + 2], pos),
        "digits": sum(ce) / len(ce),
    }


# --- Reading (issue 20): the tower learns glyphs the way the geometry objective taught it shapes -------------------
N_LETTERS = 26
MAX_WORDS = 3


def text_cells(meta: dict[str, Any], width: int, height: int, lexicon: tuple[str, ...]) -> dict[str, list[Any]]:
    """Per visual token of one rendered-words image (``pr1bench.data.ocr``): which letters overlap its cell
    (multi-hot), and for the cell holding a word's centre, that word (index into ``lexicon``, 0 = none) and its place
    in reading order (1-3, 0 = none). Character extents come from the font's own advance widths."""
    from pr1bench.data.ocr import LINE_SPACING, font

    cols, rows = width // CELL, height // CELL
    letters = [[0.0] * N_LETTERS for _ in range(cols * rows)]
    word = [0] * (cols * rows)
    order = [0] * (cols * rows)
    f = font(int(meta["font_size"]))
    ascent, descent = f.getmetrics()
    x0, y0 = meta["text_box"][0], meta["text_box"][1]
    line_h = ascent + descent + LINE_SPACING
    k = 0
    for j, line in enumerate(meta["lines"]):
        top, bottom = y0 + j * line_h, y0 + j * line_h + ascent + descent
        cy = min(rows - 1, max(0, int((top + bottom) / 2) // CELL))
        start = 0
        for w in line.split(" "):
            a = line.index(w, start)
            start = a + len(w)
            for i, ch in enumerate(w):
                cx0 = x0 + f.getlength(line[:a + i])
                cx1 = x0 + f.getlength(line[:a + i + 1])
                c = ord(ch.lower()) - ord("a")
                if 0 <= c < N_LETTERS:
                    for cx in range(max(0, int(cx0) // CELL), min(cols, int(max(cx0, cx1 - 1)) // CELL + 1)):
                        letters[cy * cols + cx][c] = 1.0
            wx = x0 + (f.getlength(line[:a]) + f.getlength(line[:start])) / 2
            cell = cy * cols + min(cols - 1, max(0, int(wx) // CELL))
            word[cell] = lexicon.index(w) + 1 if w in lexicon else 0
            order[cell] = min(MAX_WORDS, k + 1)
            k += 1
    return {"letters": letters, "word": word, "order": order}


def text_scenes(n: int, seed: int, params: dict[str, Any] | None = None, start: int = 0) -> list[Any]:
    """Rendered-words images of their own split (``vision-pretrain``), the OCR task's generator and lexicon."""
    from pr1bench.data.base import iter_samples

    p = {"image_size": 112, "n_words": [1, 3], "font_size": [12, 18], **(params or {})}
    return list(iter_samples("words", p, split="vision-pretrain", n_samples=n, seed=seed, start=start))


def pretrain_glyphs(model: Any, processor: Any, *, steps: int, seed: int, batch_size: int = 32, lr: float = 1e-3,
                    shape_every: int = 2, text_params: dict[str, Any] | None = None, draw: Any = None,
                    log: Any = print) -> dict[str, float]:
    """Train the vision tower on text images with per-token reading targets (letters, centred word, reading order),
    alternating with the ``geometry`` objective on shape scenes every ``shape_every`` steps (0: text only) so that
    what it learned for shapes stays. ``draw(n, start)``, if given, replaces the rendered-words images (objects with
    ``image``, ``width``, ``height`` and a words-generator ``meta``). Returns first/last loss and the last terms.

    A diagnostic (``benchmarks/diagnose_ocr.py --glyph-probe``), not part of the shipped recipe: it asks whether the
    tower can come to hold glyphs when told directly, per visual token, which letters and word lie there. Measured
    (issue 20, stop 27): the 2x64 tower, fresh or from embedded-v3, and fresh 4x128 and patch-7 towers did not (the
    word term at word cells stayed near ln 130 over 600-2,000 steps, the letters term near its prior)."""
    import torch

    from pr1bench.data.ocr import LEXICON

    torch.manual_seed(seed)
    visual = model.model.visual
    hidden = model.config.text_config.hidden_size
    text_head = torch.nn.Linear(hidden, N_LETTERS + len(LEXICON) + 1 + MAX_WORDS + 1)
    shape_head = torch.nn.Linear(hidden, N_LABELS + N_KINDS + N_GEOM + 2 + sum(DIGIT_CLASSES))
    opt = torch.optim.AdamW([*visual.parameters(), *text_head.parameters(), *shape_head.parameters()], lr=lr)
    shapes = scenes(min(steps * batch_size, 8000), seed) if shape_every else []
    rng = random.Random(seed)
    visual.train()
    drawn = 0

    def batch_loss(step: int) -> tuple[Any, dict[str, Any]]:
        nonlocal drawn
        if shape_every and step % shape_every == shape_every - 1:
            batch = rng.sample(shapes, batch_size)
            parts = _losses(shape_head(token_features(model, processor, [s.image for s in batch])), batch, full=True)
            return sum(LOSS_WEIGHTS[k] * v for k, v in parts.items()), parts
        batch = draw(batch_size, drawn) if draw else text_scenes(batch_size, seed, text_params, start=drawn)
        drawn += batch_size
        out = text_head(token_features(model, processor, [s.image for s in batch]))
        cells = [text_cells(s.meta, s.width, s.height, LEXICON) for s in batch]
        letters = torch.tensor([x for c in cells for x in c["letters"]])
        word = torch.tensor([x for c in cells for x in c["word"]])
        order = torch.tensor([x for c in cells for x in c["order"]])
        a, b = N_LETTERS, N_LETTERS + len(LEXICON) + 1
        ce = torch.nn.functional.cross_entropy
        parts = {"letters": torch.nn.functional.binary_cross_entropy_with_logits(out[:, :a], letters),
                 "word": ce(out[:, a:b], word), "order": ce(out[:, b:], order)}
        loss = parts["letters"] * 4 + parts["word"] + parts["order"]
        on = word > 0  # reported, not trained on: the word term at the cells that hold a word (ln 130 = 4.87
        parts["word_at_words"] = ce(out[on, a:b].detach(), word[on])  # is knowing nothing of the word)
        return loss, parts

    return _train_loop(steps, opt, batch_loss, "glyph", log, clip=list(visual.parameters()))
