"""A raw tiny model built once per test session (random init: the machinery is tested, not learning)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def raw_tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny"
    subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", str(out)], check=True, capture_output=True)
    return out
