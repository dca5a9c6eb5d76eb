"""Each real format: fixtures in the exact layout load into samples and rows exactly like synthetic ones."""

from __future__ import annotations

import numpy as np
import pytest
import realfix as fx
from PIL import Image

from pr1bench.data.real import COCO_CATEGORIES, load_real, to_original, to_resized
from pr1bench.dataset import build_rows
from pr1bench.models.family import resolve_answer_defaults
from pr1bench.perception import parse_answer
from pr1bench.spec import load_task


def _rows_round_trip(task_path, split="eval"):
    """Build rows as training/evaluation do; every answer must parse back to its target within 1 px."""
    task = resolve_answer_defaults(load_task(str(task_path)))  # answer 'auto' -> the type default, as build_rows
    rows = build_rows(task, split)
    assert rows
    for r in rows:
        assert isinstance(r.image, Image.Image) and r.image.mode == "RGB"
        assert r.image.size == (r.width, r.height) and r.width % 28 == 0 and r.height % 28 == 0
        p = parse_answer(task.answer.format, r.answer, width=r.width, height=r.height, coords=task.answer.coords)
        assert p is not None, r.answer
        t = r.target
        if t.get("boxes"):
            assert np.allclose(p.boxes, t["boxes"], atol=1.0), (r.answer, t)
        if t.get("points"):
            assert np.allclose(p.points, t["points"], atol=1.0), (r.answer, t)
        if "text" in t:
            assert p.text == t["text"]
        if "count" in t and (t.get("points") or not t["count"]):  # count-only rows (eval splits) have no answer text
            assert p.count == t["count"]
    return task, rows


def _check_back_to_original(sample, original_boxes):
    assert np.allclose(to_original(sample.target["boxes"], sample.meta), original_boxes, atol=1.0)


# ---------------------------------------------------------------- RefCOCO
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_refcoco_perception_r1_layout(tmp_path, suffix) -> None:
    rows = fx.refcoco_json(tmp_path, 8, suffix=suffix)
    path = fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / f"refcoco_val{suffix}"),
                                              "images": str(tmp_path / "images"), "train": 10, "eval": 3})
    task = load_task(str(path))
    ev, tr = load_real(task, "eval", 3), load_real(task, "train", 10)
    assert len(ev) == 3 and len(tr) == 5  # one split-less file: 3 held out for eval, the rest for train
    assert not {s.meta["image_path"] for s in ev} & {s.meta["image_path"] for s in tr}
    by_name = {r["image"]: r for r in rows}
    for s in ev + tr:
        row = by_name[s.meta["image_path"].rsplit("/", 1)[1]]
        assert s.fields == {"expression": row["problem"]} and s.target["labels"] == [row["problem"]] and s.n == 1
        assert (s.meta["orig_width"], s.meta["orig_height"]) in fx.SIZES
        _check_back_to_original(s, [row["solution"]])
        assert np.allclose(s.target["boxes"], [to_resized(row["solution"], s.meta)], atol=0.01)
    _rows_round_trip(path)


def test_refcoco_normalized_only_boxes(tmp_path) -> None:
    rows = fx.refcoco_json(tmp_path, 4, normalized_only=True, suffix=".jsonl")
    path = fx.task_file(tmp_path, "refcocog", {"annotations": str(tmp_path / "refcoco_val.jsonl"),
                                               "images": str(tmp_path / "images"), "eval": 4})
    samples = load_real(load_task(str(path)), "eval", 4)
    for s in samples:
        i = int(s.meta["image_path"][-8:-4])
        w, h = fx.SIZES[i % len(fx.SIZES)]
        pixel_box = [5 + i, 7 + i, w - 20 - i, h - 11]  # what the normalised numbers were made from
        _check_back_to_original(s, [pixel_box])
        assert rows[i]["normalized_solution"]


def test_refcoco_refer_layout(tmp_path) -> None:
    fx.refer_layout(tmp_path)
    path = fx.task_file(tmp_path, "refcocop", {"annotations": str(tmp_path / "refcoco" / "instances.json"),
                                               "refs": str(tmp_path / "refcoco" / "refs(unc).p"),
                                               "images": str(tmp_path / "train2014"), "split": "val"})
    task = load_task(str(path))
    ev, tr = load_real(task, "eval", 100), load_real(task, "train", 100)
    assert [s.id for s in ev] == ["eval-ref2-0", "eval-ref2-1", "eval-ref3-0", "eval-ref3-1"]
    assert len(tr) == 4 and all(s.meta["ref_id"] in (0, 1) for s in tr)
    s = ev[2]  # ref 3 -> image 3 (150x70), ann bbox [12, 12, 40.5, 30.25] xywh
    assert s.fields["expression"] == "thing 3 0" and s.meta["image_id"] == 3
    _check_back_to_original(s, [[12.0, 12.0, 52.5, 42.25]])
    _rows_round_trip(path)


# ---------------------------------------------------------------- PixMo-Count
def test_pixmo_count_hub_layout_pixel_points_and_url_named_images(tmp_path) -> None:
    """The hub's Parquet: points as one struct of two lists, in pixels; eval rows without points; images saved
    as sha256(url) with no extension."""
    fx.pixmo(tmp_path, [2, 3, 4, 5], "validation")
    train = fx.pixmo(tmp_path, [2, 3], "train")
    path = fx.task_file(tmp_path, "pixmo-count-points", {"annotations": str(tmp_path / "ann" / "train.parquet"),
                                                  "images": str(tmp_path / "images"), "eval": 4, "train": 9})
    task = load_task(str(path))
    ev, tr = load_real(task, "eval", 4), load_real(task, "train", 9)
    assert [s.n for s in ev] == [2, 3, 4, 5] and [s.n for s in tr] == [2, 3]  # a file per split
    assert all(s.target["points"] == [] for s in ev)  # missing in the eval splits: scored by count
    for s, row in zip(tr, train, strict=True):
        orig = list(zip(row["points"]["x"], row["points"]["y"], strict=True))  # pixels, not percent
        assert s.target["count"] == row["count"] and s.target["label"] == "dots" and s.fields == {"label": "dots"}
        assert np.allclose(to_original(s.target["points"], s.meta), orig, atol=1.0)
        assert s.meta["image_url"] == row["image_url"] and "." not in s.meta["image_path"].rsplit("/", 1)[1]
    _rows_round_trip(path, "train")
    _rows_round_trip(path, "eval")


def test_pixmo_points_below_100_are_pixels_not_percent(tmp_path) -> None:
    """A point at x=60 px on a 130 px image stays at 60 px (it used to be read as 60% = 78 px)."""
    train = fx.pixmo(tmp_path, [3], "train")
    path = fx.task_file(tmp_path, "pixmo-count-points", {"annotations": str(tmp_path / "ann" / "train.parquet"),
                                                  "images": str(tmp_path / "images"), "eval": 1, "train": 1,
                                                  "eval_split": "train"})
    (s,) = load_real(load_task(str(path)), "eval", 1)  # one split-less file: its one row held out for eval
    assert max(train[0]["points"]["x"]) < 100
    assert np.allclose(s.meta["target_original"]["points"],
                       list(zip(train[0]["points"]["x"], train[0]["points"]["y"], strict=True)), atol=0.01)


def test_pixmo_list_of_xy_objects_and_pairs(tmp_path) -> None:
    """A JSON export (list of {x, y}) and [x, y] pairs read the same as the Parquet struct."""
    from pr1bench.data.real.pixmo import points_of

    assert points_of({"x": [1.5, 2.0], "y": [3.0, 4.0]}) == [[1.5, 3.0], [2.0, 4.0]]
    assert points_of([{"x": 1.5, "y": 3.0}]) == [[1.5, 3.0]] and points_of([[1, 2]]) == [[1.0, 2.0]]
    assert points_of(None) == [] and points_of({"x": None, "y": None}) == []


def test_perception_r1_counting_jsonl(tmp_path) -> None:
    rows = fx.pr1_counting(tmp_path, [2, 4, 7])
    path = fx.task_file(tmp_path, "pixmo-count-points", {
        "annotations": str(tmp_path / "pixmo_count_validation540_counting_problems_label.jsonl"),
        "images": str(tmp_path / "images"), "eval": 3, "train": 0})
    ev = load_real(load_task(str(path)), "eval", 3)
    assert [s.target["count"] for s in ev] == [r["ground_truth"] for r in rows]
    assert all(s.fields == {"label": "people"} and s.target["points"] == [] for s in ev)
    _rows_round_trip(path)


# ---------------------------------------------------------------- PageOCR
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pageocr_language_from_the_file_every_row_scored(tmp_path, lang) -> None:
    """en_page_ocr.json keeps its page quoting Chinese; cn_page_ocr.json keeps its page of digits."""
    files = fx.pageocr(tmp_path)
    path = fx.task_file(tmp_path, "pageocr", {"annotations": str(tmp_path / "{lang}_page_ocr.json"),
                                              "images": str(tmp_path / "images"), "lang": lang, "eval": 1})
    task = load_task(str(path))
    ev, tr = load_real(task, "eval", 1), load_real(task, "train", 10)
    rows = files["cn" if lang == "zh" else "en"]
    assert len(ev) == 1 and len(tr) == len(rows) - 1
    assert {s.target["text"] for s in ev + tr} == {r["conversations"][1]["value"] for r in rows}
    assert all(s.meta["lang"] == lang and s.n == 1 for s in ev + tr)
    assert all(f"{'cn' if lang == 'zh' else 'en'}_pdf_png" in s.meta["image_path"] for s in ev + tr)
    _rows_round_trip(path)


def test_pageocr_language_from_file_name_without_data_lang(tmp_path) -> None:
    fx.pageocr(tmp_path)
    path = fx.task_file(tmp_path, "pageocr", {"annotations": str(tmp_path / "cn_page_ocr.json"),
                                              "images": str(tmp_path / "images"), "lang": None, "eval": 3,
                                              "train": 0})
    ev = load_real(load_task(str(path)), "eval", 3)
    assert len(ev) == 3 and {s.meta["lang"] for s in ev} == {"zh"}


def test_pageocr_data_lang_contradicting_the_file_is_an_error(tmp_path) -> None:
    from pr1bench.data.real import RealDataError

    fx.pageocr(tmp_path)
    path = fx.task_file(tmp_path, "pageocr", {"annotations": str(tmp_path / "en_page_ocr.json"),
                                              "images": str(tmp_path / "images"), "lang": "zh"})
    with pytest.raises(RealDataError, match=r"data\.lang: data\.lang is 'zh' but .*en_page_ocr\.json is a 'en' file"):
        load_real(load_task(str(path)), "eval", 1)


# ---------------------------------------------------------------- COCO 2017
def test_coco_instances_files_per_split(tmp_path) -> None:
    val = fx.coco(tmp_path, "val2017", [3, 0, 5])
    fx.coco(tmp_path, "train2017", [1, 2])
    path = fx.task_file(tmp_path, "coco-detection", {
        "annotations": str(tmp_path / "annotations" / "instances_train2017.json"),
        "images": str(tmp_path / "train2017"), "train": 5, "eval": 5})
    task = load_task(str(path))
    ev, tr = load_real(task, "eval", 5), load_real(task, "train", 5)
    assert [s.n for s in ev] == [3, 0, 5] and [s.n for s in tr] == [1, 2]
    assert all("/val2017/" in s.meta["image_path"] for s in ev)
    assert ev[0].meta["n_crowd"] == 1  # the crowd annotation is skipped, not a box
    assert ev[0].fields["categories"] == ", ".join(COCO_CATEGORIES)
    assert ev[2].target["labels"] == list(COCO_CATEGORIES[:5])
    anns = [a for a in val["annotations"] if a["image_id"] == 3]
    _check_back_to_original(ev[2], [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                     a["bbox"][1] + a["bbox"][3]] for a in anns])
    _rows_round_trip(path)


# ---------------------------------------------------------------- generic JSONL
def test_generic_jsonl_detection_and_counting(tmp_path) -> None:
    fx.image(tmp_path / "im" / "a.png", (130, 90))
    fx.image(tmp_path / "im" / "b.png", (100, 120))
    fx.write_jsonl(tmp_path / "det.jsonl", [
        {"image": "a.png", "split": "eval", "fields": {"categories": "cat, dog"},
         "target": {"boxes": [[1, 2, 30, 40], [50, 10, 129, 89]], "labels": ["cat", "dog"]}},
        {"image": "b.png", "split": "eval", "categories": "cat, dog", "coords": "normalized_1000",
         "target": {"boxes": [[100, 100, 500, 500]], "labels": ["dog"]}},
        {"image": "b.png", "split": "train", "categories": "cat", "target": {"boxes": [], "labels": []}},
    ])
    path = fx.task_file(tmp_path, "coco-detection", {"source": "jsonl", "annotations": str(tmp_path / "det.jsonl"),
                                                     "images": str(tmp_path / "im"), "eval": 2, "train": 2,
                                                     "eval_split": "eval"})
    task = load_task(str(path))
    ev = load_real(task, "eval", 2)
    assert [s.n for s in ev] == [2, 1] and ev[0].fields == {"categories": "cat, dog"}
    _check_back_to_original(ev[0], [[1, 2, 30, 40], [50, 10, 129, 89]])
    _check_back_to_original(ev[1], [[10, 12, 50, 60]])
    assert len(load_real(task, "train", 2)) == 1
    _rows_round_trip(path)

    fx.write_jsonl(tmp_path / "cnt.jsonl", [{"image": "a.png", "label": "dots", "target": {"points": [[10, 10], [20, 30]]}}])
    cpath = fx.task_file(tmp_path, "pixmo-count-points", {"source": "jsonl", "annotations": str(tmp_path / "cnt.jsonl"),
                                                   "images": str(tmp_path / "im"), "eval": 1})
    (s,) = load_real(load_task(str(cpath)), "eval", 1)
    assert s.target["count"] == 2 and s.fields == {"label": "dots"}


def test_large_image_is_downscaled_to_max_pixels(tmp_path) -> None:
    """A 1200x900 image (1.08 Mpx) exceeds the ~1e6 default: the model sees 1148x840 and targets follow."""
    fx.image(tmp_path / "im" / "big.png", (1200, 900), [[100, 100, 1100, 800]])
    fx.write_jsonl(tmp_path / "g.jsonl", [{"image": "big.png", "expression": "the block",
                                           "target": {"boxes": [[100, 100, 1100, 800]]}}])
    path = fx.task_file(tmp_path, "refcoco", {"source": "jsonl", "annotations": str(tmp_path / "g.jsonl"),
                                              "images": str(tmp_path / "im"), "eval": 1})
    (s,) = load_real(load_task(str(path)), "eval", 1)
    assert (s.width, s.height) == (1148, 840) and s.image.size == (1148, 840)
    assert s.target["labels"] == ["the block"]
    _check_back_to_original(s, [[100, 100, 1100, 800]])
