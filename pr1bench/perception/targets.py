"""Reading canonical target dicts (from dataset rows, where they travel as JSON strings)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from pr1bench.perception.geometry import as_boxes, as_points


@functools.lru_cache(maxsize=4096)
def _decode_target(text: str) -> dict[str, Any] | None:
    """Targets repeat once per rollout in a GRPO group: decode each JSON string once."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def as_target(target: object) -> Mapping[str, Any] | None:
    """A canonical target dict from a dict or its JSON string (``None`` when unreadable)."""
    if isinstance(target, Mapping):
        return target
    if isinstance(target, bytes):
        target = target.decode("utf-8", "replace")
    if isinstance(target, str):
        return _decode_target(target)
    return None


def target_count(target: Mapping[str, Any]) -> int:
    """Ground-truth count: ``count`` when given, else the number of boxes (or points)."""
    if target.get("count") is not None:
        return int(target["count"])
    return len(as_boxes(target.get("boxes", []))) or len(as_points(target.get("points", [])))


def target_labels(target: Mapping[str, Any]) -> list[str]:
    """Per-box labels normalised for comparison (stripped, lower case)."""
    labels = target.get("labels")
    if not isinstance(labels, list):
        return []
    return [str(x).strip().lower() for x in labels]
