"""COCO 2017 detection (``data.source: coco``): ``instances_<split>.json`` + an image directory.

Format (the official COCO release): ``images`` (``id``, ``file_name``, ``width``, ``height``),
``annotations`` (``image_id``, ``category_id``, ``bbox`` as ``[x, y, w, h]`` absolute pixels,
``iscrowd``) and ``categories`` (``id``, ``name``). Splits are files: ``train2017`` / ``val2017``
by default, found by swapping the split name in ``data.annotations`` and ``data.images``
(``instances_train2017.json`` -> ``instances_val2017.json``, ``train2017/`` -> ``val2017/``).

Choices:

* One sample per image, in the file's image order; images without (non-crowd) objects are kept,
  since COCO AP is computed over every image.
* ``iscrowd`` annotations are skipped in ``boxes``/``labels`` (the training target, as in the paper's training
  data); their number is kept in ``meta["n_crowd"]``. Zero-area boxes are dropped there too
  (``meta["n_degenerate"]``).
* The target also carries the image's annotations exactly as the file has them, under ``coco``: ``image_id``,
  the original ``width``/``height``, ``categories`` (``[id, name]``) and ``anns`` (``[category_id, x, y, w, h,
  area, iscrowd]``: crowd regions kept and flagged, the annotation's own ``area``, zero-area boxes kept), so
  COCO AP under the ``perception-r1`` protocol is COCOeval on this file (crowd regions ignored, area ranges
  on ``area``, ties in sorted image-id order). That block is never rescaled.
* ``fields.categories`` lists ALL the file's category names (the 80 for COCO), in category-id
  order, joined with ``", "``: the paper's prompt names the full category list, and listing only
  the categories present would give part of the answer away.
* Labels are category names; box order is the annotation order in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pr1bench.data.real.coords import xywh_to_xyxy
from pr1bench.data.real.records import (
    BadRecord,
    BadRow,
    Context,
    Entry,
    Record,
    RecordSet,
    as_float_list,
    image_candidates,
    read_json,
    split_images_dir,
    split_path,
)
from pr1bench.data.real.sources import register

#: The 80 COCO 2017 detection categories in id order (for fixtures and checks; prompts use the file's own list).
COCO_CATEGORIES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)


@register("coco", splits=("train2017", "val2017"), task_types=("detection",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split: one per image, non-crowd boxes with category-name labels."""
    base = ctx.require("annotations")
    path = split_path(base, ctx.train_split, ctx.split_name(split))
    how = "file" if split_path(base, ctx.train_split, ctx.eval_split) != base else "none"
    inst = read_json(path, ctx, "data.annotations")
    if not isinstance(inst, dict) or not isinstance(inst.get("images"), list):
        raise ctx.error("data.annotations", f"{path}: expected COCO instances JSON with an 'images' list")
    cats = sorted((c for c in inst.get("categories") or [] if isinstance(c, dict)), key=lambda c: c.get("id", 0))
    names = {c.get("id"): str(c.get("name")) for c in cats}
    cat_pairs = [[int(c["id"]), str(c.get("name"))] for c in cats if isinstance(c.get("id"), int)]
    categories = ", ".join(names.values())
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in inst.get("annotations") or []:
        if isinstance(a, dict):
            by_image.setdefault(a.get("image_id"), []).append(a)
    images = split_images_dir(ctx, split)
    entries: list[Entry] = []
    for im in inst["images"]:
        key = str(im.get("id")) if isinstance(im, dict) else "?"
        try:
            rec: Entry = _record(im, by_image.get(im.get("id"), []), names, categories, images, cat_pairs)
        except (BadRow, AttributeError) as e:
            rec = BadRecord(key, str(e), fix=getattr(e, "fix", None) or "fix or drop this image's annotations in "
                                                                         "the instances file")
        rec.file, rec.pos = str(path), f"image id {key}"
        entries.append(rec)
    return RecordSet(entries, [str(path)], how, "COCO bbox x,y,w,h in absolute pixels of the original image, "
                                                "converted to x1,y1,x2,y2 resized-image pixels")


def _record(im: dict[str, Any], anns: list[dict[str, Any]], names: dict[Any, str], categories: str,
            images: Path, cat_pairs: list[list[Any]] | None = None) -> Record:
    boxes, labels, n_crowd, n_degenerate = [], [], 0, 0
    coco_anns: list[list[Any]] = []
    for a in anns:
        if a.get("category_id") not in names:
            raise BadRow(f"annotation {a.get('id')}: unknown category_id {a.get('category_id')}")
        x, y, w, h = as_float_list(a.get("bbox"), 4, f"annotation {a.get('id')} bbox")
        area = a.get("area")
        area = float(area) if isinstance(area, int | float) and not isinstance(area, bool) else w * h
        coco_anns.append([a["category_id"], x, y, w, h, area, int(bool(a.get("iscrowd")))])
        if a.get("iscrowd"):
            n_crowd += 1
            continue
        if w <= 0 or h <= 0:
            n_degenerate += 1
            continue
        boxes.append(xywh_to_xyxy([x, y, w, h]))
        labels.append(names[a["category_id"]])
    size = (int(im["width"]), int(im["height"])) if im.get("width") and im.get("height") else None
    coco = {"image_id": im.get("id"), "width": size[0] if size else None, "height": size[1] if size else None,
            "categories": cat_pairs or [], "anns": coco_anns}
    return Record(key=str(im.get("id")), image_path=image_candidates(images, im.get("file_name"))[0],
                  target={"boxes": boxes, "labels": labels, "coco": coco}, fields={"categories": categories},
                  size=size,
                  meta={"image_id": im.get("id"), "n_crowd": n_crowd, "n_degenerate": n_degenerate})
