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


def pixmo(root: Path, counts: list[int], split: str = "validation") -> list[dict]:
    """PixMo-Count rows (points as {x, y} percent) in a per-split Parquet file; images named by sha."""
    import pandas as pd

    rows = []
    for i, c in enumerate(counts):
        w, h = SIZES[i % len(SIZES)]
        pts = [{"x": 10.0 + 15 * k, "y": 20.0 + 10 * k} for k in range(c)]
        sha = f"{split[:3]}{i:061d}"
        image(root / "images" / f"{sha}.jpg", (w, h))
        rows.append({"image_url": f"https://example.com/{i}.jpg", "image_sha256": sha, "label": "dots",
                     "count": c, "points": pts})
    (root / "ann").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(root / "ann" / f"{split}.parquet")
    return rows


def pageocr(root: Path) -> list[dict]:
    """Perception-R1 layout: conversations with the text as the gpt turn, images under <lang>_pdf_png/."""
    rows = []
    texts = ["Hello world page one", "第一页的文字", "Second english page", "第二页"]
    for i, t in enumerate(texts):
        lang = "cn" if any("\u4e00" <= ch <= "\u9fff" for ch in t) else "en"
        image(root / "images" / f"{lang}_pdf_png" / f"p{i}.png", SIZES[i])
        rows.append({"image": f"p{i}.png", "conversations": [{"from": "human", "value": "<image>\nOCR this image: "},
                                                             {"from": "gpt", "value": t}]})
    write_json(root / "page_ocr.json", rows)
    return rows


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
