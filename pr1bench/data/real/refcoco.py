"""RefCOCO / RefCOCO+ / RefCOCOg (``data.source: refcoco``) in its two common layouts.

**Perception-R1 evaluation layout** (``data.annotations`` is a ``.json`` list or ``.jsonl``; no
``data.refs``). One object per referring expression:

* image: ``image`` | ``image_path`` | ``img_path`` | ``file_name`` (relative to ``data.images``
  unless absolute; a list takes its first element);
* expression: ``normal_caption`` | ``sent`` | ``expression`` | ``caption`` | ``problem`` (the
  released files put the bare expression in ``problem``; the first key present wins);
* box, ``[x1, y1, x2, y2]`` of the ORIGINAL image: absolute pixels under ``solution`` | ``bbox`` |
  ``box`` | ``gt_bbox`` | ``bbox_2d``; 0-1000 normalised under ``normalized_solution`` |
  ``normalized_bbox`` | ``bbox_1000``. Absolute wins when both exist. A string value is read for
  its numbers; a Qwen2-VL box-token string (``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``) is
  0-1000. A row may force the convention with ``coords`` (``absolute_pixels`` |
  ``normalized_1000``) and the box layout with ``bbox_format`` (``xyxy`` default | ``xywh``);
* optional ``split`` (else a file per split: ``refcoco_{split}.json`` or the name swap; else one
  file partitioned), optional ``width``/``height`` (checked against the image).

**Original refer layout** (``data.refs`` = ``refs(unc).p`` / ``refs(umd).p``, ``data.annotations``
= that folder's ``instances.json``, ``data.images`` = COCO ``train2014/``). Each ref (``ref_id``,
``ann_id``, ``image_id``, ``split``, ``sentences: [{sent}]``) gives one sample per sentence (the
standard evaluation protocol counts sentences); the box is the annotation's COCO ``bbox``
(``[x, y, w, h]``, absolute pixels). The pickle is read with an unpickler that accepts only plain
lists, dicts, strings and numbers, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
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
    first_key,
    image_candidates,
    map_rows,
    read_json,
    rows_for_split,
    split_images_dir,
)
from pr1bench.data.real.sources import register

IMAGE_KEYS = ("image", "image_path", "img_path", "file_name")
EXPRESSION_KEYS = ("normal_caption", "sent", "expression", "caption", "problem")
ABS_BOX_KEYS = ("solution", "bbox", "box", "gt_bbox", "bbox_2d")
NORM_BOX_KEYS = ("normalized_solution", "normalized_bbox", "bbox_1000")
PICKLE_SUFFIXES = (".p", ".pkl", ".pickle")


@register("refcoco", splits=("train", "val"), task_types=("grounding",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split, from whichever layout the task's paths describe."""
    refs, instances = _refer_paths(ctx)
    if refs is not None:
        return _read_refer(ctx, split, refs, instances)
    rows, files, how = rows_for_split(ctx, split)
    images = split_images_dir(ctx, split)
    entries = map_rows(rows, lambda i, row: _json_record(i, row, images))
    return RecordSet(entries, files, how, "x1,y1,x2,y2 of the original image: absolute pixels "
                                          "(or 0-1000 where the row says so), converted to resized-image pixels")


# ---------------------------------------------------------------- Perception-R1 JSON(L)
def _json_record(i: int, row: dict[str, Any], images: Path) -> Record:
    expression = first_key(row, EXPRESSION_KEYS)
    if not isinstance(expression, str) or not expression.strip():
        raise BadRow(f"no referring expression (keys tried: {', '.join(EXPRESSION_KEYS)})")
    box, coords = _json_box(row)
    expression = expression.strip()
    size = (int(row["width"]), int(row["height"])) if row.get("width") and row.get("height") else None
    path = image_candidates(images, first_key(row, IMAGE_KEYS))[0]
    return Record(key=f"{i:06d}", image_path=path, target={"boxes": [box], "labels": [expression]},
                  fields={"expression": expression}, coords=coords, size=size,
                  meta={"source_id": row.get("id", row.get("question_id"))})


def _json_box(row: dict[str, Any]) -> tuple[list[float], str]:
    """The row's box and its convention (see the module docstring for the rules)."""
    value, coords = first_key(row, ABS_BOX_KEYS), "absolute_pixels"
    if value is None:
        value, coords = first_key(row, NORM_BOX_KEYS), "normalized_1000"
    if value is None:
        raise BadRow(f"no box (keys tried: {', '.join(ABS_BOX_KEYS + NORM_BOX_KEYS)})")
    if isinstance(value, str) and "<|box_start|>" in value:
        coords = "normalized_1000"
    coords = str(row.get("coords") or coords)
    if coords not in ("absolute_pixels", "normalized_1000"):
        raise BadRow(f"unknown coords {coords!r}")
    box = as_float_list(value, 4, "box")
    fmt = str(row.get("bbox_format", "xyxy")).lower()
    if fmt not in ("xyxy", "xywh"):
        raise BadRow(f"unknown bbox_format {fmt!r}")
    return (xywh_to_xyxy(box) if fmt == "xywh" else box), coords


# ---------------------------------------------------------------- original refer layout
def _refer_paths(ctx: Context) -> tuple[Path | None, Path | None]:
    """``(refs pickle, instances.json)`` when the task uses the refer layout, else ``(None, None)``."""
    paths = [p for p in (ctx.annotations, ctx.refs) if p is not None]
    pickles = [p for p in paths if p.suffix.lower() in PICKLE_SUFFIXES]
    if not pickles:
        if ctx.refs is not None:
            raise ctx.error("data.refs", f"expected the refs pickle (refs(unc).p), got {ctx.refs}")
        return None, None
    others = [p for p in paths if p not in pickles]
    if not others:
        raise ctx.error("data.annotations", "the refer layout needs instances.json in data.annotations "
                                            "next to the refs pickle in data.refs")
    return pickles[0], others[0]


class _PlainUnpickler(pickle.Unpickler):
    """Refuses every global: refs pickles hold only builtin containers and scalars."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refs pickle references {module}.{name}; only plain data is allowed")


def load_refs(path: Path, ctx: Context) -> list[dict[str, Any]]:
    """The refs list (Python 2 pickles too: their byte strings are decoded as latin-1 when not ASCII)."""
    if not path.is_file():
        raise ctx.error("data.refs", f"file not found: {path} (relative paths resolve against {Path.cwd()})")
    errors: list[str] = []
    for encoding in ("ASCII", "latin1"):
        try:
            with path.open("rb") as f:
                refs = _PlainUnpickler(f, encoding=encoding).load()
            break
        except (pickle.UnpicklingError, UnicodeDecodeError, EOFError, ValueError) as e:
            errors.append(str(e))
    else:
        raise ctx.error("data.refs", f"cannot read refs pickle {path}: {errors[-1]}")
    if not isinstance(refs, list):
        raise ctx.error("data.refs", f"{path}: expected a list of refs, got {type(refs).__name__}")
    return refs


def _read_refer(ctx: Context, split: str, refs_path: Path, instances_path: Path) -> RecordSet:
    refs = load_refs(refs_path, ctx)
    key = "data.annotations" if instances_path == ctx.annotations else "data.refs"
    inst = read_json(instances_path, ctx, key)
    if not isinstance(inst, dict) or "annotations" not in inst or "images" not in inst:
        raise ctx.error(key, f"{instances_path}: expected COCO-style instances with 'images' and 'annotations'")
    anns = {a.get("id"): a for a in inst["annotations"] if isinstance(a, dict)}
    imgs = {im.get("id"): im for im in inst["images"] if isinstance(im, dict)}
    name = ctx.split_name(split)
    chosen = [r for r in refs if isinstance(r, dict) and str(r.get("split")) == name]
    if not chosen:
        found = sorted({str(r.get("split")) for r in refs if isinstance(r, dict)})
        raise ctx.error("data.train_split" if split == "train" else "data.eval_split",
                        f"no refs with split {name!r} in {refs_path}; splits there: {found}")
    images = ctx.require("images")
    entries: list[Entry] = []
    for ref in chosen:
        entries.extend(_ref_entries(ref, anns, imgs, images))
    return RecordSet(entries, [str(refs_path), str(instances_path)], "field",
                     "COCO bbox x,y,w,h in absolute pixels of the original image, converted to resized-image pixels")


def _ref_entries(ref: dict[str, Any], anns: dict[Any, Any], imgs: dict[Any, Any], images: Path) -> list[Entry]:
    """One record per sentence of a ref (or one bad record when the ref itself is broken)."""
    rid = ref.get("ref_id")
    sents = [s for s in ref.get("sentences") or [] if isinstance(s, dict)]
    try:
        ann, img = anns.get(ref.get("ann_id")), imgs.get(ref.get("image_id"))
        if ann is None or img is None:
            raise BadRow(f"ref {rid}: ann_id {ref.get('ann_id')} or image_id {ref.get('image_id')} not in instances")
        box = xywh_to_xyxy(as_float_list(ann.get("bbox"), 4, "bbox"))
        path = image_candidates(images, img.get("file_name"))[0]
        size = (int(img["width"]), int(img["height"])) if img.get("width") and img.get("height") else None
        if not sents:
            raise BadRow(f"ref {rid} has no sentences")
    except BadRow as e:
        return [BadRecord(f"ref{rid}", str(e))]
    out: list[Entry] = []
    for j, s in enumerate(sents):
        text = str(s.get("sent") or s.get("raw") or "").strip()
        if not text:
            out.append(BadRecord(f"ref{rid}-{j}", "empty sentence"))
            continue
        out.append(Record(key=f"ref{rid}-{j}", image_path=path, target={"boxes": [box], "labels": [text]},
                          fields={"expression": text}, size=size,
                          meta={"ref_id": rid, "ann_id": ref.get("ann_id"), "image_id": ref.get("image_id"),
                                "sent_id": s.get("sent_id")}))
    return out
