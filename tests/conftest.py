"""Shared fixtures: every test gets its own results dir, and nothing reaches the network."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """A fresh results root for the test (env var and in-process override both point at it)."""
    from pr1bench.paths import set_results_dir

    root = tmp_path / "results"
    monkeypatch.setenv("PR1BENCH_RESULTS", str(root))
    set_results_dir(root)
    yield root
    set_results_dir(None)


@pytest.fixture(scope="session")
def raw_tiny(tmp_path_factory):
    """A raw (random-init) tiny Qwen2-VL built once per test session: tests the machinery, not learning."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", str(out)], check=True, capture_output=True)
    return out
