"""``pr1bench data check``: load a task's splits as training would, and summarise what was found.

The summary answers the questions one has before spending GPU hours on a dataset: are the files
where the task says, how many samples each split really yields, how many were bad, which
coordinate conventions apply, how images were resized, and how hard the task is in the paper's
perceptual-complexity terms (Table 9: mean n!, plus mean log n! and median n!, which the heavy
tail of n! makes more telling).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pr1bench.data.base import Sample
from pr1bench.perception import task_complexity
from pr1bench.spec import TaskSpec

#: Table 9 columns: (key in the complexity dict, header).
COMPLEXITY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n_samples", "samples"),
    ("mean_n", "mean n"),
    ("mean_n_factorial", "mean n!"),
    ("mean_log_n_factorial", "mean log n!"),
    ("median_n_factorial", "median n!"),
)


def _sizes(sizes: list[tuple[int, int]]) -> dict[str, Any] | None:
    if not sizes:
        return None
    arr = np.asarray(sizes)
    px = arr[:, 0] * arr[:, 1]
    return {"min": [int(v) for v in arr[px.argmin()]], "max": [int(v) for v in arr[px.argmax()]],
            "mean_pixels": float(px.mean())}


def complexity(samples: list[Sample]) -> dict[str, float]:
    """Perceptual-complexity statistics over the loaded samples' object counts."""
    return task_complexity([int(s.n) for s in samples])


def _split_summary(samples: list[Sample], report: Any) -> dict[str, Any]:
    return {
        "dataset_split": report.split_name, "split_by": report.split_by, "files": report.files,
        "records": report.n_records, "available": report.n_pool, "requested": report.n_requested,
        "selected": report.n_selected, "loaded": len(samples), "bad": len(report.bad),
        "bad_samples": [_bad(b) for b in report.bad[:20]],
        "missing_images": len(report.missing), "missing_policy": report.missing_policy,
        "missing_samples": [_bad(b) for b in report.missing[:20]],
        "original_size": _sizes(report.orig_sizes), "resized_size": _sizes(report.sizes),
        "complexity": complexity(samples),
    }


def _bad(b: Any) -> dict[str, Any]:
    return {"key": b.key, "file": b.file, "row": b.pos, "reason": b.reason, "fix": b.fix, "message": b.message()}


def _synthetic_summary(task: TaskSpec, split: str, n: int) -> dict[str, Any]:
    from pr1bench.data import generate

    samples = generate(task.data.generator or "", task.data.extras(), split=split, n_samples=n, seed=task.data.seed)
    return {"dataset_split": split, "split_by": "generator", "files": [], "records": n, "available": n,
            "requested": n, "selected": n, "loaded": n, "bad": 0, "bad_samples": [], "missing_images": 0,
            "missing_policy": None, "missing_samples": [],
            "original_size": None, "resized_size": _sizes([(s.width, s.height) for s in samples]),
            "complexity": complexity(samples)}


def check_task(task: TaskSpec, *, task_file: str | None = None, splits: tuple[str, ...] = ("train", "eval"),
               on_bad_sample: str = "skip", limit: int | None = None,
               family: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load ``splits`` of ``task`` (``data.train`` / ``data.eval`` samples, at most ``limit``) and summarise.

    Every image is decoded once (and dropped), so truncated files show up here rather than mid-run. Missing
    images under ``data.missing_images=skip`` are counted and listed but do not make the check fail (real
    PixMo downloads always have dead URLs); bad samples do.

    Raises:
        RealDataError: missing files or paths; BadSampleError: a bad sample under ``fail``.
    """
    from pr1bench.data.real import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, load_real_report, pixel_limits

    out: dict[str, Any] = {
        "task": task.task, "type": task.type, "source": task.data.source,
        "answer": {"format": task.answer.format, "coords": task.answer.coords},
        "annotation_coords": None, "splits": {},
    }
    for split in splits:
        n = task.data.train if split == "train" else task.data.eval
        n = min(n, limit) if limit else n
        if task.data.source == "synthetic":
            out["splits"][split] = _synthetic_summary(task, split, n)
            out["annotation_coords"] = "synthetic: generated in absolute pixels of the image"
            continue
        samples, report = load_real_report(task, split, n, on_bad_sample=on_bad_sample,  # type: ignore[arg-type]
                                           task_file=task_file, decode_images=True)
        out["splits"][split] = _split_summary(samples, report)
        out["annotation_coords"] = report.convention
    if task.data.source != "synthetic":
        lo, hi = pixel_limits(task)
        factor = int(task.data.extras().get("resize_factor") or 28)
        out["resize"] = {"rule": f"qwen2-vl smart resize (sides multiples of {factor})", "min_pixels": lo,
                         "max_pixels": hi, "factor": factor, "defaults": [DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS]}
    if family is not None:
        out["model_family"] = family
    out["ok"] = all(s["bad"] == 0 and (s["loaded"] > 0 or s["requested"] == 0) for s in out["splits"].values())
    return out
