"""Reference numbers, the tolerance check behind `pr1bench study check`, and the study.md model line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from pr1bench.study.findings import StudyData
from pr1bench.study.render import (
    TOLERANCES,
    compare_reference,
    markdown,
    model_text,
    reference_numbers,
    write_reference,
)


def _data() -> StudyData:
    rows = []
    for seed, acc in ((0, 0.4), (1, 0.6)):
        for bucket in ("all", "1", "7-10"):
            rows.append({"run_id": f"r{seed}", "key": f"k{seed}", "arm": "main", "task": "counting",
                         "variant": "sft", "seed": seed, "metric": "acc", "bucket": bucket, "value": acc})
        rows.append({"run_id": f"r{seed}", "key": f"k{seed}", "arm": "main", "task": "counting", "variant": "sft",
                     "seed": seed, "metric": "mae", "bucket": "all", "value": 3.0})
    return StudyData(pd.DataFrame(rows), pd.DataFrame(), {"counting": "acc"}, [0, 1])


def test_reference_keeps_primary_metric_overall_and_high_bucket_means():
    ref = reference_numbers(_data(), {"counting": "7-10"})
    assert ref == {"main/counting/sft/acc/7-10": 0.5, "main/counting/sft/acc/all": 0.5}


def test_compare_flags_drift_and_missing_values():
    ref = {"values": {"main/counting/sft/acc/all": 0.5, "main/counting/grpo/acc/all": 0.5,
                      "main/counting/sft/reward_sampled/all": 1.0}}
    new = {"main/counting/sft/acc/all": 0.5 + TOLERANCES["default"] + 0.01,
           "main/counting/sft/reward_sampled/all": 1.0 + TOLERANCES["reward_sampled"] - 0.01}
    rows = {r["key"]: r for r in compare_reference(ref, new)}
    assert not rows["main/counting/sft/acc/all"]["ok"]
    assert not rows["main/counting/grpo/acc/all"]["ok"] and rows["main/counting/grpo/acc/all"]["new"] is None
    assert rows["main/counting/sft/reward_sampled/all"]["ok"]
    loose = {r["key"]: r for r in compare_reference(ref, new, {"*": 0.5})}
    assert loose["main/counting/sft/acc/all"]["ok"] and loose["main/counting/sft/acc/all"]["tolerance"] == 0.5


SHA = "fedcba987654" + "0" * 52


def _study() -> SimpleNamespace:
    return SimpleNamespace(study="demo", description="A demo.", tasks=["counting"], ablations={},
                           high_complexity={"counting": "7-10"})


def test_study_report_names_the_model_by_identity_not_path(tmp_path: Path) -> None:
    ckpt = tmp_path / "home" / "someone" / "tiny-qwen2vl-v2"
    ckpt.mkdir(parents=True)
    (ckpt / "pr1bench_model.json").write_text(json.dumps(
        {"builder_version": 2, "weights_sha256": {"model.safetensors": SHA}, "pretrain": {}}))
    meta = {"runs": 2, "model": f"{ckpt}, /gone/from/here/tiny-qwen2vl-bootstrap, Qwen/Qwen2-VL-2B-Instruct"}
    md = markdown(_study(), _data(), [], quick=False, meta=meta)
    line = next(ln for ln in md.splitlines() if "Model: " in ln)
    assert (f"Model: embedded-v2:{SHA[:12]} (builder v2, weights sha256 {SHA[:12]}), tiny-qwen2vl-bootstrap, "
            "Qwen/Qwen2-VL-2B-Instruct.") in line
    assert str(tmp_path) not in md and "/gone/" not in md
    ref = write_reference(tmp_path / "ref.json", _study(), _data(), [], quick=False, meta=meta).read_text()
    assert json.loads(ref)["model"] == model_text(meta) and str(tmp_path) not in ref


def test_recorded_identities_win_over_paths() -> None:
    ident = {"name": f"embedded-v2:{SHA[:12]}", "builder_version": 2, "weights_sha256": SHA, "shipped": True}
    meta = {"model": "/somewhere/else", "model_identity": [ident]}
    want = f"embedded-v2:{SHA[:12]} (builder v2, weights sha256 {SHA[:12]}, shipped default)"
    assert model_text(meta) == want
    assert "identity not recorded" in model_text({"model": None})
