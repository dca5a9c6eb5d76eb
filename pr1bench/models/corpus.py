"""The text the tiny model's tokenizer is trained on: everything the perception tasks will say.

The tokenizer is trained from scratch (there is no hub access), so its merges are only as good as this corpus. We
want the prompt words, colours, shapes, JSON punctuation and chat-template text of the tasks to be a handful of tokens
each (short sequences are what makes a ~1M-parameter model learnable on CPU), while numbers stay compositional: the
pre-tokenizer splits every digit on its own (see ``tokenizer.py``), so ``"123"`` is always ``1 2 3`` and the model
can learn coordinates digit by digit instead of memorising a thousand unrelated number tokens.

Pure Python on purpose: no torch, so it can be imported (e.g. by data generators that want ``OCR_WORDS``) cheaply.
The corpus is generated with a fixed seed (``CORPUS_SEED``), independent of the model's seed, so every tiny model
shares one tokenizer and checkpoints built with different seeds stay comparable.
"""

from __future__ import annotations

import json
import random

CORPUS_SEED = 1234
"""Fixed seed for the corpus; changing it changes the tokenizer, so bump ``BUILDER_VERSION`` in ``tiny.py`` too."""

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "black", "white", "gray")
SHAPES = ("circle", "square", "triangle", "star", "diamond")
SIZES = ("small", "medium", "large", "big", "tiny", "huge")
SPATIAL = ("left", "right", "above", "below", "top", "bottom", "center", "middle", "next to", "of", "the")

_OCR_TEXT = (
    "the be to of and a in that have it for not on with he as you do at this but his by from they we say her "
    "she or an will my one all would there their what so up out if about who get which go me when make can like "
    "time no just him know take people into year your good some could them see other than then now look only come "
    "its over think also back after use two how our work first well way even new want because any these give day "
    "most us is was are were been has had did said made went cat dog sun moon tree book door road car bus ship "
    "fish bird hand home water fire food open stop exit push pull sale free park help name city world house light "
    "green blue red black white love life play game shop menu cafe bank hotel north south east west king queen "
    "apple bread milk tea coffee rain snow wind star box pen cup map key hat bag red line left right up down "
    "yes hello goodbye please thank thanks welcome news paper train plane boat river lake hill stone wood gold "
    "data code text image word letter number page list table chair room school class study learn read write"
)
OCR_WORDS: tuple[str, ...] = tuple(dict.fromkeys(_OCR_TEXT.split()))
"""A small lexicon of common English words (deduplicated, order kept) for synthetic OCR images."""

_LEXICON_TEXT = """
apple river stone cloud green light paper house table water chair music plant bread smile train
north south heart dream night sugar glass money horse sheep tiger zebra lemon grape ocean storm snow
rain wind fire earth metal wood sand salt milk rice corn bean seed leaf tree bird fish frog duck
wolf bear lion mouse cat dog cow pig ant bee owl fox hen red blue pink gold gray black white brown
one two three four five six seven eight nine ten open close fast slow high low big small hot cold
new old good bad left right up down book door road park city town shop bank lamp clock phone video
radio piano robot pixel code data model image token vision reward policy train learn count find read
write
"""
#: The synthetic OCR task's lexicon (``pr1bench.data.ocr`` renders these; deduplicated, order kept). The tokenizer corpus
#: holds each word on its own and after a space (:data:`LEXICON_REPEATS` times), so with ``vocab_size`` 1536 every word
#: is a single token at the start of an answer and after a space (builder version 3; a test checks it). Version 2
#: trained on ``OCR_WORDS`` instead, a different list: 109 of these 130 words split into 2-6 pieces, and split
#: differently at the start ("st"+"one") than after a space ("Ġstone").
OCR_LEXICON: tuple[str, ...] = tuple(dict.fromkeys(_LEXICON_TEXT.split()))
LEXICON_REPEATS = 10

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a helpful assistant that answers questions about images.",
)
COT_SUFFIX = (
    "Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags."
)


def _object_phrase(rng: random.Random) -> str:
    """A referring phrase such as ``"small red circle"`` or ``"blue square"``."""
    parts = []
    if rng.random() < 0.4:
        parts.append(rng.choice(SIZES))
    if rng.random() < 0.9:
        parts.append(rng.choice(COLOURS))
    parts.append(rng.choice(SHAPES))
    return " ".join(parts)


def _box(rng: random.Random, limit: int = 1000) -> list[int]:
    """A valid ``[x1, y1, x2, y2]`` box with integer coordinates in ``[0, limit]``."""
    x1, x2 = sorted(rng.sample(range(limit + 1), 2))
    y1, y2 = sorted(rng.sample(range(limit + 1), 2))
    return [x1, y1, x2, y2]


def _prompts(rng: random.Random) -> list[str]:
    """Task prompts of every kind the harness asks (grounding, counting, detection, OCR, CoT)."""
    obj = _object_phrase(rng)
    colour, shape = rng.choice(COLOURS), rng.choice(SHAPES)
    cats = ", ".join(rng.sample(SHAPES, rng.randint(1, len(SHAPES))))
    where = rng.choice(SPATIAL)
    base = [
        f"Output the bounding box of the {obj} in the image.",
        f"Output the bounding box of the {obj} {where} the {_object_phrase(rng)}.",
        f"Output all the bounding boxes of the {colour} {shape}s in the image.",
        f"Output all the bounding boxes of the {colour} {shape}s",
        f"How many {colour} {shape}s are there in the image?",
        f"Count the {colour} {shape}s. Output the number.",
        f"Output the center point of each {colour} {shape} in the image.",
        f"Please output bbox coordinates and names of {cats}.",
        "OCR this image.",
        "Read the text in the image.",
        f"What is the colour of the {shape} on the {where}?",
        f"Is there a {obj} in the image? Answer yes or no.",
    ]
    prompt = rng.choice(base)
    if rng.random() < 0.3:
        prompt = f"{prompt} {COT_SUFFIX}"
    return [prompt]


def _answers(rng: random.Random) -> list[str]:
    """Answer strings in every format the parsers accept (JSON boxes, points, counts, OCR text, box tokens)."""
    n = rng.randint(0, 6)
    dets = [
        {"bbox_2d": _box(rng, rng.choice((112, 224, 1000))), "label": rng.choice(SHAPES)} for _ in range(n)
    ]
    points = [{"point_2d": _box(rng)[:2], "label": rng.choice(SHAPES)} for _ in range(rng.randint(1, 4))]
    box = _box(rng)
    count = rng.randint(0, 20)
    words = " ".join(rng.choice(OCR_WORDS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        words = words.title() if rng.random() < 0.5 else words.upper()
    phrase = _object_phrase(rng)
    return [
        json.dumps(dets),
        json.dumps(dets, indent=None, separators=(",", ":")),
        json.dumps(points),
        json.dumps(box),
        f"<|object_ref_start|>{phrase}<|object_ref_end|><|box_start|>({box[0]},{box[1]}),({box[2]},{box[3]})<|box_end|>",
        f"There are {count} {rng.choice(COLOURS)} {rng.choice(SHAPES)}s.",
        str(count),
        words,
        f"<think>I see {count} {rng.choice(SHAPES)}s {rng.choice(SPATIAL)} the {phrase}.</think> "
        f"<answer>{json.dumps(dets)}</answer>",
        f"<answer>{count}</answer>",
    ]


def _chat_text(rng: random.Random) -> str:
    """A rendered chat turn, so that role names and newlines get merges like they do at train time."""
    system = rng.choice(SYSTEM_PROMPTS)
    return f"system\n{system}\nuser\nassistant\n"


def build_corpus(n_samples: int = 3000, seed: int = CORPUS_SEED) -> list[str]:
    """Generate the tokenizer-training corpus deterministically.

    Args:
        n_samples: number of random prompt/answer draws (each yields several strings).
        seed: the corpus seed; keep the default so all tiny models share one tokenizer.

    Returns:
        A list of strings (same list for the same arguments, on any machine).
    """
    rng = random.Random(seed)
    texts: list[str] = [" ".join(str(i) for i in range(0, 1001))]
    texts += [
        " ".join(OCR_WORDS),
        " ".join(w.title() for w in OCR_WORDS),
        " ".join(w.upper() for w in OCR_WORDS),
    ]
    texts += [" ".join(COLOURS), " ".join(SHAPES), " ".join(SIZES), " ".join(SPATIAL)]
    for _ in range(LEXICON_REPEATS):  # every OCR task word on its own and after a space: one token each (v3)
        texts += [*OCR_LEXICON, " ".join(OCR_LEXICON)]
    for _ in range(n_samples):
        texts += _prompts(rng)
        texts += _answers(rng)
        texts.append(_chat_text(rng))
    return texts
