"""Model families: detection from config.json, the answer convention they pick, warnings, run.json, and one GRPO
step plus one evaluation on a tiny random-init model of each family (Qwen2-VL, Qwen2.5-VL, Qwen3-VL)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "real"))
import realfix as fx  # noqa: E402
import tinyfamily  # noqa: E402

from pr1bench.embedded import resolve_model  # noqa: E402
from pr1bench.models.family import FAMILIES, detect, resolve  # noqa: E402
from pr1bench.spec import load_task  # noqa: E402

NATIVE = {"qwen2_vl": ("box_tokens", "normalized_1000", 28), "qwen2_5_vl": ("json_boxes", "absolute_pixels", 28),
          "qwen3_vl": ("json_boxes", "normalized_1000", 32)}


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {f: tinyfamily.build(f, root / f) for f in tinyfamily.FAMILIES}


@pytest.fixture()
def refcoco(tmp_path: Path):
    fx.refcoco_json(tmp_path, 6)
    return load_task(str(fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "refcoco_val.json"),
                                                            "images": str(tmp_path / "images"), "eval": 2,
                                                            "train": 4},
                                      generation={"max_new_tokens": 8, "cot_max_new_tokens": 8})))


def test_family_read_from_config_json(family_dirs) -> None:
    for name, d in family_dirs.items():
        det = detect(d)
        assert det.family is FAMILIES.get(name) and det.native and f"model_type {name!r}" in det.source
        assert det.processor == {"min_pixels": 3136, "max_pixels": 16384, "factor": NATIVE[name][2]}


def test_family_from_a_hub_name_and_unknown_models() -> None:
    assert detect("Qwen/Qwen2.5-VL-3B-Instruct").family.name == "qwen2_5_vl"
    assert detect("Qwen/Qwen3-VL-8B-Instruct").family.name == "qwen3_vl"
    assert detect("Qwen/Qwen2-VL-2B-Instruct").family.name == "qwen2_vl"
    assert detect("someone/llava-7b").family is None and detect(None).family is None


@pytest.mark.parametrize("family", list(NATIVE))
def test_auto_answer_and_pixel_limits_follow_the_family(family_dirs, refcoco, family) -> None:
    task, rec = resolve(refcoco, family_dirs[family])
    fmt, coords, factor = NATIVE[family]
    assert (task.answer.format, task.answer.coords) == (fmt, coords)
    assert task.data.extras()["resize_factor"] == factor and task.data.extras()["max_pixels"] == 16384
    assert rec["family"] == family and rec["answer_format_by"] == f"family {family}" and not rec["warnings"]
    assert rec["pixels"]["max_pixels_by"] == "model processor"


def test_pinned_convention_contradicting_the_family_warns_at_once(family_dirs, refcoco, caplog) -> None:
    pinned = refcoco.model_copy(update={"answer": refcoco.answer.model_copy(
        update={"format": "box_tokens", "coords": "normalized_1000"})})
    with caplog.at_level(logging.WARNING, logger="pr1bench.models.family"):
        task, rec = resolve(pinned, family_dirs["qwen2_5_vl"])
    assert (task.answer.format, task.answer.coords) == ("box_tokens", "normalized_1000")  # the pin is kept
    assert rec["answer_format_by"] == "task" and len(rec["warnings"]) == 1
    assert "qwen2_5_vl model, which answers in json_boxes/absolute_pixels" in caplog.text
    assert "answer.format: auto" in caplog.text
    _, rec = resolve(pinned, family_dirs["qwen2_vl"])  # the same pin agrees with Qwen2-VL
    assert not rec["warnings"]


def test_embedded_model_has_no_native_convention() -> None:
    """The embedded model was pretrained on the synthetic tasks' own conventions: no warning, defaults for auto."""
    for name in ("counting", "detection", "grounding"):
        task, rec = resolve(load_task(name), resolve_model(None))
        assert rec["family"] == "qwen2_vl" and not rec["native_conventions"] and not rec["warnings"]
        assert task.answer == load_task(name).answer and task.data == load_task(name).data  # synthetic: unchanged
    task, rec = resolve(load_task("coco-detection"), resolve_model(None))
    assert (task.answer.format, task.answer.coords) == ("json_boxes", "absolute_pixels")
    assert rec["answer_format_by"].startswith("type default")


def test_run_json_records_the_choice_and_a_trained_model_inherits_it(family_dirs, refcoco, results_dir) -> None:
    from pr1bench.launch import prepare_run, read_run
    from pr1bench.runspec import RunSpec

    spec = RunSpec.model_validate({"task": "refcoco", "variant": "grpo"})
    run = read_run(prepare_run(spec, refcoco, model_path=str(family_dirs["qwen3_vl"])))
    assert run["model_family"]["family"] == "qwen3_vl" and run["answer_format"] == "json_boxes"
    assert run["coords"] == "normalized_1000" and run["config"]["task"]["answer"]["format"] == "json_boxes"
    assert run["config"]["task"]["data"]["resize_factor"] == 32
    final = results_dir / "runs" / run["run_id"] / "grpo_model"
    final.mkdir()
    (final / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    det = detect(final)
    assert det.family.name == "qwen3_vl" and det.native and "trained by run" in det.source


def _one_grpo_step_and_eval(model_dir: Path, task, out: Path) -> tuple[dict, float]:
    import torch

    from pr1bench.dataset import build_rows
    from pr1bench.evaluate.core import evaluate_rows, hf_generator
    from pr1bench.task_rewards import build_task_rewards
    from pr1bench.train.phases import run_grpo

    torch.set_num_threads(1)
    task, rec = resolve(task, model_dir)
    rows = build_rows(task, "train")
    funcs, weights = build_task_rewards(task, cot=False)
    final = run_grpo(model_path=str(model_dir), rows=rows, system=None, out_dir=out / "model",
                     ckpt_dir=out / "ckpt", metrics_path=out / "metrics.jsonl", seed=0,
                     trainer_cfg={"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2,
                                  "logging_steps": 1, "save_steps": 10, "learning_rate": 1e-4, "beta": 0.04},
                     reward_funcs=funcs, reward_weights=weights, max_completion_length=8, resume=False)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(final).eval()
    processor = AutoProcessor.from_pretrained(final, padding_side="left")
    gen = hf_generator(model, processor, task, batch_size=2, cot=False)
    res = evaluate_rows(task, build_rows(task, "eval"), gen, cot=False, sampled=False)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return rec, res.summary, lines


@pytest.mark.parametrize("family", list(NATIVE))
def test_one_grpo_step_and_one_eval_per_family(family_dirs, refcoco, family, tmp_path) -> None:
    rec, summary, lines = _one_grpo_step_and_eval(family_dirs[family], refcoco, tmp_path)
    assert rec["family"] == family and rec["answer_format"] == NATIVE[family][0]
    assert any(line.get("step") == 1 for line in lines)
    assert summary["n"] == 2 and "acc50" in summary["metrics"]


@pytest.mark.slow
def test_cli_train_and_eval_record_the_family(family_dirs, tmp_path, results_dir) -> None:
    """Through the real launch path (accelerate subprocess): run.json carries the family's choice."""
    from typer.testing import CliRunner

    from pr1bench.cli.main import app

    fx.refcoco_json(tmp_path / "data", 8)
    task = fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "data" / "refcoco_val.json"),
                                              "images": str(tmp_path / "data" / "images"), "train": 4, "eval": 2})
    r = CliRunner().invoke(app, ["train", str(task), "--variant", "grpo", "--model", str(family_dirs["qwen2_5_vl"]),
                                 "--no-ingest", "--json", "max_steps=1", "num_generations=2",
                                 "per_device_train_batch_size=2", "eval.n=2", "eval.batch_size=2",
                                 "generation.max_new_tokens=6", "logging_steps=1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    run = json.loads((results_dir / "runs" / out["run_id"] / "run.json").read_text())
    assert run["status"] == "completed" and run["model_family"]["family"] == "qwen2_5_vl"
    assert (run["answer_format"], run["coords"]) == ("json_boxes", "absolute_pixels")
