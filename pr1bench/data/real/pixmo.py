"""PixMo-Count (``data.source: pixmo_count``): Parquet or JSON(L) with local image paths.

Assumed format (the ``allenai/pixmo-count`` dataset card, from memory): one row per image with
``image_url``, ``image_sha256``, ``label`` (the object noun), ``count`` and ``points``, a list of
``{"x": .., "y": ..}`` in PERCENT (0-100) of the image width/height; splits ``train``,
``validation`` and ``test``, each as its own file (``train.parquet``, ``validation.parquet``, ...).
The dataset ships URLs, not images, so the rows must name the downloaded file:

* image: ``image_path`` | ``image`` | ``file_name`` | ``path`` (relative to ``data.images`` unless
  absolute), else ``image_sha256`` looked up in ``data.images`` as ``<sha>``, ``<sha>.jpg``,
  ``<sha>.jpeg``, ``<sha>.png`` or ``<sha>.webp``;
* label: ``label`` | ``question`` (Perception-R1's counting files) | ``object`` | ``category``;
* points: ``points`` as ``{x, y}`` objects or ``[x, y]`` pairs, percent of the image;
* count: ``count`` | ``ground_truth``; when both count and points are given they must agree
  (a mismatch is a bad sample). Rows without points are counted by ``count`` alone.

The target has ``points`` (pixels of the resized image), ``boxes: []``, ``count`` and ``label``.
"""

from __future__ import annotations

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
    entries = map_rows(rows, lambda i, row: _record(i, row, images))
    return RecordSet(entries, files, how, "points x,y in percent (0-100) of the original image, "
                                          "converted to resized-image pixels")


def _image_path(row: dict[str, Any], images: Path) -> Path:
    name = first_key(row, IMAGE_KEYS)
    if name is not None:
        return image_candidates(images, name)[0]
    sha = row.get("image_sha256")
    if not isinstance(sha, str) or not sha:
        raise BadRow(f"no image path (keys tried: {', '.join(IMAGE_KEYS)}, image_sha256)")
    return pick_existing([images / f"{sha}{ext}" for ext in IMAGE_SUFFIXES])


def _points(value: Any) -> list[list[float]]:
    if value is None:
        return []
    out = []
    for p in value:
        try:
            out.append([float(p["x"]), float(p["y"])] if isinstance(p, dict) else [float(p[0]), float(p[1])])
        except (KeyError, IndexError, TypeError, ValueError):
            raise BadRow(f"unreadable point {p!r}") from None
    return out


def _record(i: int, row: dict[str, Any], images: Path) -> Record:
    label = first_key(row, LABEL_KEYS)
    if not isinstance(label, str) or not label.strip():
        raise BadRow(f"no label (keys tried: {', '.join(LABEL_KEYS)})")
    points, count = _points(row.get("points")), first_key(row, COUNT_KEYS)
    try:
        count = int(count) if count is not None else len(points)
    except (TypeError, ValueError):
        raise BadRow(f"count is not an integer: {count!r}") from None
    if points and count != len(points):
        raise BadRow(f"count {count} != {len(points)} points")
    label = label.strip()
    target = {"boxes": [], "points": points, "count": count, "label": label}
    return Record(key=f"{i:06d}", image_path=_image_path(row, images), target=target, fields={"label": label},
                  coords="percent", meta={"image_sha256": row.get("image_sha256"), "image_url": row.get("image_url")})
