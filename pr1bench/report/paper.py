"""Perception-R1's published numbers, for the report's ``--paper`` column.

Source: Yu et al., "Perception-R1: Pioneering Perception Policy with Reinforcement Learning", arXiv 2504.07954
(NeurIPS 2025 version), as transcribed in ``../shared/PAPER.md``: the "Headline numbers" table (base model vs
Perception-R1) and the "Ablations" table (SFT only, SFT then RL, with thinking, sequential matching), plus the
detection reward-design rows. Values are kept exactly as published (percent; the edit distance is x100 too) and
converted to our 0-1 scale only when shown beside our numbers (:func:`scaled`).

Only runs evaluated under the paper's protocol (:data:`PAPER_PROTOCOL`, the released evaluation code's parsers
and metrics) get the paper column; the report says so when a task's runs are under another protocol. The
paper's PixMo-Count numbers come from the release's box protocol (``tasks/pixmo-count.yaml``), not points.

Our variants map onto the paper's rows as: base = "base"/"without RL", grpo = "Perception-R1", sft = "SFT only",
sft-grpo = "SFT then RL", cot-grpo = "with thinking". Ablation rows were published for the first split only
(RefCOCO val, PixMo val and test, PageOCR en, COCO val2017).
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "Perception-R1 (arXiv 2504.07954), numbers as in shared/PAPER.md"
#: The evaluation protocol the published numbers were computed under (pr1bench.perception.protocols): the
#: report puts our numbers beside the paper's only for runs evaluated under it.
PAPER_PROTOCOL = "perception-r1"
# Our metric name -> the paper's, for column labels.
METRIC_LABEL = {"acc50": "Acc@0.5", "acc": "accuracy", "f1": "F1", "ned": "edit distance", "AP": "AP",
                "AP50": "AP50", "AP75": "AP75"}  # fmt: skip
# Data keys in a task's config that pick the paper's split, and spellings of split names.
SPLIT_KEYS = ("lang", "split", "eval_split")
SPLIT_ALIASES = {"validation": "val", "val2017": "val", "testa": "testA", "testb": "testB"}


@dataclass(frozen=True)
class PaperValue:
    """One published number: task, split, our metric name, our variant name, value as published (percent)."""

    task: str
    split: str
    metric: str
    variant: str
    value: float
    table: str


def _rows(task: str, metric: str, splits: tuple[str, ...], variant: str, values: tuple[float | None, ...],
          table: str) -> list[PaperValue]:
    return [PaperValue(task, s, metric, variant, v, table) for s, v in zip(splits, values, strict=True)
            if v is not None]


_H, _A, _D = "headline", "ablations", "detection reward design (COCO 10k subset)"
_REF = ("val", "testA", "testB")
PAPER: list[PaperValue] = [
    *_rows("refcoco", "acc50", _REF, "base", (86.8, 89.6, 82.0), _H),
    *_rows("refcoco", "acc50", _REF, "grpo", (89.1, 91.4, 84.5), _H),
    *_rows("refcoco", "acc50", _REF, "sft", (88.2, None, None), _A),
    *_rows("refcoco", "acc50", _REF, "sft-grpo", (88.4, None, None), _A),
    *_rows("refcoco", "acc50", _REF, "cot-grpo", (75.1, None, None), _A),
    *_rows("refcocop", "acc50", _REF, "base", (77.1, 82.5, 70.1), _H),
    *_rows("refcocop", "acc50", _REF, "grpo", (81.7, 86.8, 74.3), _H),
    *_rows("refcocop", "acc50", _REF, "sft", (80.7, None, None), _A),
    *_rows("refcocop", "acc50", _REF, "sft-grpo", (80.7, None, None), _A),
    *_rows("refcocop", "acc50", _REF, "cot-grpo", (67.9, None, None), _A),
    *_rows("refcocog", "acc50", ("val", "test"), "base", (83.3, 83.1), _H),
    *_rows("refcocog", "acc50", ("val", "test"), "grpo", (85.7, 85.4), _H),
    *_rows("refcocog", "acc50", ("val", "test"), "sft", (84.6, None), _A),
    *_rows("refcocog", "acc50", ("val", "test"), "sft-grpo", (85.1, None), _A),
    *_rows("refcocog", "acc50", ("val", "test"), "cot-grpo", (71.3, None), _A),
    *_rows("pageocr", "ned", ("en", "zh"), "base", (8.0, 10.0), _H),
    *_rows("pageocr", "ned", ("en", "zh"), "grpo", (2.8, 8.4), _H),
    *_rows("pageocr", "f1", ("en", "zh"), "base", (94.4, 93.0), _H),
    *_rows("pageocr", "f1", ("en", "zh"), "grpo", (98.2, 96.9), _H),
    *_rows("pageocr", "f1", ("en", "zh"), "sft", (97.2, None), _A),
    *_rows("pageocr", "f1", ("en", "zh"), "sft-grpo", (98.3, None), _A),
    *_rows("pageocr", "f1", ("en", "zh"), "cot-grpo", (93.8, None), _A),
    *_rows("pixmo-count", "acc", ("val", "test"), "base", (60.2, 50.5), _H),
    *_rows("pixmo-count", "acc", ("val", "test"), "grpo", (78.1, 75.6), _H),
    *_rows("pixmo-count", "acc", ("val", "test"), "sft", (58.0, 59.9), _A),
    *_rows("pixmo-count", "acc", ("val", "test"), "sft-grpo", (77.1, 75.4), _A),
    *_rows("pixmo-count", "acc", ("val", "test"), "cot-grpo", (74.9, 72.8), _A),
    *[PaperValue("coco-detection", "val", m, "base", v, _H) for m, v in (("AP", 16.1), ("AP50", 23.7), ("AP75", 16.7))],
    *[PaperValue("coco-detection", "val", m, "grpo", v, _H) for m, v in (("AP", 31.9), ("AP50", 46.7), ("AP75", 33.4))],
    PaperValue("coco-detection", "val", "AP", "sft", 25.9, _A),
    PaperValue("coco-detection", "val", "AP", "sft-grpo", 30.8, _A),
    PaperValue("coco-detection", "val", "AP", "cot-grpo", 25.7, _A),
]  # fmt: skip

# Ablations keyed by (task, axis, level) -> {metric or split: value}, as published.
MATCHING = {
    ("pixmo-count", "sequential"): {"val": 77.1, "test": 75.4},
    ("pixmo-count", "hungarian"): {"val": 78.1, "test": 75.6},
    ("coco-detection", "sequential"): {"val": 23.5},
    ("coco-detection", "hungarian"): {"val": 31.9},
}
# Detection reward terms added one by one (AP, AP50, AP75), COCO 10k subset.
REWARD_TERMS = {
    "+IoU": {"AP": 18.8, "AP50": 25.3, "AP75": 20.1},
    "+cls": {"AP": 20.2, "AP50": 27.3, "AP75": 21.4},
    "+recall": {"AP": 27.6, "AP50": 42.0, "AP75": 28.7},
    "+missing penalty": {"AP": 28.1, "AP50": 42.0, "AP75": 29.6},
}
REAL_TASKS = ("refcoco", "refcocop", "refcocog", "pixmo-count", "pageocr", "coco-detection")


def normalize_split(name: str | None) -> str | None:
    """Our data config's split spelling -> the paper's ('validation' -> 'val')."""
    if name is None:
        return None
    return SPLIT_ALIASES.get(str(name).lower(), str(name))


def splits_of(task: str) -> list[str]:
    """The paper's splits of a task, in published order."""
    return list(dict.fromkeys(v.split for v in PAPER if v.task == task))


def lookup(task: str, metric: str, variant: str, split: str | None = None) -> PaperValue | None:
    """The published number for our (task, metric, variant); the first published split when ``split`` is None."""
    want = normalize_split(split)
    rows = [v for v in PAPER if v.task == task and v.metric == metric and v.variant == variant]
    if want is not None:
        rows = [v for v in rows if v.split == want]
    return rows[0] if rows else None


def scaled(value: float) -> float:
    """A published percent on our 0-1 scale."""
    return value / 100.0
