"""`pr1bench data check`: counts, conventions, complexity against hand-computed values, exit codes."""

from __future__ import annotations

import json
import math

import pytest
import realfix as fx
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


def _pixmo_task(tmp_path):
    fx.pixmo(tmp_path, [1, 2, 3, 4], "validation")
    fx.pixmo(tmp_path, [0, 5], "train")
    return fx.task_file(tmp_path, "pixmo-count", {"annotations": str(tmp_path / "ann" / "train.parquet"),
                                                  "images": str(tmp_path / "images"), "eval": 4, "train": 10})


def test_check_json_reports_counts_conventions_and_complexity(tmp_path) -> None:
    r = runner.invoke(app, ["data", "check", str(_pixmo_task(tmp_path)), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ok"] and out["source"] == "pixmo_count" and out["answer"]["coords"] == "absolute_pixels"
    assert "percent" in out["annotation_coords"] and out["resize"]["max_pixels"] == 1003520
    ev, tr = out["splits"]["eval"], out["splits"]["train"]
    assert (ev["dataset_split"], ev["split_by"], ev["loaded"], ev["bad"]) == ("validation", "file", 4, 0)
    assert (tr["records"], tr["requested"], tr["loaded"]) == (2, 10, 2)
    # n = 1, 2, 3, 4: n! = 1, 2, 6, 24
    c = ev["complexity"]
    assert c["mean_n_factorial"] == pytest.approx((1 + 2 + 6 + 24) / 4)
    assert c["mean_log_n_factorial"] == pytest.approx((math.log(2) + math.log(6) + math.log(24)) / 4)
    assert c["median_n_factorial"] == pytest.approx((2 + 6) / 2)
    # n = 0, 5: n! = 1, 120
    c = tr["complexity"]
    assert (c["mean_n_factorial"], c["median_n_factorial"]) == (pytest.approx(60.5), pytest.approx(60.5))
    assert c["mean_log_n_factorial"] == pytest.approx(math.log(120) / 2)


def test_check_table_output(tmp_path) -> None:
    r = runner.invoke(app, ["data", "check", str(_pixmo_task(tmp_path)), "--split", "eval"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    for text in ("Perceptual complexity", "mean n!", "mean log n!", "median n!", "8.25", "4.00", "percent (0-100)",
                 "points in absolute_pixels"):
        assert text in r.output, text


def test_check_crowded_image_overflowing_n_factorial(tmp_path) -> None:
    """n = 171 overflows a float: JSON gives null plus the finite log10; the table prints 1.24e309."""
    fx.image(tmp_path / "im" / "a.png", (130, 90))
    fx.write_jsonl(tmp_path / "d.jsonl", [{"image": "a.png", "categories": "dot",
                                           "target": {"boxes": [[1, 1, 5, 5]] * 171, "labels": ["dot"] * 171}}])
    path = fx.task_file(tmp_path, "coco-detection", {"source": "jsonl", "annotations": str(tmp_path / "d.jsonl"),
                                                     "images": str(tmp_path / "im"), "eval": 1, "eval_split": "eval"})
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval", "--json"])
    c = json.loads(r.output)["splits"]["eval"]["complexity"]
    assert c["mean_n_factorial"] is None and c["log10_mean_n_factorial"] == pytest.approx(math.lgamma(172) / math.log(10))
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval"], env={"COLUMNS": "160"})
    assert "1.24e309" in r.output


def test_check_exit_codes_for_bad_and_missing_data(tmp_path) -> None:
    path = _pixmo_task(tmp_path)
    victim = next((tmp_path / "images").glob("val*"))
    fx.corrupt(victim)
    r = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["splits"]["eval"]["bad"] == 1
    r = runner.invoke(app, ["data", "check", str(path), "--on-bad-sample", "fail"])
    assert r.exit_code == 2 and "unreadable image" in r.output
    victim.unlink()
    r = runner.invoke(app, ["data", "check", str(path)])
    assert r.exit_code == 2 and "1 of 4 image paths are missing" in r.output and "data.images" in r.output


def test_check_synthetic_task_reports_complexity() -> None:
    r = runner.invoke(app, ["data", "check", "grounding", "--limit", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["splits"]["eval"]["complexity"]["mean_n_factorial"] == 1.0
