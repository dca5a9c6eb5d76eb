"""Rewards: hand-computed values, TRL call shapes, config validation, matching ablation, pickling."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from pr1bench.perception import REWARDS, build_reward, format_answer, reward_arg_names

DET = {
    "boxes": [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]],
    "labels": ["circle", "square", "circle"],
}
W = H = 100


def _call(name: str, completion: object, target: dict, fmt: str = "json_boxes", **kw) -> float:
    reward = build_reward(name, answer_format=fmt, **kw)
    return reward([completion], target=[json.dumps(target)], width=[W], height=[H], extra_column=["x"])[0]


def _json(boxes, labels) -> str:
    return json.dumps([{"bbox_2d": b, "label": lab} for b, lab in zip(boxes, labels, strict=False)])


def test_registry_names_are_unique_and_stable() -> None:
    names = {
        "format",
        "think_format",
        "grounding_iou",
        "count_points",
        "count_exact",
        "ocr_edit",
        "box_iou",
        "label_match",
        "recall_f1",
        "missing_penalty",
    }
    released = {"pr1_grounding", "pr1_grounding_format", "pr1_counting", "pr1_counting_format", "pr1_detection"}
    assert set(REWARDS) == names | released
    for name in names:
        fmt = {"ocr_edit": "text"}.get(name, "json_boxes")
        assert build_reward(name, answer_format=fmt).__name__ == name


def test_perfect_detection_answer() -> None:
    text = format_answer("json_boxes", DET, width=W, height=H, coords="absolute_pixels")
    for name, value in {
        "format": 1.0,
        "box_iou": 1.0,
        "label_match": 1.0,
        "recall_f1": 1.0,
        "missing_penalty": 0.0,
        "count_exact": 1.0,
        "count_points": 1.0,
    }.items():
        assert _call(name, text, DET) == value, name


def test_partial_detection_hand_values() -> None:
    # two predictions: one exact (right label), one half-overlapping the square (wrong label)
    text = _json([[0, 0, 10, 10], [20, 20, 40, 30]], ["circle", "circle"])
    assert _call("box_iou", text, DET) == pytest.approx((1.0 + 0.5) / 3)
    assert _call("label_match", text, DET) == pytest.approx(0.5)
    assert _call("recall_f1", text, DET) == pytest.approx(2 * 2 / 5)
    assert _call("recall_f1", text, DET, iou_threshold=0.6) == pytest.approx(2 * 1 / 5)
    assert _call("missing_penalty", text, DET) == pytest.approx(-1 / 3)
    assert _call("count_exact", text, DET) == 0.0


def test_hungarian_is_order_invariant_and_sequential_is_not() -> None:
    perm = [2, 0, 1]
    text = _json([DET["boxes"][i] for i in perm], [DET["labels"][i] for i in perm])
    for name in ("box_iou", "label_match", "recall_f1"):
        hung = _call(name, text, DET, matching="hungarian")
        seq = _call(name, text, DET, matching="sequential")
        assert hung == 1.0 and seq < hung, name
    pts = "[[55, 55], [5, 5], [30, 30]]"
    target = {**DET, "count": 3, "label": "shape"}
    assert _call("count_points", pts, target, fmt="points") == pytest.approx(1.0)
    assert _call("count_points", pts, target, fmt="points", matching="sequential") < 0.5


def test_count_points_hand_value() -> None:
    target = {"boxes": [[0, 0, 10, 10], [20, 20, 40, 40]], "points": [[5, 5], [30, 30]], "count": 2}
    d = math.hypot(W, H)
    got = _call("count_points", "[[5, 8]]", target, fmt="points", sigma=0.1)
    assert got == pytest.approx(math.exp(-3 / (0.1 * d)) / 2)
    assert _call("count_exact", "2", target, fmt="count") == 1.0
    assert _call("count_exact", "There are 3", target, fmt="count") == 0.0


def test_grounding_iou_and_squared() -> None:
    target = {"boxes": [[0, 0, 10, 10]], "labels": ["the box"]}
    text = "<|box_start|>(0,0),(50,100)<|box_end|>"  # normalised 0-1000 -> [0, 0, 5, 10] on 100x100
    assert _call("grounding_iou", text, target, fmt="box_tokens", coords="normalized_1000") == 0.5
    assert (
        _call("grounding_iou", text, target, fmt="box_tokens", coords="normalized_1000", squared=True) == 0.25
    )
    assert _call("grounding_iou", "[0, 0, 5, 10] [0, 0, 10, 10]", target, fmt="bracket_boxes") == 0.5


def test_ocr_edit_and_think_rewards() -> None:
    target = {"text": "hello world"}
    assert _call("ocr_edit", "hello world", target, fmt="text") == 1.0
    assert _call("ocr_edit", "hello worle", target, fmt="text") == pytest.approx(1 - 1 / 11)
    cot = "<think>read it</think><answer>hello world</answer>"
    assert _call("ocr_edit", cot, target, fmt="text", require_think=True) == 1.0
    assert _call("ocr_edit", "hello world", target, fmt="text", require_think=True) == 0.0
    assert _call("think_format", cot, target, fmt="text") == 1.0
    assert _call("think_format", "hello world", target, fmt="text") == 0.0
    assert _call("format", "hello", target, fmt="text", require_think=True) == 0.0


def test_trl_completion_shapes_and_dict_targets() -> None:
    reward = build_reward("box_iou", answer_format="json_boxes")
    text = format_answer("json_boxes", DET, width=W, height=H, coords="absolute_pixels")
    completions = [
        text,
        [{"role": "assistant", "content": text}],
        [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
        {"role": "assistant", "content": text},
    ]
    out = reward(completions, target=[DET] * 4, width=[W] * 4, height=[H] * 4, prompts=["p"] * 4)
    assert out == [1.0] * 4


def test_missing_penalty_floor_and_empty_cases() -> None:
    assert _call("missing_penalty", "no idea", DET) == -1.0
    empty = {"boxes": [], "labels": []}
    assert _call("missing_penalty", "[]", empty) == 0.0
    assert _call("box_iou", "[]", empty) == 1.0
    assert _call("recall_f1", "[]", DET) == 0.0


def test_config_errors_are_loud() -> None:
    with pytest.raises(TypeError, match="iou_threshold"):
        build_reward("recall_f1", answer_format="json_boxes", iou_treshold=0.5)
    with pytest.raises(TypeError):
        build_reward("box_iou")  # answer_format is required
    with pytest.raises(ValueError, match="hungarian"):
        build_reward("box_iou", answer_format="json_boxes", matching="hungarain")
    with pytest.raises(ValueError, match="cannot score"):
        build_reward("ocr_edit", answer_format="json_boxes")
    with pytest.raises(ValueError, match="must be float"):
        build_reward("count_points", answer_format="points", sigma="wide")
    with pytest.raises(KeyError, match="box_iou"):
        build_reward("box_iuo", answer_format="json_boxes")
    assert reward_arg_names("grounding_iou") == (
        "answer_format",
        "coords",
        "matching",
        "require_think",
        "squared",
    )


def test_rewards_pickle_with_their_name() -> None:
    reward = build_reward("count_points", answer_format="points", sigma=0.2, matching="sequential")
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "count_points" and clone.sigma == 0.2 and clone.matching == "sequential"
    assert np.isclose(clone(["[[1, 1]]"], target=[{"points": [[1, 1]]}], width=[W], height=[H])[0], 1.0)
