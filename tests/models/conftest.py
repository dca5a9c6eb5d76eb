"""Shared fixtures: one tiny model per test session (building takes a few seconds), fully offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers/huggingface_hub read it
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

SEED = 0


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """A sub-1M-parameter model gains nothing from intra-op threads, and on a busy 2-core machine two threads
    were measured 7x slower than one (spin-waiting); restored after this directory's tests."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly built default tiny model (seed 0, 112 px)."""
    pytest.importorskip("transformers")
    from pr1bench.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=SEED)


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> tuple[Any, Any]:
    """``(model, processor)`` loaded back through the Auto classes."""
    from pr1bench.models.loading import load_model_and_processor

    return load_model_and_processor(tiny_dir)


@pytest.fixture()
def red_circle() -> Any:
    """A 112x112 white image with one red circle, like the synthetic tasks draw."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (112, 112), "white")
    ImageDraw.Draw(img).ellipse((30, 40, 70, 80), fill="red")
    return img
