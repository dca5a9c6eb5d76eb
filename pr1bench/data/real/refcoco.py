"""RefCOCO / RefCOCO+ / RefCOCOg (``data.source: refcoco``) in the layouts they are published in.

One record per referring expression; the box is ``[x1, y1, x2, y2]`` of the ORIGINAL image.

**Perception-R1 evaluation JSON** (its ``eval/evaluate_grounding.py`` reads ``refcoco_val.json``,
``refcoco_testA.json``, ... from ``--data_root``): a JSON list (or JSONL) of ``image`` (relative to
``data.images``), ``problem`` (the bare expression), ``solution`` (absolute pixels) and
``normalized_solution`` (0-1000; the evaluator compares box-token answers against it). When both box
fields are present they are **cross-checked** once the image size is known: a pair that disagrees by
more than 2 px (or 1% of the longer side) is a bad sample whose message shows both (set
``data.annotation_coords`` to read only one of them).

**Perception-R1 training Parquet** (the Hugging Face dataset its grounding script trains on,
``--dataset_name linkangheng/refcoco_320k``; its ``dataset.py`` reads ``example['image']['bytes']``): an
``image`` column of embedded images (struct ``{bytes, path}``), ``problem`` and ``solution`` as a
**string** (``"[x1, y1, x2, y2]"``). Its reward (``pr1_grounding_reward``) compares the model's
Qwen2-VL box tokens with ``eval(solution)`` directly, so such a solution is read as **0-1000**; a value
above 1000 cannot be, and is refused with the fix ``data.annotation_coords=absolute_pixels``. The
images stay in the Parquet file until a row is used (see ``records.EmbeddedImage``).

**VLM-R1 JSON / JSONL** (its README: ``refcoco_train.json`` from ``rec_jsons_processed.zip`` with
``image``, ``problem`` = "Please provide the bounding box coordinate of the region this sentence
describes: EXPR.", ``solution`` and ``normal_caption``; and the ``grpo_jsonl.py`` layout ``{id, image,
conversations: [{from: human, value: "<image>..."}, {from: gpt, value: "[x1, y1, x2, y2]"}]}``): the
expression is ``normal_caption``, else the human turn or ``problem`` with ``<image>`` and VLM-R1's
instruction stripped; the box is ``solution``, else the numbers of the last gpt turn, in absolute pixels
(VLM-R1 trains Qwen2.5-VL, whose boxes are absolute).

Common rules: image key ``image`` | ``image_path`` | ``img_path`` | ``file_name`` (a list takes its
first element); expression ``normal_caption`` | ``sent`` | ``expression`` | ``caption`` | ``problem``;
absolute box ``solution`` | ``bbox`` | ``box`` | ``gt_bbox`` | ``bbox_2d``; 0-1000 box
``normalized_solution`` | ``normalized_bbox`` | ``bbox_1000``; a Qwen2-VL box-token string
(``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``) is 0-1000. A row may force ``coords`` and
``bbox_format`` (``xyxy`` default | ``xywh``); ``data.annotation_coords`` forces the convention for
every row. Splits: a ``split`` field, else a file per split (``refcoco_{split}.json`` or the name swap),
else one file partitioned. Optional ``width``/``height`` are checked against the image.

**Original refer layout** (``data.refs`` = ``refs(unc).p`` / ``refs(umd).p``, ``data.annotations``
= that folder's ``instances.json``, ``data.images`` = COCO ``train2014/``). Each ref (``ref_id``,
``ann_id``, ``image_id``, ``split``, ``sentences: [{sent}]``) gives one sample per sentence (the
standard evaluation protocol counts sentences); the box is the annotation's COCO ``bbox``
(``[x, y, w, h]``, absolute pixels). The pickle is read with an unpickler that accepts only plain
lists, dicts, strings and numbers, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from pr1bench.data.real.coords import xywh_to_xyxy
from pr1bench.data.real.records import (
    BadRecord,
    BadRow,
    Context,
    EmbeddedImage,
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
#: VLM-R1's REC instruction, stripped to recover the bare expression from ``problem`` / the human turn.
_VLM_R1_PREFIX = re.compile(r"^\s*please provide the bounding box coordinate of the region this sentence describes:\s*",
                            re.IGNORECASE)


@register("refcoco", splits=("train", "val"), task_types=("grounding",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split, from whichever layout the task's paths describe."""
    refs, instances = _refer_paths(ctx)
    if refs is not None:
        return _read_refer(ctx, split, refs, instances)
    rows, files, how = rows_for_split(ctx, split)
    embedded = bool(rows) and all(isinstance(r, dict) and isinstance(r.get("image"), EmbeddedImage) for r in rows)
    images = Path() if embedded and ctx.images is None else split_images_dir(ctx, split)  # embedded: none needed
    entries = map_rows(rows, lambda i, row: _json_record(i, row, images, ctx.annotation_coords), files[0])
    forced = f"{ctx.annotation_coords} (data.annotation_coords)" if ctx.annotation_coords else (
        "absolute pixels, or 0-1000 where the row says so (normalized_solution, box tokens, or a Perception-R1 "
        "training Parquet's string solution); pixel and 0-1000 boxes cross-checked when both are given")
    return RecordSet(entries, files, how, f"x1,y1,x2,y2 of the original image: {forced}; "
                                          "converted to resized-image pixels")


# ---------------------------------------------------------------- Perception-R1 / VLM-R1 JSON(L), Parquet
def _turns(row: dict[str, Any], who: tuple[str, ...]) -> list[str]:
    conv = row.get("conversations")
    if not isinstance(conv, list):
        return []
    return [str(t.get("value", t.get("content", ""))) for t in conv
            if isinstance(t, dict) and str(t.get("from", t.get("role", ""))).lower() in who]


def clean_expression(text: str) -> str:
    """The bare expression from a prompt: ``<image>`` tags, VLM-R1's instruction and a final period removed."""
    text = _VLM_R1_PREFIX.sub("", text.replace("<image>", " ").strip())
    return text.strip().removesuffix(".").strip()


def _expression(row: dict[str, Any]) -> str:
    expression = first_key(row, EXPRESSION_KEYS)
    if expression is None:
        human = _turns(row, ("human", "user"))
        expression = human[0] if human else None
    if not isinstance(expression, str) or not clean_expression(expression):
        raise BadRow(f"no referring expression (keys tried: {', '.join(EXPRESSION_KEYS)}, conversations)",
                     fix="give the row the expression in problem (or normal_caption, or a human turn)")
    return clean_expression(expression)


def _json_record(i: int, row: dict[str, Any], images: Path, forced: str | None) -> Record:
    expression = _expression(row)
    box, coords, checks = _json_box(row, forced)
    size = (int(row["width"]), int(row["height"])) if row.get("width") and row.get("height") else None
    image = first_key(row, IMAGE_KEYS)
    ref = image if isinstance(image, EmbeddedImage) else None
    path = ref.path if ref is not None else image_candidates(images, image)[0]
    return Record(key=f"{i:06d}", image_path=path, target={"boxes": [box], "labels": [expression]},
                  fields={"expression": expression}, coords=coords, size=size, image_ref=ref,  # type: ignore[arg-type]
                  checks=checks, meta={"source_id": row.get("id", row.get("question_id"))})


def _layout(value: Any, row: dict[str, Any]) -> list[float]:
    box = as_float_list(value, 4, "box")
    fmt = str(row.get("bbox_format", "xyxy")).lower()
    if fmt not in ("xyxy", "xywh"):
        raise BadRow(f"unknown bbox_format {fmt!r}", fix="bbox_format must be xyxy or xywh")
    return xywh_to_xyxy(box) if fmt == "xywh" else box


def _json_box(row: dict[str, Any], forced: str | None) -> tuple[list[float], str, dict[str, Any]]:
    """The row's box, its convention and the cross-checks to run (see the module docstring for the rules)."""
    absolute, normalized = first_key(row, ABS_BOX_KEYS), first_key(row, NORM_BOX_KEYS)
    if absolute is None and normalized is None:
        gpt = _turns(row, ("gpt", "assistant"))
        absolute = gpt[-1] if gpt else None
    if absolute is None and normalized is None:
        raise BadRow(f"no box (keys tried: {', '.join(ABS_BOX_KEYS + NORM_BOX_KEYS)}, conversations)",
                     fix="give the row solution [x1, y1, x2, y2] in pixels or normalized_solution in 0-1000")
    coords = str(row.get("coords") or forced or "")
    if coords and coords not in ("absolute_pixels", "normalized_1000"):
        raise BadRow(f"unknown coords {coords!r}", fix="coords must be absolute_pixels or normalized_1000")
    if coords == "normalized_1000" and normalized is not None:
        return _layout(normalized, row), coords, {}
    if coords:
        value = absolute if absolute is not None else normalized
        return _layout(value, row), coords, {}
    if absolute is None:
        return _layout(normalized, row), "normalized_1000", {}
    box = _layout(absolute, row)
    if isinstance(absolute, str) and "<|box_start|>" in absolute:
        return box, "normalized_1000", {}
    if normalized is not None:
        return box, "absolute_pixels", {"normalized_boxes": [_layout(normalized, row)]}
    if isinstance(absolute, str) and isinstance(row.get("image"), EmbeddedImage):
        if max(box) > 1000:
            raise BadRow(f"solution {absolute!r} has values above 1000, so it is not Perception-R1's 0-1000 "
                         "training convention", fix="set data.annotation_coords=absolute_pixels if this file's "
                                                    "solutions are pixels")
        return box, "normalized_1000", {}
    return box, "absolute_pixels", {}


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
        for e in _ref_entries(ref, anns, imgs, images):
            e.file, e.pos = str(refs_path), f"ref_id {ref.get('ref_id')}"
            entries.append(e)
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
        return [BadRecord(f"ref{rid}", str(e), fix=e.fix or "check that refs and instances.json come from the "
                                                              "same refer folder (refcoco, refcoco+, refcocog)")]
    out: list[Entry] = []
    for j, s in enumerate(sents):
        text = str(s.get("sent") or s.get("raw") or "").strip()
        if not text:
            out.append(BadRecord(f"ref{rid}-{j}", "empty sentence", fix="the refs pickle is damaged; re-download it"))
            continue
        out.append(Record(key=f"ref{rid}-{j}", image_path=path, target={"boxes": [box], "labels": [text]},
                          fields={"expression": text}, size=size,
                          meta={"ref_id": rid, "ann_id": ref.get("ann_id"), "image_id": ref.get("image_id"),
                                "sent_id": s.get("sent_id")}))
    return out
