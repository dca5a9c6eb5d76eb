"""``words``: rendered words from a small built-in lexicon (task type ocr).

Fonts: no system fonts are assumed. Pillow >= 10.1 ships a scalable default font (Aileron, via FreeType)
returned by ``ImageFont.load_default(size=...)``; it is identical on every machine with the same Pillow,
which keeps the images reproducible. Without FreeType Pillow falls back to a fixed bitmap font; we refuse
that (clear error) because ``font_size`` would silently stop working.

Words are wrapped greedily into lines that fit the image width; the target text joins the words with
single spaces (line breaks are layout, not content), which is what an edit-distance reward should compare.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import model_validator

from pr1bench.data.base import GENERATORS, BaseParams, Draft, Generator, IntRange
from pr1bench.models.corpus import OCR_LEXICON

#: The task's lexicon lives beside the tokenizer corpus (``pr1bench.models.corpus.OCR_LEXICON``) so that the embedded
#: tokenizer is trained on exactly the words the task renders (builder version 3): one token per word.
LEXICON: tuple[str, ...] = OCR_LEXICON
#: Dark ink colours with strong contrast against the light background.
INK: tuple[tuple[int, int, int], ...] = ((20, 20, 20), (30, 40, 120), (110, 20, 20), (20, 80, 40))
LINE_SPACING = 2
MARGIN = 3
WORD_TRIES = 40


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font at ``size`` px (cached: loading costs ~1 ms)."""
    f = ImageFont.load_default(size=size)
    if not isinstance(f, ImageFont.FreeTypeFont):
        raise RuntimeError("Pillow was built without FreeType; the scalable default font is unavailable")
    return f


class WordsParams(BaseParams):
    """Parameters of ``words``; ``n_words`` is the knob (n is always 1: one text string to read)."""

    image_size: int | tuple[int, int] = (112, 56)
    n_words: IntRange = (1, 3)
    font_size: IntRange = (12, 18)

    @model_validator(mode="after")
    def _readable(self) -> WordsParams:
        if self.n_words[0] < 1:
            raise ValueError("n_words must start at 1 (an OCR target cannot be empty)")
        if self.font_size[0] < 8:
            raise ValueError(f"font_size {self.font_size}: text under 8 px is unreadable at 14 px patches")
        return self


def wrap(words: list[str], f: ImageFont.FreeTypeFont, max_width: int) -> list[str] | None:
    """Greedy line wrap; None if a single word is wider than ``max_width``."""
    lines: list[str] = []
    for w in words:
        trial = f"{lines[-1]} {w}" if lines else w
        if lines and f.getlength(trial) <= max_width:
            lines[-1] = trial
        elif f.getlength(w) <= max_width:
            lines.append(w)
        else:
            return None
    return lines


@GENERATORS.register("words")
class Words(Generator):
    """Short text on a plain background; the answer is the text itself."""

    task_type = "ocr"
    knob = "n_words"
    Params = WordsParams
    p: WordsParams

    def _layout(self, k: int, rng: np.random.Generator) -> tuple[list[str], list[str], int]:
        p = self.p
        for _ in range(WORD_TRIES):
            words = [LEXICON[i] for i in rng.integers(len(LEXICON), size=k).tolist()]
            size = int(rng.integers(p.font_size[0], p.font_size[1] + 1))
            f = font(size)
            lines = wrap(words, f, p.width - 2 * MARGIN)
            if lines is not None and self._block(lines, f)[1] <= p.height - 2 * MARGIN:
                return words, lines, size
        raise ValueError(
            f"cannot fit {k} words at font_size {p.font_size} in {p.width}x{p.height}; "
            "lower n_words or font_size, or raise image_size"
        )

    @staticmethod
    def _block(lines: list[str], f: ImageFont.FreeTypeFont) -> tuple[int, int]:
        ascent, descent = f.getmetrics()
        width = max(int(np.ceil(f.getlength(line))) for line in lines)
        return width, len(lines) * (ascent + descent) + (len(lines) - 1) * LINE_SPACING

    def make(self, k: int, rng: np.random.Generator, order_rng: np.random.Generator) -> Draft:
        p = self.p
        words, lines, size = self._layout(k, rng)
        f = font(size)
        bw, bh = self._block(lines, f)
        x = int(rng.integers(MARGIN, p.width - MARGIN - bw + 1))
        y = int(rng.integers(MARGIN, p.height - MARGIN - bh + 1))
        ink = INK[int(rng.integers(len(INK)))]
        image = Image.new("RGB", (p.width, p.height), tuple(p.background))
        draw = ImageDraw.Draw(image)
        line_h = sum(f.getmetrics()) + LINE_SPACING
        for j, line in enumerate(lines):
            draw.text((x, y + j * line_h), line, font=f, fill=ink)
        text = " ".join(words)
        return Draft(
            image=image,
            target={"text": text},
            fields={},
            n=1,
            meta={"n_words": k, "font_size": size, "lines": lines, "text_box": [x, y, x + bw, y + bh]},
        )
