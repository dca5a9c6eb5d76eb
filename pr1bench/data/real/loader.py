"""``load_real``: records -> deterministic subset -> images opened, resized, targets converted -> samples.

Design decisions:

* **Subset.** When the split has more records than asked for, a seeded subset is drawn
  (``numpy`` generator seeded with ``derive_seed(data.seed, split)``) and kept in file order. It is
  a prefix of one fixed permutation, so the subset for ``n`` is contained in the subset for any
  larger ``n``, and the same task always yields the same samples.
* **No split in the data.** When one file without split information serves both splits, a seeded
  permutation holds out ``data.eval`` records for ``eval`` and gives the rest to ``train``, so the
  two never overlap.
* **Missing annotation files** always raise (a configuration problem).
* **Missing images** follow ``data.missing_images``: ``skip`` (default; real downloads of PixMo-Count
  always have dead URLs) drops them, counts them and lists the first few in the report and the log;
  ``fail`` raises one error counting them and naming ``data.images``. When *every* selected image is
  missing, both raise: that is a wrong ``data.images``, not dead URLs.
* **Lazy images.** Records become samples whose ``image`` is a :class:`~pr1bench.data.real.lazy.LazyImage`:
  the header gives the size (validated against the annotation, used for the resize and the target), the
  pixels are decoded only when a consumer reads the row's image (see ``lazy``). ``decode=True`` (what
  ``pr1bench data check`` uses) decodes each image once to find truncated files, and keeps nothing.
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

from pr1bench.data.base import Sample, derive_seed
from pr1bench.data.real.coords import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    ResizeInfo,
    check_boxes,
    check_points,
    rounded,
    smart_resize,
    to_pixels,
    to_resized,
)
from pr1bench.data.real.lazy import LazyImage, decode, image_size
from pr1bench.data.real.records import (
    BadEntry,
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
    bad: list[BadEntry] = field(default_factory=list)
    missing: list[BadEntry] = field(default_factory=list)
    missing_policy: str = "skip"
    orig_sizes: list[tuple[int, int]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_loaded(self) -> int:
        return self.n_selected - len(self.bad) - len(self.missing)


def pixel_limits(task: TaskSpec) -> tuple[int, int]:
    """``(min_pixels, max_pixels)``: task keys when the spec allows them, else the module defaults."""
    x = task.data.extras()
    return int(x.get("min_pixels") or DEFAULT_MIN_PIXELS), int(x.get("max_pixels") or DEFAULT_MAX_PIXELS)


def _entry(e: Entry, reason: str, fix: str | None) -> BadEntry:
    return BadEntry(e.key, reason, e.file, e.pos, fix)


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


MISSING_FIX = ("download the image into data.images, or leave data.missing_images=skip (the default) to drop "
               "the sample")


def check_missing(ctx: Context, entries: list[Entry], report: LoadReport | None = None) -> list[Entry]:
    """Apply ``data.missing_images`` to the records whose image file does not exist; return the rest.

    ``skip`` records each missing image in ``report.missing`` and drops it; ``fail`` (and ``skip`` when every
    image is missing, i.e. a wrong ``data.images``) raises one error with the count and the first few paths.
    """
    gone = [e for e in entries if isinstance(e, Record) and e.image_ref is None and not e.image_path.is_file()]
    if not gone:
        return entries
    n_rec = sum(isinstance(e, Record) for e in entries)
    if ctx.missing_images == "skip" and len(gone) < n_rec:
        if report is not None:
            report.missing.extend(_entry(e, f"image not found: {e.image_path}", MISSING_FIX) for e in gone)
        ids = {id(e) for e in gone}
        return [e for e in entries if id(e) not in ids]
    shown = "\n  ".join(str(e.image_path) for e in gone[:MISSING_SHOWN])
    more = f"\n  ... and {len(gone) - MISSING_SHOWN} more" if len(gone) > MISSING_SHOWN else ""
    why = ("every selected image is missing, so data.images (or the image names) is probably wrong"
           if len(gone) == n_rec else "data.missing_images is fail")
    raise ctx.error("data.images", f"{len(gone)} of {n_rec} image paths are missing ({why}):\n  {shown}{more}\n"
                                   f"Fix data.images (the image directory) or data.annotations (the image names) "
                                   f"in the task YAML, or set data.missing_images=skip to train without them.")


COORDS_FIX = ("check the annotation's coordinate convention (data.annotation_coords: absolute_pixels, "
              "normalized_1000 or percent) and that the row names the right image")


def _target_in_original(rec: Record, w: int, h: int) -> dict[str, Any]:
    """The record's target with boxes/points in validated, clipped pixels of the original image."""
    t = dict(rec.target)
    try:
        if t.get("boxes"):
            t["boxes"] = check_boxes(to_pixels(t["boxes"], w, h, rec.coords), w, h)
        if t.get("points"):
            t["points"] = check_points(to_pixels(t["points"], w, h, rec.coords), w, h)
    except ValueError as e:
        raise BadRow(f"{e} (annotation read as {rec.coords})", fix=COORDS_FIX) from None
    if "normalized_boxes" in rec.checks and t.get("boxes"):
        cross_check(t["boxes"], rec.checks["normalized_boxes"], w, h)
    return t


def cross_check(pixel_boxes: list[list[float]], normalized: list[list[float]], w: int, h: int) -> None:
    """Refuse a row whose pixel box and 0-1000 box disagree by more than rounding can explain.

    Tolerance: 2 px or 1% of the longer side, whichever is larger (0-1000 values are integers, so they carry
    up to ``side / 2000`` px of rounding; annotation tools add about a pixel).
    """
    conv = to_pixels(normalized, w, h, "normalized_1000")
    tol = max(2.0, 0.01 * max(w, h))
    diff = float(np.max(np.abs(np.asarray(conv, dtype=float) - np.asarray(pixel_boxes, dtype=float))))
    if diff > tol:
        raise BadRow(f"solution {_nums(pixel_boxes[0])} (pixels) and normalized_solution {_nums(normalized[0])} "
                     f"(0-1000, = {_nums(conv[0])} px on the {w}x{h} image) disagree by {diff:.1f} px "
                     f"(> {tol:.1f})",
                     fix="correct one of the two fields, or set data.annotation_coords=absolute_pixels "
                         "(read solution only) or normalized_1000 (read normalized_solution only)")


def _nums(values: Any) -> str:
    """``[6, 8, 79.5, 109]``: whole numbers without a trailing .0, others to one decimal."""
    return "[" + ", ".join(str(int(v)) if float(v).is_integer() else f"{float(v):.1f}" for v in values) + "]"


def materialize(rec: Record, ctx: Context, split: str, limits: tuple[int, int], *, decode_image: bool = False
                ) -> Sample:
    """Read the image's size (header only), check the target, plan the resize; the pixels stay on disk.

    ``decode_image`` decodes the image once (and drops it) so a truncated file is found now, not mid-run.
    """
    source = rec.image_source
    size = image_size(source)
    if decode_image:
        size = decode(source).size
    if rec.size and tuple(rec.size) != size:
        raise BadRow(f"annotation says {rec.size[0]}x{rec.size[1]} but {source} is {size[0]}x{size[1]}",
                     fix="fix the row's width/height or the image file (was a different image downloaded?)")
    original = _target_in_original(rec, *size)
    try:
        w, h = smart_resize(*size, factor=ctx.resize_factor, min_pixels=limits[0], max_pixels=limits[1])
    except ValueError as e:
        raise BadRow(f"{source}: {e}", fix="remove the row: the model cannot take this image") from None
    info = ResizeInfo(size[0], size[1], w, h)
    target = dict(original)
    for k in ("boxes", "points"):
        if k in target:
            target[k] = rounded(to_resized(target[k], info))
    meta = {"source": ctx.source, "split": split, "split_name": ctx.split_name(split), "key": rec.key,
            "image_path": str(source), "annotation_file": rec.file, "annotation_row": rec.pos, **info.meta(),
            "coords": "absolute_pixels", "target_original": rounded(_coords_only(original)), **rec.meta}
    return Sample(id=f"{split}-{rec.key}", image=LazyImage(source, (w, h), size), width=w, height=h,
                  target=target, fields=dict(rec.fields), n=n_objects(target), meta=meta)


def _coords_only(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in ("boxes", "points") if k in target}


def iter_samples(ctx: Context, entries: list[Entry], split: str, limits: tuple[int, int], report: LoadReport,
                 on_bad_sample: OnBad, *, decode_images: bool = False) -> Iterator[Sample]:
    """Yield samples lazily, recording (``skip``) or raising (``fail``) bad ones."""
    for e in entries:
        try:
            if isinstance(e, BadRecord):
                raise BadRow(e.reason, e.fix)
            s = materialize(e, ctx, split, limits, decode_image=decode_images)
        except BadRow as err:
            bad = _entry(e, str(err), err.fix)
            if on_bad_sample == "fail":
                raise BadSampleError(ctx.task_file or f"task {ctx.task!r}", f"{split} sample {e.key}",
                                     f"{bad.message()} (or use --on-bad-sample skip / on_bad_sample='skip' "
                                     f"to skip it)") from None
            report.bad.append(bad)
            continue
        report.orig_sizes.append((s.meta["orig_width"], s.meta["orig_height"]))
        report.sizes.append((s.width, s.height))
        yield s


def log_skipped(report: LoadReport) -> None:
    """One warning line per split with skipped samples (the count and the first reason), one for missing images."""
    if report.bad:
        log.warning("task %s (%s): skipped %d of %d samples with bad data, not replaced (first: %s)",
                    report.task, report.split, len(report.bad), report.n_selected, report.bad[0].message())
    if report.missing:
        log.warning("task %s (%s): %d of %d images are missing and were skipped (data.missing_images=skip; "
                    "first: %s)", report.task, report.split, len(report.missing), report.n_selected,
                    report.missing[0].reason)
