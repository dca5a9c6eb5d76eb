"""Reference numbers and the tolerance check behind `pr1bench study check` / `nox -s repro`."""

from __future__ import annotations

import pandas as pd

from pr1bench.study.findings import StudyData
from pr1bench.study.render import TOLERANCES, compare_reference, reference_numbers


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
