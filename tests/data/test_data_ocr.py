"""OCR words: non-empty text from the lexicon, rendered visibly inside the image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFont

from pr1bench.data import generate
from pr1bench.data.ocr import LEXICON, font


def test_default_font_is_scalable() -> None:
    assert isinstance(font(16), ImageFont.FreeTypeFont)
    assert font(24).getlength("hello") > font(12).getlength("hello")


def test_text_nonempty_and_rendered() -> None:
    for s in generate("words", {}, split="t", n_samples=60, seed=0):
        text = s.target["text"]
        assert text and text == text.strip() and all(w in LEXICON for w in text.split())
        assert len(text.split()) == s.meta["n_words"] and s.n == 1
        assert " ".join(s.meta["lines"]) == text
        arr = np.asarray(s.image).astype(int)
        ink = np.abs(arr - np.array([245, 245, 240])).sum(-1) > 150
        assert ink.sum() > 20 * len(text.replace(" ", "")) / 4
        ys, xs = np.nonzero(ink)
        x1, y1, x2, y2 = s.meta["text_box"]
        assert x1 >= 0 and y1 >= 0 and x2 <= s.width and y2 <= s.height
        assert x1 - 1 <= xs.min() and xs.max() < x2 + 1 and y1 - 1 <= ys.min() and ys.max() < y2 + 1


def test_default_size_is_non_square_grid() -> None:
    s = generate("words", {}, split="t", n_samples=1, seed=0)[0]
    assert (s.width, s.height) == (112, 56)


def test_font_size_changes_rendering() -> None:
    small = generate("words", {"font_size": [10, 10], "n_words": [1, 1]}, split="t", n_samples=5, seed=0)
    big = generate("words", {"font_size": [20, 20], "n_words": [1, 1]}, split="t", n_samples=5, seed=0)
    for a, b in zip(small, big, strict=True):
        assert a.meta["font_size"] == 10 and b.meta["font_size"] == 20
        assert (b.meta["text_box"][3] - b.meta["text_box"][1]) > (
            a.meta["text_box"][3] - a.meta["text_box"][1]
        )


def test_text_that_cannot_fit_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        generate(
            "words",
            {"image_size": [56, 28], "n_words": [3, 3], "font_size": [24, 24]},
            split="t",
            n_samples=1,
            seed=0,
        )
