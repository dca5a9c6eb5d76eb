"""Loading checkpoints (with a fix-it error when missing) and cheap ``model info``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pr1bench.models.loading import (
    ModelNotFoundError,
    load_model_and_processor,
    model_identity,
    model_info,
    resolve_local,
)
from pr1bench.models.tiny import BUILDER_VERSION


def test_missing_local_path_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError) as err:
        load_model_and_processor(missing)
    assert str(missing) in str(err.value) and "pr1bench model build-tiny" in str(err.value)


def test_directory_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="config.json"):
        model_info(tmp_path)


@pytest.mark.parametrize("hub_id", ["Qwen/Qwen2-VL-2B-Instruct", "gpt2"])
def test_hub_ids_pass_through(hub_id: str) -> None:
    assert resolve_local(hub_id) is None


def test_model_info_is_cheap_and_complete(tiny_dir: Path) -> None:
    info = model_info(tiny_dir)
    manifest = json.loads((tiny_dir / "pr1bench_model.json").read_text())
    assert info["architecture"] == "Qwen2VLForConditionalGeneration"
    assert info["param_count"] == manifest["param_count"]
    assert info["visual_tokens"]["112"] == 16
    assert info["image"] == {"patch": 14, "merge": 2, "min_pixels": 56 * 56, "max_pixels": 112 * 112}
    assert info["manifest"]["seed"] == 0 and info["disk_bytes"] > 1_000_000
    json.dumps(info)  # the CLI prints it with --json
    code = f"import sys; from pr1bench.models.loading import model_info; model_info({str(tiny_dir)!r}); "
    code += "assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_info_names_the_model_by_identity(tiny_dir: Path) -> None:
    info = model_info(tiny_dir)
    sha = info["manifest"]["weights_sha256"]["model.safetensors"]
    assert info["identity"] == {
        "name": f"embedded-v{BUILDER_VERSION}-raw:{sha[:12]}",
        "builder_version": BUILDER_VERSION,
        "weights_sha256": sha,
        "shipped": False,
        "pretrained": False,
    }  # build-tiny alone: random init
    assert model_identity(tiny_dir) == info["identity"]


@pytest.mark.parametrize("word", ["embedded", "tiny"])
def test_model_info_accepts_the_shipped_default_by_name(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    import pr1bench.embedded

    monkeypatch.setattr(pr1bench.embedded, "SHIPPED_DIR", tiny_dir.resolve())
    from typer.testing import CliRunner

    from pr1bench.cli.main import app

    info = model_info(word)
    assert info["path"] == str(tiny_dir.resolve()) and info["identity"]["shipped"] is True
    res = CliRunner().invoke(app, ["model", "info", word, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["identity"] == info["identity"]


def test_model_identity_without_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "my-finetune").mkdir()
    assert model_identity(tmp_path / "my-finetune") == {"name": "my-finetune"}
    assert model_identity("/gone/from/this/machine/tiny-qwen2vl-bootstrap") == {
        "name": "tiny-qwen2vl-bootstrap"
    }
    assert model_identity("Qwen/Qwen2-VL-2B-Instruct") == {"name": "Qwen/Qwen2-VL-2B-Instruct"}


@pytest.mark.parametrize(("width", "height"), [(112, 112), (64, 100), (300, 200), (40, 40)])
def test_visual_token_count_matches_processor(
    tiny: tuple[Any, Any], tiny_dir: Path, width: int, height: int
) -> None:
    from PIL import Image

    from pr1bench.models.loading import visual_tokens

    processor = tiny[1]
    grid = processor.image_processor(images=[Image.new("RGB", (width, height))], return_tensors="pt")[
        "image_grid_thw"
    ]
    expected = int(grid.prod()) // 4
    limits = model_info(tiny_dir)["image"]
    assert visual_tokens(height, width, **limits) == expected


def test_loaded_model_is_ready_for_generation(tiny: tuple[Any, Any]) -> None:
    model, processor = tiny
    assert not model.training and str(model.device) == "cpu"
    assert processor.tokenizer.padding_side == "left"
