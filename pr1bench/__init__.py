"""pr1bench: benchmarking and ablation harness for RL of perception policies in multimodal LLMs."""

from __future__ import annotations

__version__ = "0.1.0"
