"""`pr1bench report --paper` puts our numbers beside the paper's only for runs under the paper's protocol."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from factory import config, ingest_all, module_results, write_run  # noqa: E402


def _store(root: Path, protocols: dict[str, str]) -> None:
    for variant, protocol in protocols.items():
        for seed in range(2):
            cfg = config("pixmo-count", variant, seed)
            cfg["task"]["eval"] = {"protocol": protocol}
            write_run(root, f"pixmo-{variant}-{protocol}-s{seed}", "pixmo-count", variant, seed, cfg=cfg)
    ingest_all(root)


def _main(with_paper: bool = True):
    from pr1bench.report import build

    sections = build(tasks=["pixmo-count"], with_paper=with_paper)[0]
    return next(s for s in sections if s.key == "main-pixmo-count")


def test_paper_column_only_under_the_paper_protocol(tmp_path_factory) -> None:
    with module_results(tmp_path_factory, "paper-r1") as results:
        _store(results / "runs", {"base": "perception-r1", "grpo": "perception-r1"})
        sec = _main()
        assert any(c.startswith("paper (") for c in sec.columns)
        assert "evaluation protocol: perception-r1" in sec.notes
    with module_results(tmp_path_factory, "paper-own") as results:
        _store(results / "runs", {"base": "pr1bench", "grpo": "pr1bench"})
        sec = _main()
        assert not any(c.startswith("paper (") for c in sec.columns)
        assert any("not the paper's 'perception-r1'" in n for n in sec.notes), sec.notes


def test_protocols_are_never_averaged(tmp_path_factory) -> None:
    with module_results(tmp_path_factory, "paper-mixed") as results:
        root = results / "runs"
        _store(root, {"grpo": "perception-r1"})
        cfg = config("pixmo-count", "grpo", 5)
        cfg["task"]["eval"] = {"protocol": "pr1bench"}
        write_run(root, "pixmo-grpo-own-s5", "pixmo-count", "grpo", 5, cfg=cfg, metric_value=0.0)
        ingest_all(root)
        sec = _main()
        assert any("protocols perception-r1, pr1bench found; showing perception-r1 only" in n for n in sec.notes)
        grpo = sec.frame[sec.frame["variant"] == "grpo"].iloc[0]
        assert grpo["seeds"] == 2 and grpo["value"] > 0.0  # the pr1bench run (value 0) is not in the mean
