"""Report fixtures: one small store with known values per test module (building it is the slow part).

counting: every variant with seeds 0-2. detection: base/sft/grpo with one seed, plus a matching ablation sweep
(hungarian vs sequential, 2 seeds each, num_generations=4 so it shares no context with the standalone runs).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from factory import config, ingest_all, module_results, write_run  # noqa: E402


def make_store(results: Path) -> None:
    root = results / "runs"
    for variant in ("base", "sft", "grpo", "cot-grpo", "sft-grpo"):
        for seed in range(3):
            write_run(root, f"counting-{variant}-s{seed}", "counting", variant, seed)
    for variant in ("base", "sft", "grpo"):
        write_run(root, f"detection-{variant}-s0", "detection", variant, 0, metric="AP")
    for level, ap in (("hungarian", 0.5), ("sequential", 0.4)):
        for seed in range(2):
            cfg = config("detection", "grpo", seed, matching=level, num_generations=4,
                         sweep="ablation-matching", trial=seed)
            write_run(root, f"det-match-{level}-{seed}", "detection", "grpo", seed, metric="AP",
                      metric_value=ap + 0.01 * seed, cfg=cfg, sweep="ablation-matching", trial=seed)
    ingest_all(root)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A module-wide results dir holding the known-values store (also exported as PR1BENCH_RESULTS)."""
    with module_results(tmp_path_factory, "report") as results:
        make_store(results)
        yield results


@pytest.fixture(scope="module")
def sections(store: Path) -> list:
    """Every section of the report over ``store``, with the paper column."""
    from pr1bench.report import build

    return build(with_paper=True)[0]
