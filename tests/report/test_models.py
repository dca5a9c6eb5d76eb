"""The report names each run's starting model by identity (builder version, sha256), never by machine path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from factory import ingest_all, module_results, write_run

from pr1bench.report import build
from pr1bench.report.models import describe, describe_models
from pr1bench.report.render import latex, markdown

SHA = "0123456789ab" + "c" * 52
IDENT = {
    "name": f"embedded-v2:{SHA[:12]}",
    "builder_version": 2,
    "weights_sha256": SHA,
    "shipped": True,
    "pretrained": True,
}
SECRET = "/home/someone/checkout"  # a machine path that must never reach a report


def _set_model(run_dir: Path, model: str, identity: dict | None) -> None:
    meta = json.loads((run_dir / "run.json").read_text())
    meta["model"] = model
    if identity is not None:
        meta["model_identity"] = identity
    (run_dir / "run.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def report_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """counting runs that recorded the shipped model's identity; detection runs from before model_identity."""
    with module_results(tmp_path_factory, "models") as results:
        _fill(results / "runs")
        yield results


def _fill(root: Path) -> None:
    """Ingest the runs ``report_store`` describes into the store under ``root``'s results dir."""
    for variant in ("base", "sft", "grpo"):
        d = write_run(root, f"counting-{variant}-s0", "counting", variant, 0)
        _set_model(d, f"{SECRET}/pr1bench/models/weights/tiny-qwen2vl-v2", IDENT)
        d = write_run(root, f"detection-{variant}-s0", "detection", variant, 0, metric="AP")
        _set_model(d, f"{SECRET}/results/models/tiny-qwen2vl-bootstrap", None)
    d = write_run(root, "counting-sft-grpo-s0", "counting", "sft-grpo", 0)  # continues counting-sft-s0
    cont = {"name": "counting-sft-s0/sft_model", "init_run": "counting-sft-s0", "base": IDENT}
    _set_model(d, f"{SECRET}/results/runs/counting-sft-s0/sft_model", cont)
    ingest_all(root)


def test_models_section_and_main_notes_name_identities(report_store: Path) -> None:
    secs = {s.key: s for s in build()[0]}
    rows = {r[0]: r for r in secs["models"].rows}
    assert rows[IDENT["name"]][1:] == ["v2", SHA[:12], "counting", "base, SFT, GRPO, SFT-then-GRPO", "4"]
    assert rows["tiny-qwen2vl-bootstrap"][3] == "detection"  # an old run: the path's last component
    note = f"model: {IDENT['name']} (builder v2, weights sha256 {SHA[:12]}, shipped default)"
    assert note in secs["main-counting"].notes  # the continued run counts as the model it started from
    assert "model: tiny-qwen2vl-bootstrap" in secs["main-detection"].notes


def test_no_machine_path_in_any_format(report_store: Path) -> None:
    secs = build()[0]
    for text in (markdown(secs), latex(secs)):
        assert SECRET not in text and "/pr1bench/models/weights" not in text
    assert "## Models" in markdown(secs)


def test_runs_listing_shows_the_identity(report_store: Path) -> None:
    from pr1bench.store import list_runs

    models = dict(zip(list_runs()["run_id"], list_runs()["model"], strict=True))
    assert models["counting-grpo-s0"] == IDENT["name"]
    assert models["detection-grpo-s0"].startswith(SECRET)  # no identity recorded: the stored field as is


def test_describe_falls_back_without_identity(tmp_path: Path) -> None:
    assert describe({"name": "Qwen/Qwen2-VL-2B-Instruct"}) == "Qwen/Qwen2-VL-2B-Instruct"
    ckpt = tmp_path / "somewhere" / "tiny-qwen2vl-v2"
    ckpt.mkdir(parents=True)
    (ckpt / "pr1bench_model.json").write_text(
        json.dumps({"builder_version": 2, "weights_sha256": {"model.safetensors": SHA}})
    )
    text = describe_models([str(ckpt), "Qwen/Qwen2-VL-2B-Instruct", str(ckpt)])
    assert (
        text
        == f"embedded-v2-raw:{SHA[:12]} (builder v2, weights sha256 {SHA[:12]}), Qwen/Qwen2-VL-2B-Instruct"
    )


def test_study_meta_names_the_model_by_recorded_identity(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`pr1bench study report/check` take the model from the runs' model_identity, not their machine path."""
    from types import SimpleNamespace

    from factory import config

    from pr1bench.cli.study_cmds import _meta
    from pr1bench.study.render import model_text

    with module_results(tmp_path_factory, "study-meta") as results:
        for i, variant in enumerate(("base", "sft", "grpo")):
            cfg = config("counting", variant, 0)
            cfg["run"]["study"] = {"name": "embedded", "quick": True, "arm": "main", "hparams": {}}
            d = write_run(results / "runs", f"m{i}", "counting", variant, 0, cfg=cfg)
            _set_model(d, f"{SECRET}/pr1bench/models/weights/tiny-qwen2vl-v2", IDENT)
        ingest_all(results / "runs")
        meta = _meta(SimpleNamespace(study="embedded"), True)
        assert meta["runs"] == 3 and meta["model_identity"] == [IDENT]
        text = model_text(meta)
        assert IDENT["name"] in text and SECRET not in text
        assert _meta(SimpleNamespace(study="embedded"), False)["model_identity"] == []  # the quick form only
