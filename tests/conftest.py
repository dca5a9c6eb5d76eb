"""Shared fixtures: every test gets its own results dir, and nothing reaches the network."""

from __future__ import annotations

import os

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
