"""A report section: a titled table of formatted cells, its numbers as a DataFrame, notes, or why it is empty."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pr1bench.report.stats import Estimate

if TYPE_CHECKING:
    import pandas as pd

VARIANT_LABEL = {"base": "base", "sft": "SFT", "grpo": "GRPO", "cot-grpo": "CoT-GRPO", "sft-grpo": "SFT-then-GRPO"}
VARIANT_ORDER = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
DASH = "–"


@dataclass
class Section:
    """One table of the report.

    ``rows`` hold display strings (renderers only escape and lay them out); ``frame`` holds the same numbers
    unformatted, for CSV and for tests that check them against SQL. An empty section keeps its ``missing``
    explanation, which names the command that would produce the data.
    """

    key: str  # file stem for CSV / plots, e.g. main-counting
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    missing: str | None = None
    group: str = ""  # heading the section sits under (main, complexity, ablations, sweeps)

    @property
    def empty(self) -> bool:
        return not self.rows


def num(x: float | None, digits: int = 3) -> str:
    """A number for a table cell: fixed digits in a sane range, scientific otherwise, a dash when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    if math.isinf(x):
        return "inf"
    ax = abs(x)
    if ax != 0 and (ax >= 1e5 or ax < 10 ** (-digits)):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}f}"


def signed(x: float | None, digits: int = 3) -> str:
    text = num(x, digits)
    return text if text.startswith(("-", DASH)) or text == "inf" else f"+{text}"


def est_cell(est: Estimate | None, *, sign: bool = False, digits: int = 3) -> str:
    """'0.812 [0.790, 0.830]', or '0.812 (n=1)' when there is no interval: never a made-up interval."""
    if est is None:
        return DASH
    fmt = signed if sign else num
    if not est.has_interval:
        return f"{fmt(est.value, digits)} (n={est.n})"
    return f"{fmt(est.value, digits)} [{fmt(est.lo, digits)}, {fmt(est.hi, digits)}]"


def est_fields(prefix: str, est: Estimate | None) -> dict[str, Any]:
    """An estimate as flat numeric columns for a section's frame (``prefix``, ``prefix_lo``, ``prefix_hi``, n)."""
    if est is None:
        return {prefix: None, f"{prefix}_lo": None, f"{prefix}_hi": None, f"{prefix}_n": 0}
    return {prefix: est.value, f"{prefix}_lo": est.lo, f"{prefix}_hi": est.hi, f"{prefix}_n": est.n}


def variant_command(task: str, variant: str) -> str:
    """The command that produces a run of ``variant`` on ``task``."""
    if variant == "base":
        return f"pr1bench eval {task}"
    return f"pr1bench train {task} --variant {variant} --seed 0"
