"""`pr1bench data check`: counts, conventions, complexity against hand-computed values, exit codes."""

from __future__ import annotations

import json
import math

import pytest
import realfix as fx
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """The CLI's rich console takes its width from the terminal when pr1bench.cli is imported, not from the
    invoke's env: pin it so the tables and lines these tests read are not cut on a narrow CI terminal."""
    from pr1bench.cli import common

    monkeypatch.setattr(common.console, "_width", 200)


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
    # the embedded model's processor caps images at 112x112 = 12544 pixels: rows are resized to what it sees
    assert "pixels" in out["annotation_coords"] and out["resize"]["max_pixels"] == 12544
    assert out["model_family"]["answer_format_by"] == "task" and out["model_family"]["coords_by"].startswith("type")
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
    r = runner.invoke(app, ["data", "check", str(_pixmo_task(tmp_path)), "--split", "eval"])
    assert r.exit_code == 0, r.output
    for text in ("Perceptual complexity", "mean n!", "mean log n!", "median n!", "8.25", "4.00", "PixMo-Count: pixels",
                 "box_tokens in absolute_pixels", "model:       family qwen2_vl"):
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
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval"])
    assert "1.24e309" in r.output


def test_check_exit_codes_for_bad_and_missing_data(tmp_path) -> None:
    path = _pixmo_task(tmp_path)
    import hashlib

    victim = tmp_path / "images" / hashlib.sha256(b"https://example.com/validation/1.jpg").hexdigest()
    fx.corrupt(victim)
    r = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["splits"]["eval"]["bad"] == 1
    r = runner.invoke(app, ["data", "check", str(path), "--on-bad-sample", "fail"])
    assert r.exit_code == 2 and "unreadable image" in r.output
    victim.unlink()
    r = runner.invoke(app, ["data", "check", str(path), "--json"])  # a dead URL: counted and listed, not fatal
    ev = json.loads(r.output)["splits"]["eval"]
    assert r.exit_code == 0 and (ev["missing_images"], ev["loaded"], ev["bad"]) == (1, 3, 0)
    assert str(victim) in ev["missing_samples"][0]["reason"] and "validation.parquet" in ev["missing_samples"][0]["file"]
    r = runner.invoke(app, ["data", "check", str(path), "data.missing_images=fail"])
    assert r.exit_code == 2 and "1 of 4 image paths are missing" in r.output and "data.images" in r.output


def test_check_synthetic_task_reports_complexity() -> None:
    r = runner.invoke(app, ["data", "check", "grounding", "--limit", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["splits"]["eval"]["complexity"]["mean_n_factorial"] == 1.0


def test_check_takes_the_same_overrides_as_train(tmp_path) -> None:
    """No YAML to write: point the shipped task at the data with key=value, as `train` takes them."""
    fx.pixmo(tmp_path, [2, 3], "validation")
    fx.pixmo(tmp_path, [4], "train")
    r = runner.invoke(app, ["data", "check", "pixmo-count", f"data.annotations={tmp_path / 'ann' / 'train.parquet'}",
                            f"data.images={tmp_path / 'images'}", "data.eval=2", "data.train=1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["splits"]["eval"]["loaded"], out["splits"]["train"]["loaded"]) == (2, 1)
    r = runner.invoke(app, ["data", "check", "pixmo-count", "data.imagez=x"])
    assert r.exit_code == 2 and "data.imagez" in r.output and "did you mean" in r.output.lower()


def test_check_bad_row_names_file_row_reason_and_fix(tmp_path) -> None:
    fx.image(tmp_path / "im" / "a.png", (130, 90))
    fx.write_jsonl(tmp_path / "refcoco_val.jsonl", [
        {"image": "a.png", "problem": "ok", "solution": [1, 2, 30, 40]},
        {"image": "a.png", "problem": "no box here"},
        {"image": "a.png", "problem": "mismatch", "solution": [1, 2, 30, 40], "normalized_solution": [500, 500, 900, 900]},
    ])
    path = fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "refcoco_val.jsonl"),
                                              "images": str(tmp_path / "im"), "eval": 3, "train": 0})
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval", "--json"])
    assert r.exit_code == 1
    bad = json.loads(r.output)["splits"]["eval"]["bad_samples"]
    assert [b["row"] for b in bad] == ["line 2", "line 3"] and all(b["file"].endswith("refcoco_val.jsonl") for b in bad)
    assert "no box" in bad[0]["reason"] and "solution" in bad[0]["fix"]
    assert "disagree" in bad[1]["reason"] and "data.annotation_coords" in bad[1]["fix"]
    assert bad[1]["message"].startswith(str(tmp_path / "refcoco_val.jsonl") + " line 3 (sample 000002): ")
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval"])
    assert "refcoco_val.jsonl line 2 (sample 000001): no box" in r.output and "Fix: give the row" in r.output
    r = runner.invoke(app, ["data", "check", str(path), "--split", "eval", "--on-bad-sample", "fail"])
    assert r.exit_code == 2 and "line 2" in r.output and "Fix:" in r.output


def test_check_model_family_picks_the_answer(tmp_path) -> None:
    """A hub id is never downloaded: its family comes from the name, and picks the answer convention."""
    fx.refcoco_json(tmp_path, 4)
    path = fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "refcoco_val.json"),
                                              "images": str(tmp_path / "images"), "eval": 2, "train": 2})
    got = {}
    for model in ("Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen3-VL-2B-Instruct"):
        r = runner.invoke(app, ["data", "check", str(path), "--model", model, "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        got[out["model_family"]["family"]] = (out["answer"]["format"], out["answer"]["coords"], out["resize"]["factor"])
    assert got == {"qwen2_vl": ("box_tokens", "normalized_1000", 28), "qwen2_5_vl": ("json_boxes", "absolute_pixels", 28),
                   "qwen3_vl": ("json_boxes", "normalized_1000", 32)}
