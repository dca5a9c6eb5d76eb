"""``prepare_run``'s provenance: run.json names the starting model by identity, next to the path it loads."""

from __future__ import annotations

import json
from pathlib import Path

from pr1bench.launch import prepare_run, read_run
from pr1bench.models.tiny import MANIFEST_NAME
from pr1bench.runner import build_spec

SHA = "ab12" * 16


def _checkpoint(path: Path, manifest: dict | None) -> Path:
    """A directory shaped like a checkpoint; identity reads only the manifest, so no weights are needed."""
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if manifest is not None:
        (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    return path


def _prepare(model_path: str, variant: str = "grpo", **fields: object) -> dict:
    spec, task = build_spec("counting", variant, [], check_trl=False, **fields)
    return read_run(prepare_run(spec, task, model_path=model_path))


def test_embedded_checkpoint_is_named_by_manifest_identity(results_dir: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint(
        tmp_path / "home" / "someone" / "tiny-qwen2vl-v2",
        {"builder_version": 2, "weights_sha256": {"model.safetensors": SHA}, "pretrain": {}},
    )
    rec = _prepare(str(ckpt))
    assert rec["model"] == str(ckpt)  # the trainer still loads the path
    ident = rec["model_identity"]
    assert ident["name"] == f"embedded-v2:{SHA[:12]}" and ident["builder_version"] == 2
    assert ident["weights_sha256"] == SHA and ident["pretrained"] and not ident["shipped"]
    assert str(tmp_path) not in json.dumps(ident)


def test_hub_id_and_foreign_checkpoint(results_dir: Path, tmp_path: Path) -> None:
    assert _prepare("Qwen/Qwen2-VL-2B-Instruct")["model_identity"] == {"name": "Qwen/Qwen2-VL-2B-Instruct"}
    foreign = _checkpoint(tmp_path / "deep" / "my-finetune", None)
    assert _prepare(str(foreign))["model_identity"] == {"name": "my-finetune"}


def test_init_run_is_named_after_the_run_it_continues(results_dir: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint(
        tmp_path / "tiny", {"builder_version": 2, "weights_sha256": {"model.safetensors": SHA}}
    )
    parent = _prepare(str(ckpt), "sft")
    final = _checkpoint(results_dir / "runs" / parent["run_id"] / "sft_model", None)
    child = _prepare(str(final), "sft-grpo", init_run=parent["run_id"])["model_identity"]
    assert child["name"] == f"{parent['run_id']}/sft_model" and child["init_run"] == parent["run_id"]
    assert (
        child["base"] == parent["model_identity"] and child["base"]["name"] == f"embedded-v2-raw:{SHA[:12]}"
    )
