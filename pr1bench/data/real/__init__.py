"""Adapters for the paper's real datasets: RefCOCO/+/g, PixMo-Count, PageOCR, COCO 2017, generic JSONL.

``load_real(task, split, n_samples)`` returns :class:`~pr1bench.data.Sample` s exactly like the
synthetic generators do, so every consumer (SFT, GRPO, evaluation) treats both the same:

* ``image`` is a :class:`~pr1bench.data.real.lazy.LazyImage`: decoded on access, already resized by the
  Qwen2-VL rule (sides multiples of ``data.resize_factor``, 28 by default, 32 for Qwen3-VL; area within
  ``data.min_pixels``..``data.max_pixels``, by default ``[56*56, 1280*28*28]``, about 1e6 as in the
  paper; the model family sets these from the model's processor), so the processor does not resize it again;
* ``target`` is canonical, in absolute pixels of that resized image;
* ``meta`` holds the original path and size and the scale factors: :func:`to_original` maps a
  prediction (resized pixels, or raw 0-1000) back to the original image, :func:`to_resized` the
  other way.

Task keys (``data:``): ``source``, ``annotations``, ``images``, ``refs``, ``split`` (alias of
``eval_split``), ``train_split``, ``eval_split``, ``lang``, ``max_samples`` (cap on the records read,
in file order, before subsetting), ``missing_images`` (``skip``/``fail``), ``annotation_coords``
(force the annotation convention), ``min_pixels``/``max_pixels``/``resize_factor``,
``train``/``eval`` (sample counts) and ``seed``. See each adapter
module for its file format and the loader module for subsetting and the bad-sample policy.
"""

from __future__ import annotations

from pr1bench.data.base import Sample
from pr1bench.data.real import coco, jsonl, pageocr, pixmo, refcoco  # noqa: F401  (registers adapters)
from pr1bench.data.real.coco import COCO_CATEGORIES
from pr1bench.data.real.coords import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    RESIZE_FACTOR,
    ResizeInfo,
    smart_resize,
    to_original,
    to_resized,
)
from pr1bench.data.real.lazy import ImageLoadError, LazyImage
from pr1bench.data.real.loader import (
    ON_BAD_SAMPLE,
    LoadReport,
    OnBad,
    check_missing,
    iter_samples,
    log_skipped,
    pixel_limits,
    plan,
)
from pr1bench.data.real.records import BadEntry, BadSampleError, Context, RealDataError, make_context
from pr1bench.data.real.sources import ADAPTERS, Adapter
from pr1bench.spec import TaskSpec


def context(task: TaskSpec, task_file: str | None = None) -> tuple[Adapter, Context]:
    """The task's adapter and resolved data settings (errors name the key to fix)."""
    adapter = ADAPTERS.get(task.data.source)
    ctx = make_context(task, adapter.splits, task_file)
    if task.type not in adapter.task_types:
        raise ctx.error("type", f"source {adapter.name!r} feeds {', '.join(adapter.task_types)} tasks, "
                                f"not {task.type!r}")
    return adapter, ctx


def load_real_report(task: TaskSpec, split: str, n_samples: int, *, on_bad_sample: OnBad = "skip",
                     task_file: str | None = None, decode_images: bool = False) -> tuple[list[Sample], LoadReport]:
    """:func:`load_real` plus the :class:`LoadReport` (counts, files, bad and missing samples) ``data check`` prints.

    ``decode_images`` decodes every image once (``data check`` does, to find truncated files); the samples
    still hold lazy images either way.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    if on_bad_sample not in ON_BAD_SAMPLE:
        raise ValueError(f"on_bad_sample must be one of {ON_BAD_SAMPLE}, got {on_bad_sample!r}")
    adapter, ctx = context(task, task_file)
    entries, report = plan(ctx, adapter.read(ctx, split), split, n_samples)
    report.missing_policy = ctx.missing_images
    entries = check_missing(ctx, entries, report)
    samples = list(iter_samples(ctx, entries, split, pixel_limits(task), report, on_bad_sample,
                                decode_images=decode_images))
    return samples, report


def load_real(task: TaskSpec, split: str, n_samples: int, *, on_bad_sample: OnBad = "skip",
              task_file: str | None = None) -> list[Sample]:
    """Samples of a real-data task's ``split`` (``train``/``eval``), deterministic for the task's seed.

    Args:
        task: a task whose ``data.source`` is a real source (``refcoco``, ``pixmo_count``,
            ``pageocr``, ``coco``, ``jsonl``).
        split: ``train`` or ``eval``; the dataset split it reads comes from ``data.train_split`` /
            ``data.eval_split`` (alias ``data.split``) or the adapter's defaults.
        n_samples: how many samples; a seeded subset when the split is larger, all of it otherwise.
        on_bad_sample: ``skip`` (default: a corrupt image or annotation is dropped, counted and
            logged, never replaced) or ``fail`` (raise :class:`BadSampleError`).
        task_file: the task's YAML path, only to name it in error messages.

    Raises:
        RealDataError: missing annotation files or image paths (with how many and the first
            few), unknown splits, keys that do not fit the source.
        BadSampleError: a bad sample under ``on_bad_sample="fail"``.
    """
    samples, report = load_real_report(task, split, n_samples, on_bad_sample=on_bad_sample, task_file=task_file)
    log_skipped(report)
    return samples


__all__ = [
    "ADAPTERS",
    "COCO_CATEGORIES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_PIXELS",
    "ON_BAD_SAMPLE",
    "RESIZE_FACTOR",
    "Adapter",
    "BadEntry",
    "BadSampleError",
    "ImageLoadError",
    "LazyImage",
    "LoadReport",
    "RealDataError",
    "ResizeInfo",
    "check_missing",
    "context",
    "load_real",
    "load_real_report",
    "smart_resize",
    "to_original",
    "to_resized",
]
