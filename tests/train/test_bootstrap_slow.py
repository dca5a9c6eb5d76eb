"""`pr1bench model bootstrap` end to end with a shortened recipe: build, pretrain (killed and resumed), evaluate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app

pytestmark = pytest.mark.slow


def test_shortened_bootstrap_builds_a_loadable_identified_model(results_dir) -> None:
    r = CliRunner().invoke(app, ["model", "bootstrap", "--steps", "30", "--vision-steps", "10", "--stage-steps", "12",
                                 "--eval-n", "8", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    from pathlib import Path

    path = Path(out["path"])
    assert path.parent == results_dir / "models" and not path.with_name(path.name + ".partial").exists()
    assert set(out["eval"]) == {"grounding", "counting", "detection", "ocr"}
    assert all(0.0 <= v["value"] <= 1.0 for v in out["eval"].values())
    manifest = json.loads((path / "pr1bench_model.json").read_text())
    from pr1bench.train.pretrain import LAST_STAGE, earlier_stages

    earlier, last = earlier_stages(manifest), manifest["pretrain"]
    assert len(earlier) == LAST_STAGE - 1 and last["stage"] == LAST_STAGE and last["steps_done"] == 12
    stage1 = earlier[0]
    assert stage1["steps_done"] == 30 and stage1["recipe"]["steps"] == 30 and stage1["recipe"]["vision_steps"] == 10
    chain = [*earlier, last]
    assert all(b["recipe"]["init"] == f"recipe:{a['recipe_digest']}" for a, b in zip(chain, chain[1:], strict=False))
    raw = json.loads((results_dir / "models" / "tiny-qwen2vl" / "pr1bench_model.json").read_text())
    assert manifest["base_weights_sha256"] == raw["weights_sha256"]  # the random init every stage grew from
    s1_dir = results_dir / "models" / "tiny-qwen2vl-v3-bootstrap"
    assert stage1["weights_sha256"] == json.loads((s1_dir / "pr1bench_model.json").read_text())["weights_sha256"]
    from pr1bench.embedded import identity
    from pr1bench.models.tiny import BUILDER_VERSION

    assert identity(path)["name"].startswith(f"embedded-v{BUILDER_VERSION}s{LAST_STAGE}:")
    from transformers import AutoModelForImageTextToText, AutoProcessor

    AutoProcessor.from_pretrained(path)
    AutoModelForImageTextToText.from_pretrained(path)


def test_killed_pretraining_resumes_from_its_checkpoint(tmp_path) -> None:
    base = tmp_path / "tiny"
    subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", str(base)], check=True, capture_output=True)
    out = tmp_path / "pt"
    cmd = [sys.executable, "-m", "pr1bench.train.pretrain", str(out), "--base", str(base), "--steps", "40",
           "--save-every", "5", "--final-eval-n", "4", "--vision-steps", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    state = out.with_name("pt.partial") / "pretrain_state.pt"
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists() and not out.exists()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert "resumed at step" in done.stdout
    manifest = json.loads((out / "pr1bench_model.json").read_text())
    assert manifest["pretrain"]["steps_done"] == 40
