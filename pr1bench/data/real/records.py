"""What adapters share: records, the per-task context, errors, file readers and split resolution.

An adapter turns annotation files into :class:`Record` s (one per future sample) *without opening
images*, so listing, splitting and subsetting a 100k-image dataset costs only the JSON parse. Rows
it cannot read become :class:`BadRecord` s that keep their place in the list: the seeded subset is
drawn over all rows, so a bad row is skipped (or fails) and never replaced by another sample.

Paths in the task YAML (``data.annotations``, ``data.images``, ``data.refs``) resolve against the
current working directory; ``~`` expands. A path may contain ``{split}`` (and ``{lang}`` for PageOCR).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pr1bench.spec import ConfigError, TaskSpec

Coords = Literal["absolute_pixels", "normalized_1000", "percent"]
IMAGE_SUFFIXES = ("", ".jpg", ".jpeg", ".png", ".webp")


class RealDataError(ConfigError):
    """Real data is missing or unreadable; the message names the task key to fix."""


class BadSampleError(RealDataError):
    """A sample's image or annotation is corrupt and the policy is ``on_bad_sample="fail"``."""


class BadRow(ValueError):
    """Raised by an adapter's row parser: this row cannot become a sample (reason in the message)."""


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


@dataclass
class BadRecord:
    """A row that could not be parsed; it occupies its place so subsets never shift."""

    key: str
    reason: str


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
    return Context(
        task=task.task, task_file=task_file, source=task.data.source, task_type=task.type,
        annotations=resolve_path(x.get("annotations")), images=resolve_path(x.get("images")),
        refs=resolve_path(x.get("refs")),
        train_split=str(x.get("train_split") or defaults[0]),
        eval_split=str(x.get("eval_split") or x.get("split") or defaults[1]),
        lang=str(x["lang"]) if x.get("lang") else None,
        max_samples=int(max_samples) if max_samples else None,
        seed=task.data.seed, n_eval=task.data.eval,
    )


# ---------------------------------------------------------------- reading files
def read_rows(path: Path, ctx: Context, key: str = "data.annotations") -> list[dict[str, Any]]:
    """Rows of a ``.jsonl``, ``.json`` (a list, or an object holding one) or ``.parquet`` file."""
    if not path.is_file():
        raise ctx.error(key, f"file not found: {path} (relative paths resolve against {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # noqa: BLE001 - any pyarrow failure is an unreadable file
            raise ctx.error(key, f"cannot read Parquet file {path}: {e}") from None
    if suffix == ".jsonl":
        return _read_jsonl(path, ctx, key)
    value = read_json(path, ctx, key)
    if isinstance(value, dict):
        value = next((value[k] for k in ("data", "annotations", "samples", "items") if isinstance(value.get(k), list)),
                     None)
    if not isinstance(value, list):
        raise ctx.error(key, f"{path}: expected a JSON list of samples (or an object with a 'data' list)")
    return value


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
                rows.append(json.loads(line))
            except ValueError as e:
                raise ctx.error(key, f"{path} line {i} is not valid JSON: {e}") from None
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
        raise BadRow("no image path")
    name = name.removeprefix("file://")
    p = Path(os.path.expanduser(name))
    if p.is_absolute():
        return [p]
    return [images / p, *(images / d / p for d in extra_dirs)]


def pick_existing(candidates: list[Path]) -> Path:
    """The first existing candidate, else the first (reported as missing later)."""
    return next((c for c in candidates if c.exists()), candidates[0])


def map_rows(rows: list[Any], parse: Any) -> list[Entry]:
    """Apply a row parser ``parse(index, row) -> Record``; rows it rejects become :class:`BadRecord`."""
    out: list[Entry] = []
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise BadRow(f"row is a {type(row).__name__}, not an object")
            out.append(parse(i, row))
        except BadRow as e:
            out.append(BadRecord(f"{i:06d}", str(e)))
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
