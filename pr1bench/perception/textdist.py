"""Text distances for OCR: bit-parallel Levenshtein and bag-of-token precision/recall/F1.

Why bit-parallel: a page of OCR text is thousands of characters, and the textbook dynamic
programme is ``O(n*m)`` Python steps (seconds per sample at 20k characters). Hyyrö's bit-vector
formulation of Myers' algorithm keeps a whole DP column in one Python integer, so the loop runs
once per character of the longer string with word-parallel big-int operations.
"""

from __future__ import annotations

from collections import Counter


def levenshtein(a: str, b: str) -> int:
    """Unit-cost edit distance (insert, delete, substitute) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def normalized_edit_distance(pred: str, gt: str) -> float:
    """Edit distance divided by the longer length, in ``[0, 1]``; 0.0 when both are empty.

    Dividing by the longer string (as PageOCR-style evaluations do) keeps the value in ``[0, 1]``
    whether the model under- or over-generates.
    """
    longest = max(len(pred), len(gt))
    return levenshtein(pred, gt) / longest if longest else 0.0


def tokens(text: str) -> list[str]:
    """Whitespace tokens; CJK characters become one token each (no spaces separate them)."""
    out: list[str] = []
    for word in text.split():
        if any(_is_cjk(c) for c in word):
            out.extend(c for c in word if not c.isspace())
        else:
            out.append(word)
    return out


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF


def token_prf(pred: str, gt: str) -> tuple[float, float, float]:
    """Multiset token precision, recall and F1 (each in ``[0, 1]``; all 1.0 when both are empty)."""
    p, g = Counter(tokens(pred)), Counter(tokens(gt))
    n_p, n_g = sum(p.values()), sum(g.values())
    if n_p == 0 and n_g == 0:
        return 1.0, 1.0, 1.0
    common = sum((p & g).values())
    precision = common / n_p if n_p else 0.0
    recall = common / n_g if n_g else 0.0
    f1 = 2 * common / (n_p + n_g)
    return precision, recall, f1
