"""RefCOCO in the layouts Perception-R1 and VLM-R1 publish, the box cross-check, and lazy images."""

from __future__ import annotations

import numpy as np
import pytest
import realfix as fx
from PIL import Image

from pr1bench.data.real import (
    BadSampleError,
    ImageLoadError,
    LazyImage,
    load_real,
    load_real_report,
    to_original,
)
from pr1bench.dataset import build_rows
from pr1bench.spec import load_task


def _task(tmp_path, shipped="refcoco", **data):
    return load_task(str(fx.task_file(tmp_path, shipped, data)))


# ---------------------------------------------------------------- Perception-R1 eval JSON: both box fields
def test_pr1_eval_json_consistent_pair_loads(tmp_path) -> None:
    rows = fx.refcoco_json(tmp_path, 4)
    task = _task(tmp_path, annotations=str(tmp_path / "refcoco_val.json"), images=str(tmp_path / "images"), eval=4,
                 train=0)
    samples, report = load_real_report(task, "eval", 4)
    assert len(samples) == 4 and not report.bad
    for s, row in zip(samples, rows, strict=True):
        assert np.allclose(to_original(s.target["boxes"], s.meta), [row["solution"]], atol=1.0)


def test_pr1_eval_json_inconsistent_pair_is_refused_with_both_values(tmp_path) -> None:
    rows = fx.refcoco_json(tmp_path, 3)
    rows[1]["normalized_solution"] = [0, 0, 1000, 1000]  # the whole image, not the pixel box
    fx.write_json(tmp_path / "refcoco_val.json", rows)
    task = _task(tmp_path, annotations=str(tmp_path / "refcoco_val.json"), images=str(tmp_path / "images"), eval=3,
                 train=0)
    samples, report = load_real_report(task, "eval", 3)
    assert [s.id for s in samples] == ["eval-000000", "eval-000002"]
    (bad,) = report.bad
    assert bad.pos == "row 2" and bad.file.endswith("refcoco_val.json")
    assert "disagree" in bad.reason and str(rows[1]["solution"]) in bad.reason and "[0, 0, 1000, 1000]" in bad.reason
    assert "data.annotation_coords" in bad.fix
    with pytest.raises(BadSampleError, match="row 2 .*disagree.*Fix: correct one of the two fields"):
        load_real(task, "eval", 3, on_bad_sample="fail")


@pytest.mark.parametrize(("forced", "field"), [("absolute_pixels", "solution"), ("normalized_1000", "normalized_solution")])
def test_annotation_coords_reads_one_field_and_skips_the_check(tmp_path, forced, field) -> None:
    rows = fx.refcoco_json(tmp_path, 2)
    rows[0]["normalized_solution"] = [0, 0, 1000, 1000]
    fx.write_json(tmp_path / "refcoco_val.json", rows)
    task = _task(tmp_path, annotations=str(tmp_path / "refcoco_val.json"), images=str(tmp_path / "images"), eval=2,
                 train=0, annotation_coords=forced)
    s = load_real(task, "eval", 2)[0]
    w, h = s.meta["orig_width"], s.meta["orig_height"]
    want = rows[0]["solution"] if field == "solution" else [0, 0, w, h]
    assert np.allclose(to_original(s.target["boxes"], s.meta), [want], atol=1.0)


# ---------------------------------------------------------------- Perception-R1 training Parquet
def test_pr1_training_parquet_embedded_images_and_string_solution(tmp_path) -> None:
    rows = fx.refcoco_train_parquet(tmp_path, 6)
    task = _task(tmp_path, annotations=str(tmp_path / "pq" / "train-00000-of-00001.parquet"),
                 images=None, eval=2, train=10, eval_split="train")  # embedded images: no image directory needed
    ev, tr = load_real(task, "eval", 2), load_real(task, "train", 10)
    assert len(ev) == 2 and len(tr) == 4
    by_expr = {r["problem"]: r for r in rows}
    for s in ev + tr:
        assert isinstance(s.image, LazyImage) and "#image[" in s.meta["image_path"]
        box = by_expr[s.fields["expression"]]["box"]
        assert np.allclose(to_original(s.target["boxes"], s.meta), [box], atol=1.0)  # 0-1000 string -> pixels
        assert s.image.load().size == (s.width, s.height)
    built = build_rows(task, "train")
    assert all(r.image.mode == "RGB" for r in built)


def test_pr1_training_parquet_pixel_solution_is_refused_then_accepted_with_the_fix(tmp_path) -> None:
    fx.refcoco_train_parquet(tmp_path, 4, pixels=True)
    data = {"annotations": str(tmp_path / "pq" / "train-00000-of-00001.parquet"), "images": str(tmp_path),
            "eval": 4, "train": 0, "eval_split": "train"}
    samples, report = load_real_report(_task(tmp_path, **data), "eval", 4)
    # values above 1000 cannot be 0-1000; (some fixture boxes stay below 1000 and would read as 0-1000)
    assert all("data.annotation_coords=absolute_pixels" in b.fix for b in report.bad if "above 1000" in b.reason)
    samples = load_real(_task(tmp_path, **data, annotation_coords="absolute_pixels"), "eval", 4)
    assert len(samples) == 4


# ---------------------------------------------------------------- VLM-R1
@pytest.mark.parametrize("jsonl", [True, False])
def test_vlm_r1_rec_layouts(tmp_path, jsonl) -> None:
    rows = fx.vlm_r1(tmp_path, 5, jsonl=jsonl)
    name = "refcoco_train.jsonl" if jsonl else "refcoco_train.json"
    task = _task(tmp_path, "refcocog", annotations=str(tmp_path / name), images=str(tmp_path / "coco"), eval=5, eval_split="train",
                 train=0)
    samples, report = load_real_report(task, "eval", 5)
    assert len(samples) == 5 and not report.bad
    for s, row in zip(samples, rows, strict=True):
        assert s.fields == {"expression": row["expression"]}  # VLM-R1's instruction and <image> stripped
        assert np.allclose(to_original(s.target["boxes"], s.meta), [row["box"]], atol=1.0)


# ---------------------------------------------------------------- lazy images
def test_rows_hold_no_decoded_image_until_read(tmp_path, monkeypatch) -> None:
    fx.refcoco_json(tmp_path, 6)
    task = _task(tmp_path, annotations=str(tmp_path / "refcoco_val.json"), images=str(tmp_path / "images"), eval=6,
                 train=0)
    loads = []
    real_load = Image.Image.load

    def counting_load(self):  # noqa: ANN001, ANN202
        loads.append(1)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", counting_load)
    rows = build_rows(task, "eval")
    assert len(rows) == 6 and not loads  # sizes came from the headers only
    assert all(isinstance(r.image_handle(), LazyImage) for r in rows)
    image = rows[0].image
    assert loads and image.size == (rows[0].width, rows[0].height)


def test_image_changed_after_building_rows_fails_with_the_fix(tmp_path) -> None:
    fx.refcoco_json(tmp_path, 2)
    task = _task(tmp_path, annotations=str(tmp_path / "refcoco_val.json"), images=str(tmp_path / "images"), eval=2,
                 train=0)
    rows = build_rows(task, "eval")
    path = rows[0].meta["image_path"]
    fx.corrupt(fx.Path(path))
    with pytest.raises(ImageLoadError, match="unreadable image .*Fix: .*pr1bench data check"):
        _ = rows[0].image
