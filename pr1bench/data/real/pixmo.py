"""PixMo-Count (``data.source: pixmo_count``): the hub's Parquet files, or Perception-R1's counting JSONL.

**As published** (``allenai/pixmo-count`` dataset card: features ``image_url``, ``image_sha256``,
``count``, ``points`` (a sequence of ``{x, y}`` floats), ``label``; splits ``train``, ``validation``,
``test``, files ``data/<split>-*.parquet``):

* ``points`` are in **pixels** of the original image ("The points field contains the x, y coordinates
  specified in pixels. Missing for the eval sets.", the card's Data Format section). In Parquet a
  ``Sequence({x, y})`` feature is stored as ONE struct of two lists, ``{"x": [...], "y": [...]}``; a JSON
  export gives a list of ``{"x", "y"}`` objects; ``[[x, y], ...]`` pairs are read too. Rows without
  points (the eval splits) are scored by ``count`` alone.
* the dataset ships URLs, not images. Molmo's downloader saves each image under the hex sha256 **of its
  URL**, with no extension, so an image is looked for in ``data.images`` as ``sha256(image_url)`` (with
  or without ``.jpg``/``.jpeg``/``.png``/``.webp``), then as ``<image_sha256>`` (the image-content hash
  that some mirrors use as the file name). Real downloads always have dead URLs: with the default
  ``data.missing_images: skip`` the missing ones are dropped, counted and listed (``fail`` to refuse).
* a split is a file: ``data.annotations`` names the train file (``train.parquet`` or
  ``data/train-00000-of-00001.parquet``) and the eval file is found by swapping the split name.

**Perception-R1's counting JSONL** (its ``eval/evaluate_counting.py`` reads
``pixmo_count_{test,validation}540_counting_problems_label.jsonl``): ``image_path`` (relative to
``data.images``), ``question`` (the object noun) and ``ground_truth`` (the count); no points.

Other accepted keys: image ``image`` | ``file_name`` | ``path``; label ``object`` | ``category``.
When both a count and points are given they must agree (else a bad sample). ``data.annotation_coords``
overrides the point convention (``percent`` for copies converted to 0-100, ``normalized_1000``).
The target has ``points`` (pixels of the resized image), ``boxes: []``, ``count`` and ``label``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pr1bench.data.real.records import (
    IMAGE_SUFFIXES,
    BadRow,
    Context,
    Record,
    RecordSet,
    first_key,
    image_candidates,
    map_rows,
    pick_existing,
    rows_for_split,
    split_images_dir,
)
from pr1bench.data.real.sources import register

IMAGE_KEYS = ("image_path", "image", "file_name", "path")
LABEL_KEYS = ("label", "question", "object", "category")
COUNT_KEYS = ("count", "ground_truth")


@register("pixmo_count", splits=("train", "validation"), task_types=("counting",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split (a file per split, a ``split`` column, or one partitioned file)."""
    rows, files, how = rows_for_split(ctx, split)
    images = split_images_dir(ctx, split)
    coords = ctx.annotation_coords or "absolute_pixels"
    entries = map_rows(rows, lambda i, row: _record(i, row, images, coords), files[0])
    return RecordSet(entries, files, how, f"points x,y in {coords} of the original image (PixMo-Count: pixels; "
                                          "none in the eval splits), converted to resized-image pixels")


def url_name(url: str) -> str:
    """The file name Molmo's downloader gives the image at ``url``: the hex sha256 of the URL string."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def _image_path(row: dict[str, Any], images: Path) -> Path:
    name = first_key(row, IMAGE_KEYS)
    if isinstance(name, str) and name.strip():
        return image_candidates(images, name)[0]
    stems = []
    if isinstance(row.get("image_url"), str) and row["image_url"]:
        stems.append(url_name(row["image_url"]))
    if isinstance(row.get("image_sha256"), str) and row["image_sha256"]:
        stems.append(row["image_sha256"])
    if not stems:
        raise BadRow(f"no image (keys tried: {', '.join(IMAGE_KEYS)}, image_url, image_sha256)",
                     fix="give the row image_url (the image saved as sha256(url) in data.images) or image_path")
    return pick_existing([images / f"{stem}{ext}" for stem in stems for ext in IMAGE_SUFFIXES])


def points_of(value: Any) -> list[list[float]]:
    """Points from any published shape: struct of lists, list of ``{x, y}``, or ``[x, y]`` pairs."""
    if value is None:
        return []
    if hasattr(value, "tolist") and not isinstance(value, dict):  # numpy arrays from pandas
        value = value.tolist()
    if isinstance(value, dict):
        xs, ys = value.get("x"), value.get("y")
        xs = xs.tolist() if hasattr(xs, "tolist") else xs
        ys = ys.tolist() if hasattr(ys, "tolist") else ys
        if xs is None and ys is None:
            return []
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise BadRow(f"points struct needs lists x and y of equal length, got {value!r}"[:300],
                         fix="points must be {'x': [...], 'y': [...]} or a list of {'x', 'y'}")
        value = [[x, y] for x, y in zip(xs, ys, strict=True)]
    if not isinstance(value, list):
        raise BadRow(f"points is a {type(value).__name__}, not a list",
                     fix="points must be {'x': [...], 'y': [...]} or a list of {'x', 'y'}")
    out = []
    for p in value:
        try:
            out.append([float(p["x"]), float(p["y"])] if isinstance(p, dict) else [float(p[0]), float(p[1])])
        except (KeyError, IndexError, TypeError, ValueError):
            raise BadRow(f"unreadable point {p!r}"[:300], fix="each point needs numeric x and y") from None
    return out


def _record(i: int, row: dict[str, Any], images: Path, coords: str) -> Record:
    label = first_key(row, LABEL_KEYS)
    if not isinstance(label, str) or not label.strip():
        raise BadRow(f"no label (keys tried: {', '.join(LABEL_KEYS)})", fix="give the row the object noun in label")
    points, count = points_of(row.get("points")), first_key(row, COUNT_KEYS)
    try:
        count = int(count) if count is not None else len(points)
    except (TypeError, ValueError):
        raise BadRow(f"count is not an integer: {count!r}", fix="count must be a whole number") from None
    if points and count != len(points):
        raise BadRow(f"count {count} != {len(points)} points", fix="make count equal the number of points")
    label = label.strip()
    target = {"boxes": [], "points": points, "count": count, "label": label}
    return Record(key=f"{i:06d}", image_path=_image_path(row, images), target=target, fields={"label": label},
                  coords=coords,  # type: ignore[arg-type]
                  meta={"image_sha256": row.get("image_sha256"), "image_url": row.get("image_url")})
