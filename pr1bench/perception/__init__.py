"""Torch-free perception core: answer parsing, box geometry, matching, rewards, metrics, complexity.

Imports only the standard library, numpy, scipy and faster-coco-eval, so the CLI, config
validation and reports can use it without loading torch.
"""

from __future__ import annotations

from pr1bench.perception import release_rewards as _release_rewards  # noqa: E402,F401 - registers pr1_* rewards
from pr1bench.perception.complexity import (
    DEFAULT_EDGES,
    bucket,
    bucket_labels,
    log_factorial,
    n_objects,
    sample_complexity,
    targets_complexity,
    task_complexity,
)
from pr1bench.perception.formats import (
    ANSWER_FORMATS,
    COORDS,
    ParsedAnswer,
    extract_answer,
    format_answer,
    parse_answer,
    think_answer_body,
)
from pr1bench.perception.geometry import box_iou, iou_matrix
from pr1bench.perception.matching import MATCHING_MODES, match
from pr1bench.perception.metrics import METRIC_NOTES, METRICS, TASK_TYPES, score_samples
from pr1bench.perception.protocols import PROTOCOLS, parse_for
from pr1bench.perception.rewards import REWARDS, Reward, build_reward, completion_text, reward_arg_names

__all__ = [
    "ANSWER_FORMATS",
    "COORDS",
    "DEFAULT_EDGES",
    "MATCHING_MODES",
    "PROTOCOLS",
    "METRICS",
    "METRIC_NOTES",
    "REWARDS",
    "TASK_TYPES",
    "ParsedAnswer",
    "Reward",
    "box_iou",
    "bucket",
    "bucket_labels",
    "build_reward",
    "completion_text",
    "extract_answer",
    "format_answer",
    "iou_matrix",
    "log_factorial",
    "match",
    "n_objects",
    "parse_answer",
    "parse_for",
    "reward_arg_names",
    "sample_complexity",
    "score_samples",
    "targets_complexity",
    "task_complexity",
    "think_answer_body",
]
