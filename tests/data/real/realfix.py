"""Fixture builders for the real-dataset tests: tiny images and annotation files in the real formats."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw

from pr1bench.paths import project_root
from pr1bench.spec import deep_merge, load_task, load_yaml

#: Original image sizes: not multiples of 28 (so the resize matters) and small enough for the tiny model.
SIZES = [(130, 90), (100, 120), (90, 90), (150, 70)]


def image(path: Path, size: tuple[int, int], boxes: list[list[float]] = ()) -> Path:
    """A PNG with filled rectangles where the boxes are (so a human could check the fixture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(im)
    for b in boxes:
        draw.rectangle([b[0], b[1], b[2] - 1, b[3] - 1], fill=(200, 40, 40))
    im.save(path)
    return path


def corrupt(path: Path) -> Path:
    """A file with an image name and garbage bytes (a truncated download)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def write_pickle(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(value, f, protocol=2)  # the refer toolkit's pickles are Python 2 era
    return path


def task_file(tmp: Path, shipped: str, data: dict[str, Any], **over: Any) -> Path:
    """Copy a shipped task YAML (templates resolved) into ``tmp`` with ``data`` keys overridden."""
    raw = load_yaml(project_root() / "tasks" / f"{shipped}.yaml")
    raw = deep_merge(raw, {"data": data, **over})
    path = tmp / f"{raw['task']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    load_task(str(path))  # fail here, not in the test, if the override is invalid
    return path


# ---------------------------------------------------------------- per-format datasets
def refcoco_json(root: Path, n: int = 8, *, normalized_only: bool = False, suffix: str = ".json") -> list[dict]:
    """Perception-R1 layout: ``problem`` (expression), ``solution`` (pixels), ``normalized_solution``."""
    rows = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        box = [5 + i, 7 + i, w - 20 - i, h - 11]
        image(root / "images" / f"COCO_train2014_{i:012d}.png", (w, h), [box])
        row = {"image": f"COCO_train2014_{i:012d}.png", "problem": f"red block {i}",
               "normalized_solution": [round(box[0] / w * 1000), round(box[1] / h * 1000),
                                       round(box[2] / w * 1000), round(box[3] / h * 1000)]}
        if not normalized_only:
            row["solution"] = box
        rows.append(row)
    path = root / f"refcoco_val{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    else:
        write_json(path, rows)
    return rows


def refer_layout(root: Path) -> dict[str, Any]:
    """refs(unc).p + instances.json + images: 3 images, 4 refs (2 train, 2 val), 2 sentences per val ref."""
    images, anns, refs = [], [], []
    for i in range(3):
        w, h = SIZES[i]
        name = f"COCO_train2014_{i + 1:012d}.jpg"
        box = [10.0 + i, 12.0, 40.5, 30.25]  # xywh
        image(root / "train2014" / name, (w, h), [[box[0], box[1], box[0] + box[2], box[1] + box[3]]])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1, "bbox": box, "iscrowd": 0, "area": 1.0})
    for r, (img, split) in enumerate([(1, "train"), (2, "train"), (1, "val"), (3, "val")]):
        sents = [{"sent": f"thing {r} {k}", "raw": f"Thing {r} {k}", "sent_id": 10 * r + k} for k in range(2)]
        refs.append({"ref_id": r, "ann_id": 100 + img - 1, "image_id": img, "split": split,
                     "sentences": sents, "category_id": 1, "file_name": f"COCO_train2014_{img:012d}_{r}.jpg"})
    write_pickle(root / "refcoco" / "refs(unc).p", refs)
    write_json(root / "refcoco" / "instances.json", {"images": images, "annotations": anns,
                                                      "categories": [{"id": 1, "name": "person"}]})
    return {"images": images, "annotations": anns, "refs": refs}


def pixmo(root: Path, counts: list[int], split: str = "validation", *, points: bool | None = None) -> list[dict]:
    """PixMo-Count exactly as on the hub: a per-split Parquet of image_url, image_sha256, count, points, label.

    ``points`` is written the way ``datasets`` stores a ``Sequence({x, y})`` feature: ONE struct of two lists
    (``{"x": [...], "y": [...]}``), in PIXELS of the image; the eval splits have none (null). Images are saved
    the way Molmo's downloader saves them: under the sha256 of the URL, with no extension.
    """
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    with_points = (split == "train") if points is None else points
    rows = []
    for i, c in enumerate(counts):
        w, h = SIZES[i % len(SIZES)]
        url = f"https://example.com/{split}/{i}.jpg"
        xs = [min(w - 1.0, 10.0 + 15 * k) for k in range(c)]
        ys = [min(h - 1.0, 20.0 + 10 * k) for k in range(c)]
        path = root / "images" / hashlib.sha256(url.encode()).hexdigest()
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (235, 235, 235)).save(path, format="JPEG")  # no extension, as Molmo saves it
        rows.append({"image_url": url, "image_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                     "count": c, "points": {"x": xs, "y": ys} if with_points else None, "label": "dots"})
    schema = pa.schema([("image_url", pa.string()), ("image_sha256", pa.string()), ("count", pa.int32()),
                        ("points", pa.struct([("x", pa.list_(pa.float32())), ("y", pa.list_(pa.float32()))])),
                        ("label", pa.string())])
    (root / "ann").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "ann" / f"{split}.parquet")
    return rows


def pr1_counting(root: Path, counts: list[int], name: str = "pixmo_count_validation540_counting_problems_label"
                 ) -> list[dict]:
    """Perception-R1's counting JSONL (eval/evaluate_counting.py): image_path, question (the noun), ground_truth."""
    rows = []
    for i, c in enumerate(counts):
        rel = f"pixmo/{i:04d}.jpg"
        image(root / "images" / rel, SIZES[i % len(SIZES)])
        rows.append({"image_path": rel, "question": "people", "ground_truth": c})
    write_jsonl(root / f"{name}.jsonl", rows)
    return rows


def refcoco_train_parquet(root: Path, n: int = 6, *, pixels: bool = False) -> list[dict]:
    """Perception-R1's training Parquet: embedded image {bytes, path}, problem, solution as a 0-1000 string."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, boxes = [], []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        box = [5.0 + i, 7.0, w - 20.0, h - 11.0]
        im = Image.new("RGB", (w, h), (235, 235, 235))
        ImageDraw.Draw(im).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(200, 40, 40))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        sol = box if pixels else [round(box[0] / w * 1000), round(box[1] / h * 1000), round(box[2] / w * 1000),
                                  round(box[3] / h * 1000)]
        rows.append({"image": {"bytes": buf.getvalue(), "path": f"COCO_train2014_{i:012d}.jpg"},
                     "problem": f"red block {i}", "solution": str([int(v) for v in sol])})
        boxes.append(box)
    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("problem", pa.string()), ("solution", pa.string())])
    (root / "pq").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "pq" / "train-00000-of-00001.parquet",
                   row_group_size=2)
    return [{**r, "box": b} for r, b in zip(rows, boxes, strict=True)]


def vlm_r1(root: Path, n: int = 6, *, jsonl: bool = True) -> list[dict]:
    """VLM-R1 REC data: JSONL of {id, image, conversations} (grpo_jsonl.py) or JSON of {image, problem, solution}."""
    prefix = "Please provide the bounding box coordinate of the region this sentence describes: "
    rows, out = [], []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        box = [4.0 + i, 6.0, w - 10.0, h - 9.0]
        name = f"COCO_train2014_{i:012d}.jpg"
        image(root / "coco" / name, (w, h), [box])
        expr = f"the red block number {i}"
        if jsonl:
            rows.append({"id": i, "image": name, "conversations": [
                {"from": "human", "value": f"<image>{prefix}{expr}."},
                {"from": "gpt", "value": str(box)}]})
        else:
            rows.append({"image": name, "problem": f"{prefix}{expr}.", "solution": str(box)})
        out.append({"expression": expr, "box": box, "image": name})
    if jsonl:
        write_jsonl(root / "refcoco_train.jsonl", rows)
    else:
        write_json(root / "refcoco_train.json", rows)
    return out


def pageocr(root: Path) -> dict[str, list[dict]]:
    """Perception-R1's layout: en_page_ocr.json and cn_page_ocr.json (conversations, the text as the gpt turn),
    images under <lang>_pdf_png/. The English file has a page quoting a Chinese word and the Chinese file a page of
    digits: the language comes from the file, so both stay where they are."""
    texts = {"en": ["Hello world page one", "The word 中文 means Chinese", "Second english page"],
             "cn": ["第一页的文字", "2024 12 31", "第二页"]}
    out = {}
    for lang, items in texts.items():
        rows = []
        for i, t in enumerate(items):
            image(root / "images" / f"{lang}_pdf_png" / f"{lang}{i}.png", SIZES[i])
            rows.append({"image": f"{lang}{i}.png", "conversations": [
                {"from": "human", "value": "<image>\nOCR this image: "}, {"from": "gpt", "value": t}]})
        write_json(root / f"{lang}_page_ocr.json", rows)
        out[lang] = rows
    return out


def coco(root: Path, split: str, per_image: list[int], *, crowd: bool = True) -> dict[str, Any]:
    """instances_<split>.json with the 80 categories; image i has per_image[i] objects (+1 crowd on image 0)."""
    from pr1bench.data.real import COCO_CATEGORIES

    ids = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)][:80]
    cats = [{"id": cid, "name": name, "supercategory": "x"} for cid, name in zip(ids, COCO_CATEGORIES, strict=True)]
    images, anns = [], []
    for i, k in enumerate(per_image):
        w, h = SIZES[i % len(SIZES)]
        name = f"{i + 1:012d}.jpg"
        boxes = [[2.0 + 9 * j, 3.0 + 5 * j, 8.5, 6.25] for j in range(k)]
        image(root / split / name, (w, h), [[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in boxes])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for j, b in enumerate(boxes):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": ids[j % 80], "bbox": b,
                         "iscrowd": 0, "area": b[2] * b[3]})
    if crowd and per_image:
        anns.append({"id": len(anns) + 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1,
                     "area": 2500.0})
    inst = {"images": images, "annotations": anns, "categories": cats}
    write_json(root / "annotations" / f"instances_{split}.json", inst)
    return inst
