"""Box geometry, matching and edit distance: the primitives every reward and metric builds on."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pr1bench.perception.geometry import box_iou, distance_matrix, iou_matrix
from pr1bench.perception.matching import match
from pr1bench.perception.textdist import levenshtein, normalized_edit_distance, token_prf

coord = st.floats(-100, 100, allow_nan=False)
box = st.lists(coord, min_size=4, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(box, min_size=1, max_size=6), st.lists(box, min_size=1, max_size=6))
def test_iou_symmetric_and_bounded(a, b) -> None:
    m = iou_matrix(np.array(a), np.array(b))
    np.testing.assert_allclose(m, iou_matrix(np.array(b), np.array(a)).T)
    assert np.all((m >= 0) & (m <= 1))


def test_iou_hand_cases() -> None:
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == 50 / 150
    assert box_iou([0, 0, 0, 10], [0, 0, 0, 10]) == 0.0  # zero area
    assert box_iou([10, 10, 0, 0], [0, 0, 10, 10]) == 0.0  # inverted
    assert box_iou([0, 0, 1, 1], [5, 5, 6, 6]) == 0.0
    assert iou_matrix(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)


def test_hungarian_is_optimal_sequential_is_positional() -> None:
    w = np.array([[0.1, 0.9], [0.8, 0.2]])
    rows, cols = match(w, "hungarian")
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=False)) == [(0, 1), (1, 0)]
    rows, cols = match(w, "sequential")
    assert rows.tolist() == cols.tolist() == [0, 1]
    d = distance_matrix(np.array([[0, 0], [10, 0]]), np.array([[10, 0], [0, 0]]))
    rows, cols = match(d, "hungarian", maximize=False)
    assert d[rows, cols].sum() == 0.0


def _dp(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcé字 ", max_size=90), st.text(alphabet="abcé字 ", max_size=90))
def test_levenshtein_matches_dynamic_programme(a: str, b: str) -> None:
    assert levenshtein(a, b) == _dp(a, b)


def test_text_distances_hand_cases() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert normalized_edit_distance("", "") == 0.0
    assert normalized_edit_distance("abcd", "") == 1.0
    assert normalized_edit_distance("abcd", "abce") == 0.25
    assert token_prf("a b c", "a b d e") == (2 / 3, 2 / 4, 4 / 7)
    assert token_prf("中文", "中") == (0.5, 1.0, 2 / 3)
    big = "ab" * 10_000
    assert levenshtein(big, big[::-1]) == 2  # 20k chars: runs quickly thanks to the bit-parallel form
