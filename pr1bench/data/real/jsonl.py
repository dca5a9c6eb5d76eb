"""Generic adapter (``data.source: jsonl``): bring any dataset as JSON lines with a canonical target.

One object per line (a ``.json`` list or ``.parquet`` works too):

* ``image``: path, relative to ``data.images`` unless absolute (``image_path`` also accepted);
* ``target``: the canonical target of the task type in ORIGINAL-image coordinates, e.g.
  ``{"boxes": [[x1, y1, x2, y2]], "labels": ["cat"]}``, ``{"points": [[x, y]], "count": 1,
  "label": "cat"}`` or ``{"text": "..."}``;
* ``coords``: ``absolute_pixels`` (default) or ``normalized_1000``, the unit of ``target``;
* ``fields``: the prompt placeholders (``expression``, ``label``, ``categories``); top-level
  keys of those names are accepted too. Grounding rows without ``labels`` get
  ``[fields.expression]``; counting rows get ``count`` = number of points/boxes when absent;
* optional ``id`` (kept in ``meta["source_id"]``), ``split`` and ``width``/``height``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pr1bench.data.real.records import (
    BadRow,
    Context,
    Record,
    RecordSet,
    first_key,
    image_candidates,
    map_rows,
    rows_for_split,
    split_images_dir,
)
from pr1bench.data.real.sources import register

FIELD_NAMES = ("expression", "label", "categories")
REQUIRED = {"grounding": ("boxes",), "detection": ("boxes",), "counting": (), "ocr": ("text",)}


@register("jsonl", splits=("train", "eval"), task_types=("grounding", "counting", "ocr", "detection"))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split, validated against the task type's target shape."""
    rows, files, how = rows_for_split(ctx, split)
    images = split_images_dir(ctx, split)
    entries = map_rows(rows, lambda i, row: _record(i, row, images, ctx.task_type), files[0])
    return RecordSet(entries, files, how, "canonical target in the original image's absolute pixels "
                                          "(or 0-1000 where a row says coords: normalized_1000)")


def _fields(row: dict[str, Any]) -> dict[str, str]:
    given = row.get("fields") if isinstance(row.get("fields"), dict) else {}
    out = {k: str(row[k]) for k in FIELD_NAMES if row.get(k) is not None}
    out.update({str(k): str(v) for k, v in given.items()})
    return out


def _target(row: dict[str, Any], fields: dict[str, str], task_type: str) -> dict[str, Any]:
    target = row.get("target")
    if not isinstance(target, dict):
        raise BadRow("no 'target' object", fix="give the row a target object in the task type's canonical shape")
    target = dict(target)
    missing = [k for k in REQUIRED[task_type] if k not in target]
    if missing:
        raise BadRow(f"a {task_type} target needs {missing}", fix=f"add {missing} to the row's target")
    if task_type == "counting" and not any(k in target for k in ("points", "boxes", "count")):
        raise BadRow("a counting target needs points, boxes or count")
    if task_type == "grounding" and "labels" not in target and "expression" in fields:
        target["labels"] = [fields["expression"]] * len(target["boxes"])
    if task_type == "counting" and "count" not in target:
        target["count"] = len(target.get("points") or target.get("boxes") or [])
    return target


def _record(i: int, row: dict[str, Any], images: Path, task_type: str) -> Record:
    fields = _fields(row)
    coords = str(row.get("coords") or "absolute_pixels")
    if coords not in ("absolute_pixels", "normalized_1000"):
        raise BadRow(f"unknown coords {coords!r}")
    size = (int(row["width"]), int(row["height"])) if row.get("width") and row.get("height") else None
    path = image_candidates(images, first_key(row, ("image", "image_path")))[0]
    return Record(key=f"{i:06d}", image_path=path, target=_target(row, fields, task_type), fields=fields,
                  coords=coords, size=size, meta={"source_id": row.get("id")})  # type: ignore[arg-type]
