"""What adapters share: records, the per-task context, errors, file readers and split resolution.

An adapter turns annotation files into :class:`Record` s (one per future sample) *without opening
images*, so listing, splitting and subsetting a 100k-image dataset costs only the JSON parse. Rows
it cannot read become :class:`BadRecord` s that keep their place in the list: the seeded subset is
drawn over all rows, so a bad row is skipped (or fails) and never replaced by another sample.

Paths in the task YAML (``data.annotations``, ``data.images``, ``data.refs``) resolve against the
current working directory; ``~`` expands. A path may contain ``{split}`` (and ``{lang}`` for PageOCR).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pr1bench.spec import ConfigError, TaskSpec

Coords = Literal["absolute_pixels", "normalized_1000", "percent"]
IMAGE_SUFFIXES = ("", ".jpg", ".jpeg", ".png", ".webp")


class RealDataError(ConfigError):
    """Real data is missing or unreadable; the message names the task key to fix."""


class BadSampleError(RealDataError):
    """A sample's image or annotation is corrupt and the policy is ``on_bad_sample="fail"``."""


class BadRow(ValueError):
    """Raised by an adapter's row parser: this row cannot become a sample.

    Attributes:
        fix: what the user can do about it (shown after the reason); ``None`` for the generic advice.
    """

    def __init__(self, reason: str, fix: str | None = None):
        super().__init__(reason)
        self.fix = fix


#: Key under which :func:`read_rows` records each row's position in its file ("line 7", "row 3").
POS_KEY = "__pr1bench_pos__"
MissingPolicy = Literal["skip", "fail"]
MISSING_POLICIES: tuple[str, ...] = ("skip", "fail")
GENERIC_FIX = "correct or remove this row, or keep on_bad_sample=skip (the default) to drop it"


class EmbeddedImage:
    """An image stored as bytes inside a Parquet file (Hugging Face ``Image`` feature), read only when needed.

    Holding 100k of these costs a few hundred bytes each; the bytes are read from the file (one row group at a
    time, the last one cached) when the image is opened.
    """

    __slots__ = ("column", "path", "row")

    def __init__(self, path: Path, column: str, row: int):
        self.path, self.column, self.row = path, column, row

    def __repr__(self) -> str:
        return f"{self.path}#{self.column}[{self.row}]"

    def read(self) -> bytes:
        """The image bytes; :class:`BadRow` when the cell holds none."""
        value = _parquet_cell(str(self.path), self.column, self.row)
        if isinstance(value, dict):
            value = value.get("bytes")
        if not isinstance(value, bytes | bytearray) or not value:
            raise BadRow(f"no image bytes in column {self.column!r}", fix="the row's embedded image is empty; "
                                                                          "re-export the file or drop the row")
        return bytes(value)


@dataclass
class Record:
    """One future sample, in annotation coordinates of the original image.

    Attributes:
        key: stable id within the split (file position or the dataset's own ids).
        image_path: where the image should be.
        target: canonical-shaped target whose coordinates are in ``coords`` of the original image.
        fields: prompt placeholders.
        coords: unit of ``target``'s boxes/points (converted once the image size is known).
        size: ``(width, height)`` the annotation claims, checked against the image when given.
        meta: JSON-serialisable provenance (dataset ids) copied into ``Sample.meta``.
    """

    key: str
    image_path: Path
    target: dict[str, Any]
    fields: dict[str, str]
    coords: Coords = "absolute_pixels"
    size: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    image_ref: EmbeddedImage | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    pos: str | None = None

    @property
    def image_source(self) -> Path | EmbeddedImage:
        """What to open: the embedded bytes when the row carries them, else the image file."""
        return self.image_ref if self.image_ref is not None else self.image_path


@dataclass
class BadRecord:
    """A row that could not be parsed; it occupies its place so subsets never shift."""

    key: str
    reason: str
    file: str | None = None
    pos: str | None = None
    fix: str | None = None


class BadEntry(NamedTuple):
    """One bad sample as reported: where it is, why it is bad and what to do about it."""

    key: str
    reason: str
    file: str | None = None
    pos: str | None = None
    fix: str | None = None

    def message(self) -> str:
        """``FILE line N (key K): REASON. Fix: FIX`` -- the one line every bad-row report prints."""
        where = f"{self.file or '<unknown file>'} {self.pos or 'row ?'} (sample {self.key})"
        return f"{where}: {self.reason}. Fix: {self.fix or GENERIC_FIX}"


Entry = Record | BadRecord


@dataclass
class RecordSet:
    """An adapter's answer for one split.

    Attributes:
        entries: records (and bad rows) in file order.
        files: the annotation files read.
        split_by: how the split was chosen: ``file`` (a file per split), ``field`` (a split column
            or the refs' split), or ``none`` (one file, no split info: the loader partitions it).
        convention: human-readable annotation coordinate convention (printed by ``data check``).
    """

    entries: list[Entry]
    files: list[str]
    split_by: Literal["file", "field", "none"]
    convention: str


@dataclass(frozen=True)
class Context:
    """A task's data settings, resolved once (paths absolute, split names chosen)."""

    task: str
    task_file: str | None
    source: str
    task_type: str
    annotations: Path | None
    images: Path | None
    refs: Path | None
    train_split: str
    eval_split: str
    lang: str | None
    max_samples: int | None
    seed: int
    n_eval: int
    missing_images: MissingPolicy = "skip"
    annotation_coords: Coords | None = None
    resize_factor: int = 28

    def split_name(self, split: str) -> str:
        """The dataset's name for our ``train``/``eval`` split."""
        return self.train_split if split == "train" else self.eval_split

    def error(self, key: str, reason: str) -> RealDataError:
        return RealDataError(self.task_file or f"task {self.task!r}", key, reason)

    def require(self, key: str) -> Path:
        """A configured path (``annotations``/``images``/``refs``), or a clear error when unset."""
        value = getattr(self, key)
        if value is None:
            raise self.error(f"data.{key}", f"required for source {self.source!r}; set it in the task YAML")
        return value


def resolve_path(value: object) -> Path | None:
    """A YAML path: ``~`` expanded, relative paths against the current working directory."""
    if value is None or value == "":
        return None
    return Path(os.path.expanduser(str(value))).absolute()


def make_context(task: TaskSpec, defaults: tuple[str, str], task_file: str | None = None) -> Context:
    """Resolve a task's data keys; ``defaults`` are the adapter's ``(train, eval)`` split names.

    ``data.split`` is an alias of ``data.eval_split`` (the shipped grounding tasks name the split they
    evaluate on); ``data.eval_split`` wins when both are set.
    """
    x = task.data.extras()
    max_samples = x.get("max_samples")
    where = task_file or f"task {task.task!r}"
    missing = str(x.get("missing_images") or "skip")
    if missing not in MISSING_POLICIES:
        raise RealDataError(where, "data.missing_images", f"must be skip or fail, got {missing!r}")
    ann_coords = x.get("annotation_coords")
    if ann_coords is not None and ann_coords not in ("absolute_pixels", "normalized_1000", "percent"):
        raise RealDataError(where, "data.annotation_coords",
                            f"must be absolute_pixels, normalized_1000 or percent, got {ann_coords!r}")
    factor = int(x.get("resize_factor") or 28)
    if factor <= 0:
        raise RealDataError(where, "data.resize_factor", f"must be a positive integer, got {factor}")
    return Context(
        task=task.task, task_file=task_file, source=task.data.source, task_type=task.type,
        annotations=resolve_path(x.get("annotations")), images=resolve_path(x.get("images")),
        refs=resolve_path(x.get("refs")),
        train_split=str(x.get("train_split") or defaults[0]),
        eval_split=str(x.get("eval_split") or x.get("split") or defaults[1]),
        lang=str(x["lang"]) if x.get("lang") else None,
        max_samples=int(max_samples) if max_samples else None,
        seed=task.data.seed, n_eval=task.data.eval,
        missing_images=missing, annotation_coords=ann_coords, resize_factor=factor,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- reading files
def read_rows(path: Path, ctx: Context, key: str = "data.annotations") -> list[dict[str, Any]]:
    """Rows of a ``.jsonl``, ``.json`` (a list, or an object holding one) or ``.parquet`` file."""
    if not path.is_file():
        raise ctx.error(key, f"file not found: {path} (relative paths resolve against {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path, ctx, key)
    if suffix == ".jsonl":
        return _read_jsonl(path, ctx, key)
    value = read_json(path, ctx, key)
    if isinstance(value, dict):
        value = next((value[k] for k in ("data", "annotations", "samples", "items") if isinstance(value.get(k), list)),
                     None)
    if not isinstance(value, list):
        raise ctx.error(key, f"{path}: expected a JSON list of samples (or an object with a 'data' list)")
    for i, row in enumerate(value):
        if isinstance(row, dict):
            row[POS_KEY] = f"row {i + 1}"
    return value


def _is_image_column(typ: Any) -> bool:
    """A Hugging Face ``Image`` column (struct with binary ``bytes``) or a plain binary column."""
    import pyarrow as pa

    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return True
    return pa.types.is_struct(typ) and any(
        typ.field(i).name == "bytes" and (pa.types.is_binary(typ.field(i).type) or pa.types.is_large_binary(
            typ.field(i).type)) for i in range(typ.num_fields))


def _read_parquet(path: Path, ctx: Context, key: str) -> list[dict[str, Any]]:
    """Rows of a Parquet file; image columns become :class:`EmbeddedImage` handles (bytes stay on disk)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        images = [f.name for f in schema if _is_image_column(f.type)]
        others = [f.name for f in schema if f.name not in images]
        rows = pq.read_table(path, columns=others).to_pylist() if others else []
        if not others:
            rows = [{} for _ in range(pq.ParquetFile(path).metadata.num_rows)]
    except Exception as e:  # noqa: BLE001 - any pyarrow failure is an unreadable file
        raise ctx.error(key, f"cannot read Parquet file {path}: {e}") from None
    for i, row in enumerate(rows):
        row[POS_KEY] = f"row {i + 1}"
        for col in images:
            row[col] = EmbeddedImage(path, col, i)
    return rows


@functools.lru_cache(maxsize=2)
def _row_group_column(path: str, column: str, group: int) -> list[Any]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=[column]).column(0).to_pylist()


@functools.lru_cache(maxsize=64)
def _row_group_starts(path: str) -> list[int]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    starts, n = [], 0
    for g in range(meta.num_row_groups):
        starts.append(n)
        n += meta.row_group(g).num_rows
    return starts


def _parquet_cell(path: str, column: str, row: int) -> Any:
    """One cell, reading only its row group (so a 100k-image file is never read whole)."""
    starts = _row_group_starts(path)
    group = max(i for i, s in enumerate(starts) if s <= row)
    try:
        return _row_group_column(path, column, group)[row - starts[group]]
    except (OSError, IndexError) as e:
        raise BadRow(f"cannot read the embedded image at row {row + 1} of {path}: {e}") from None


def read_json(path: Path, ctx: Context, key: str) -> Any:
    if not path.is_file():
        raise ctx.error(key, f"file not found: {path} (relative paths resolve against {Path.cwd()})")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ctx.error(key, f"{path} is not valid JSON: {e}") from None


def _read_jsonl(path: Path, ctx: Context, key: str) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ctx.error(key, f"{path} line {i} is not valid JSON: {e}") from None
            if isinstance(row, dict):
                row[POS_KEY] = f"line {i}"
            rows.append(row)
    return rows


# ---------------------------------------------------------------- splits
def fill(path: Path, **values: str) -> Path:
    """Replace ``{name}`` placeholders (only those given) in a configured path."""
    text = str(path)
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return Path(text)


def split_path(path: Path, base_split: str, split: str, **extra: str) -> Path:
    """The path for ``split``: fill ``{split}`` (and ``extra``), else swap the base split's name.

    The swap only replaces ``base_split`` as a whole token of the file name (delimited by
    non-alphanumerics): ``instances_train2017.json`` -> ``instances_val2017.json`` and
    ``train.parquet`` -> ``validation.parquet``, but ``train2014/`` stays as it is for split ``train``
    (RefCOCO's images all live in COCO's train2014).
    """
    path = fill(path, **extra)
    if "{split}" in str(path):
        return fill(path, split=split)
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(base_split)}(?![A-Za-z0-9])")
    return path.with_name(pattern.sub(split, path.name)) if base_split != split else path


def split_images_dir(ctx: Context, split: str) -> Path:
    """``data.images`` for a split: swapped like :func:`split_path` when that directory exists."""
    base = ctx.require("images")
    candidate = split_path(base, ctx.train_split, ctx.split_name(split))
    return candidate if "{split}" in str(base) or candidate.exists() else base


def rows_for_split(ctx: Context, split: str, **extra: str) -> tuple[list[dict[str, Any]], list[str], str]:
    """Rows of one split of a tabular annotation file, and how the split was chosen.

    Order of preference: a file per split (``{split}`` placeholder, or the name swap when the eval
    file exists), a ``split`` field in the rows, and otherwise the whole file (``none``: the loader
    partitions it into disjoint train and eval parts).
    """
    base = fill(ctx.require("annotations"), **extra)
    name = ctx.split_name(split)
    path = split_path(base, ctx.train_split, name)
    if "{split}" in str(base):
        if not path.is_file():
            raise ctx.error("data.annotations", f"file not found for split {name!r}: {path}")
        return read_rows(path, ctx), [str(path)], "file"
    eval_path = split_path(base, ctx.train_split, ctx.eval_split)
    if eval_path != base and eval_path.is_file():
        return read_rows(path, ctx), [str(path)], "file"
    rows = read_rows(base, ctx)
    if any(isinstance(r, dict) and "split" in r for r in rows):
        chosen = [r for r in rows if isinstance(r, dict) and str(r.get("split")) == name]
        if not chosen:
            found = sorted({str(r.get("split")) for r in rows if isinstance(r, dict)})
            raise ctx.error(_split_key(split), f"no rows with split {name!r} in {base}; splits there: {found}")
        return chosen, [str(base)], "field"
    if eval_path == base:
        return rows, [str(base)], "none"
    if split == "train":
        return rows, [str(base)], "file"
    raise ctx.error(_split_key(split), f"no annotations for split {name!r}: neither {eval_path} exists nor do "
                                       f"the rows of {base} carry a 'split' field")


def _split_key(split: str) -> str:
    return "data.train_split" if split == "train" else "data.eval_split"


# ---------------------------------------------------------------- row helpers
def first_key(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present (and not None) in ``row``."""
    for k in keys:
        if row.get(k) is not None:
            return row[k]
    return None


def image_candidates(images: Path, name: object, extra_dirs: tuple[str, ...] = ()) -> list[Path]:
    """Where an image named ``name`` may be: absolute as is, else under ``images`` (or its sub-dirs)."""
    if isinstance(name, list) and name:
        name = name[0]
    if not isinstance(name, str) or not name.strip():
        raise BadRow("no image path", fix="give the row the image's file name (relative to data.images) or path")
    name = name.removeprefix("file://")
    p = Path(os.path.expanduser(name))
    if p.is_absolute():
        return [p]
    return [images / p, *(images / d / p for d in extra_dirs)]


def pick_existing(candidates: list[Path]) -> Path:
    """The first existing candidate, else the first (reported as missing later)."""
    return next((c for c in candidates if c.exists()), candidates[0])


def map_rows(rows: list[Any], parse: Any, file: str | None = None) -> list[Entry]:
    """Apply a row parser ``parse(index, row) -> Record``; rows it rejects become :class:`BadRecord`.

    Every entry is stamped with ``file`` and the row's position in it, so a bad-row message can say where.
    """
    out: list[Entry] = []
    for i, row in enumerate(rows):
        pos = row.get(POS_KEY) if isinstance(row, dict) else None
        pos = pos or f"row {i + 1}"
        try:
            if not isinstance(row, dict):
                raise BadRow(f"row is a {type(row).__name__}, not an object", fix="each row must be a JSON object")
            rec = parse(i, row)
            rec.file, rec.pos = rec.file or file, rec.pos or pos
            out.append(rec)
        except BadRow as e:
            out.append(BadRecord(f"{i:06d}", str(e), file, pos, e.fix))
    return out


def as_float_list(value: Any, n: int, what: str) -> list[float]:
    """``n`` floats from a list (or a one-element list of lists, or a string of numbers)."""
    if isinstance(value, str):
        value = [float(m) for m in re.findall(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", value)]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list | tuple):
        value = value[0]
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise BadRow(f"{what} is not a list of numbers: {value!r}") from None
    if len(out) != n:
        raise BadRow(f"{what} needs {n} numbers, got {len(out)}: {value!r}")
    return out
