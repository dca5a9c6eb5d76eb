"""Hostile-input corpus and property tests: every reward returns a finite float in its range, never raises."""

from __future__ import annotations

import json
import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pr1bench.perception import ANSWER_FORMATS, COORDS, REWARDS, build_reward, parse_answer

DET = {
    "boxes": [[0, 0, 10, 10], [20, 20, 40, 40]],
    "labels": ["circle", "square"],
    "points": [[5, 5], [30, 30]],
    "count": 2,
    "label": "circle",
    "text": "hello world",
}

HOSTILE: list[object] = [
    "",
    " ",
    "prose with no answer at all",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "[1e309, 1e309, 1e309, 1e309]",
    "[NaN, 0, 1, 1]",
    "[-5, -5, -1, -1]",
    "[10, 10, 0, 0]",
    "[5, 5, 5, 5]",
    "[" * 10_000,
    "]" * 10_000,
    "[" * 10_000 + "]" * 10_000,
    "{" * 5000,
    '{"bbox_2d": [1, 2, 3, 4]}',
    '{"a": [1, 2]}',
    '[{"bbox_2d": "0,0,1,1"}]',
    '[{"bbox_2d": ["a", "b", "c", "d"], "label": 5}]',
    '[{"bbox_2d": null}]',
    '[{"bbox_2d": [1, 2, 3]}]',
    '[{"bbox_2d": [1e400, 2, 3, 4]}]',
    "[[1, 2], [3, 4]]",
    json.dumps([{"bbox_2d": [i, i, i + 5, i + 5], "label": "circle"} for i in range(3000)]),
    "[1, 2, 3, 4] " * 5000,
    "(1,2),(3,4)" * 4000,
    "(" * 20_000,
    "9" * 30_000,
    "٣ ٤ ٥ 🙂 ∞ ½ ⁵",
    "\x00\x01\ud800",
    "<think>" * 1000,
    "<think></think><answer></answer>",
    "<answer>" * 500 + "[1,2,3,4]",
    None,
    42,
    3.5,
    b"[1, 2, 3, 4]",
    [],
    [{}],
    [{"role": "assistant"}],
    [{"role": "assistant", "content": None}],
    [{"role": "assistant", "content": [{"type": "image"}]}],
    {"content": 7},
    [[["nested"]]],
    object(),
]


def _all_rewards():
    for name in REWARDS:
        kind = {
            "ocr_edit": ("text",),
            "count_points": ("points", "json_boxes"),
            "count_exact": ("count", "points", "bracket_boxes"),
        }.get(name, ("json_boxes", "box_tokens"))
        for fmt in kind:
            for coords in COORDS:
                for matching in ("hungarian", "sequential"):
                    yield build_reward(
                        name, answer_format=fmt, coords=coords, matching=matching, require_think=False
                    )


REWARD_OBJS = list(_all_rewards())


def _check(values: list[float], reward) -> None:
    lo, hi = reward.range
    for v in values:
        assert isinstance(v, float) and math.isfinite(v) and lo <= v <= hi, (reward, v)


def test_hostile_corpus_never_raises() -> None:
    n = len(HOSTILE)
    start = time.perf_counter()
    for reward in REWARD_OBJS:
        _check(reward(HOSTILE, target=[json.dumps(DET)] * n, width=[100] * n, height=[100] * n), reward)
    assert time.perf_counter() - start < 30


def test_hostile_columns_never_raise() -> None:
    bad_targets = [
        "not json",
        "[]",
        "null",
        json.dumps({"boxes": "x"}),
        json.dumps({"boxes": [[1, 2]]}),
        {"boxes": [[math.nan, 0, 1, 1]], "labels": [None]},
        None,
        17,
    ]
    n = len(bad_targets)
    for reward in REWARD_OBJS[::4]:
        out = reward(
            ["[1, 2, 3, 4]"] * n,
            target=bad_targets,
            width=[0, -1, None, "x", math.inf, 1e308, 10, 10],
            height=[10] * n,
        )
        _check(out, reward)


def test_parsers_on_hostile_corpus() -> None:
    for fmt in ANSWER_FORMATS:
        for coords in COORDS:
            for text in HOSTILE:
                parse_answer(fmt, text, width=100, height=100, coords=coords)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
json_value = st.recursive(
    json_leaf,
    lambda kids: (
        st.lists(kids, max_size=5)
        | st.dictionaries(st.sampled_from(["bbox_2d", "label", "bbox", "x"]), kids, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        json_value.map(lambda v: json.dumps(v, allow_nan=True)),
        st.lists(st.text(alphabet='[](),.0123456789-e{}":bbox_2dlabel <>|', max_size=40), max_size=20).map(
            "".join
        ),
    )
)
def test_random_text_gives_finite_in_range(text: str) -> None:
    for reward in REWARD_OBJS[::3]:
        _check(reward([text], target=[DET], width=[64], height=[48]), reward)
