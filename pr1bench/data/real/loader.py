"""``load_real``: records -> deterministic subset -> images opened, resized, targets converted -> samples.

Design decisions:

* **Subset.** When the split has more records than asked for, a seeded subset is drawn
  (``numpy`` generator seeded with ``derive_seed(data.seed, split)``) and kept in file order. It is
  a prefix of one fixed permutation, so the subset for ``n`` is contained in the subset for any
  larger ``n``, and the same task always yields the same samples.
* **No split in the data.** When one file without split information serves both splits, a seeded
  permutation holds out ``data.eval`` records for ``eval`` and gives the rest to ``train``, so the
  two never overlap.
* **Missing files** always raise (a configuration problem): the error counts the missing image
  paths, shows the first few and names ``data.images`` / ``data.annotations``.
* **Bad samples** (unreadable image, annotation that does not fit its image, unparseable row)
  follow ``on_bad_sample``: ``skip`` (default; training goes on with fewer samples and a logged
  count) or ``fail`` (raise on the first). A skipped sample is never replaced by another one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image

from pr1bench.data.base import Sample, derive_seed
from pr1bench.data.real.coords import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    check_boxes,
    check_points,
    resize_image,
    rounded,
    to_pixels,
    to_resized,
)
from pr1bench.data.real.records import (
    BadRecord,
    BadRow,
    BadSampleError,
    Context,
    Entry,
    Record,
    RecordSet,
)
from pr1bench.perception.complexity import n_objects
from pr1bench.spec import TaskSpec

OnBad = Literal["skip", "fail"]
ON_BAD_SAMPLE: tuple[str, ...] = ("skip", "fail")
MISSING_SHOWN = 5
log = logging.getLogger("pr1bench.data.real")


@dataclass
class LoadReport:
    """What happened while loading one split (printed by ``pr1bench data check``)."""

    task: str
    split: str
    split_name: str
    split_by: str
    files: list[str]
    convention: str
    n_records: int = 0
    n_pool: int = 0
    n_requested: int = 0
    n_selected: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    orig_sizes: list[tuple[int, int]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_loaded(self) -> int:
        return self.n_selected - len(self.bad)


def pixel_limits(task: TaskSpec) -> tuple[int, int]:
    """``(min_pixels, max_pixels)``: task keys when the spec allows them, else the module defaults."""
    x = task.data.extras()
    return int(x.get("min_pixels") or DEFAULT_MIN_PIXELS), int(x.get("max_pixels") or DEFAULT_MAX_PIXELS)


def select(pool: list[int], n: int, seed: int, split: str) -> list[int]:
    """``n`` indices of ``pool`` (all when it is smaller), seeded by ``(seed, split)``, in file order."""
    if len(pool) <= n:
        return list(pool)
    rng = np.random.default_rng(derive_seed(seed, f"real|{split}"))
    picked = rng.permutation(len(pool))[:n]
    return [pool[i] for i in sorted(picked.tolist())]


def partition(pool: list[int], ctx: Context, split: str) -> list[int]:
    """Disjoint train/eval parts of a split-less file: ``data.eval`` held out by a seeded permutation."""
    rng = np.random.default_rng(derive_seed(ctx.seed, "real|partition"))
    order = rng.permutation(len(pool)).tolist()
    held = set(order[: min(ctx.n_eval, len(pool))])
    return [p for i, p in enumerate(pool) if (i in held) == (split == "eval")]


def plan(ctx: Context, found: RecordSet, split: str, n_samples: int) -> tuple[list[Entry], LoadReport]:
    """Choose the entries of a split (bounded by ``data.max_samples``, partitioned, subset)."""
    pool = list(range(len(found.entries)))
    if ctx.max_samples:
        pool = pool[: ctx.max_samples]
    if found.split_by == "none":
        pool = partition(pool, ctx, split)
    chosen = select(pool, n_samples, ctx.seed, split)
    report = LoadReport(task=ctx.task, split=split, split_name=ctx.split_name(split), split_by=found.split_by,
                        files=found.files, convention=found.convention, n_records=len(found.entries),
                        n_pool=len(pool), n_requested=n_samples, n_selected=len(chosen))
    return [found.entries[i] for i in chosen], report


def check_missing(ctx: Context, entries: list[Entry]) -> None:
    """Raise one error listing how many image paths are missing and the first few."""
    missing = [str(e.image_path) for e in entries if isinstance(e, Record) and not e.image_path.is_file()]
    if not missing:
        return
    n_rec = sum(isinstance(e, Record) for e in entries)
    shown = "\n  ".join(missing[:MISSING_SHOWN])
    more = f"\n  ... and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    raise ctx.error("data.images", f"{len(missing)} of {n_rec} image paths are missing:\n  {shown}{more}\n"
                                   f"Fix data.images (the image directory) or data.annotations (the image names) "
                                   f"in the task YAML.")


def open_image(path: Any) -> Image.Image:
    """Decode an image fully as RGB (transparent pixels over white); :class:`BadRow` if unreadable."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                out = Image.new("RGB", rgba.size, (255, 255, 255))
                out.paste(rgba, mask=rgba.getchannel("A"))
                return out
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadRow(f"unreadable image {path}: {e}") from None


def _target_in_original(rec: Record, w: int, h: int) -> dict[str, Any]:
    """The record's target with boxes/points in validated, clipped pixels of the original image."""
    t = dict(rec.target)
    try:
        if t.get("boxes"):
            t["boxes"] = check_boxes(to_pixels(t["boxes"], w, h, rec.coords), w, h)
        if t.get("points"):
            t["points"] = check_points(to_pixels(t["points"], w, h, rec.coords), w, h)
    except ValueError as e:
        raise BadRow(str(e)) from None
    return t


def materialize(rec: Record, ctx: Context, split: str, limits: tuple[int, int]) -> Sample:
    """Open, check and resize the image; convert the target to resized-image pixels."""
    image = open_image(rec.image_path)
    if rec.size and tuple(rec.size) != image.size:
        raise BadRow(f"annotation says {rec.size[0]}x{rec.size[1]} but {rec.image_path} is "
                     f"{image.width}x{image.height}")
    original = _target_in_original(rec, image.width, image.height)
    try:
        image, info = resize_image(image, min_pixels=limits[0], max_pixels=limits[1])
    except ValueError as e:
        raise BadRow(f"{rec.image_path}: {e}") from None
    target = dict(original)
    for k in ("boxes", "points"):
        if k in target:
            target[k] = rounded(to_resized(target[k], info))
    meta = {"source": ctx.source, "split": split, "split_name": ctx.split_name(split), "key": rec.key,
            "image_path": str(rec.image_path), **info.meta(), "coords": "absolute_pixels",
            "target_original": rounded(_coords_only(original)), **rec.meta}
    return Sample(id=f"{split}-{rec.key}", image=image, width=info.width, height=info.height, target=target,
                  fields=dict(rec.fields), n=n_objects(target), meta=meta)


def _coords_only(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in ("boxes", "points") if k in target}


def iter_samples(ctx: Context, entries: list[Entry], split: str, limits: tuple[int, int], report: LoadReport,
                 on_bad_sample: OnBad) -> Iterator[Sample]:
    """Yield samples lazily, recording (``skip``) or raising (``fail``) bad ones."""
    for e in entries:
        try:
            if isinstance(e, BadRecord):
                raise BadRow(e.reason)
            s = materialize(e, ctx, split, limits)
        except BadRow as err:
            if on_bad_sample == "fail":
                raise BadSampleError(ctx.task_file or f"task {ctx.task!r}", f"{split} sample {e.key}",
                                     f"{err} (use --on-bad-sample skip / on_bad_sample='skip' to skip it)") from None
            report.bad.append((e.key, str(err)))
            continue
        report.orig_sizes.append((s.meta["orig_width"], s.meta["orig_height"]))
        report.sizes.append((s.width, s.height))
        yield s


def log_skipped(report: LoadReport) -> None:
    """One warning line per split with skipped samples (the count and the first reason)."""
    if report.bad:
        key, reason = report.bad[0]
        log.warning("task %s (%s): skipped %d of %d samples with bad data, not replaced (first: %s: %s)",
                    report.task, report.split, len(report.bad), report.n_selected, key, reason)
