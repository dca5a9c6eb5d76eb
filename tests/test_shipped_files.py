"""Shipped files (reference results, the embedded model's manifest and recipe) carry no machine paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "results" / "reference", ROOT / "pr1bench" / "models" / "weights"]
TEXT = {".md", ".json", ".jsonl", ".svg", ".yaml", ".txt"}
#: an absolute POSIX path under a typical machine root, or a Windows drive path
MACHINE_PATH = re.compile(r"(?<![\w.])(/(?:home|root|tmp|work|Users|mnt|scratch|var|opt|data|check)/[\w.-]+"
                          r"|[A-Za-z]:\\\\?[\w.-]+)")


def _files() -> list[Path]:
    return sorted(p for d in SHIPPED if d.is_dir() for p in d.rglob("*") if p.is_file() and p.suffix in TEXT)


def test_there_are_shipped_files_to_check() -> None:
    assert any(p.name == "RECIPE.md" for p in _files()) and any(p.name == "study.md" for p in _files())


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths(path: Path) -> None:
    hits = MACHINE_PATH.findall(path.read_text(errors="replace"))
    assert not hits, f"{path.relative_to(ROOT)} names machine paths {hits[:3]}: write paths relative to the results root"


def test_the_pattern_catches_what_it_should() -> None:
    assert MACHINE_PATH.search("model: /home/someone/checkout/results/models/x")
    assert MACHINE_PATH.search('"run_dir": "/tmp/pytest-of-root/p0"')
    assert not MACHINE_PATH.search("results/reference/study-embedded/study.md and https://example.org/tmp/x")
