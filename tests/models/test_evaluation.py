"""Top-K metrics (protocol TOPK) and RMSE, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.evaluation import held_out_ranks, rmse, top_k_metrics

SCORES = np.array(
    [
        [0.9, 0.8, 0.7, 0.1],  # test movie 1: rank 2, or 1 once movie 0 (seen) is removed
        [0.1, 0.2, 0.3, 0.4],  # test movie 0: rank 4
    ]
)


def test_ranks_remove_seen_movies() -> None:
    np.testing.assert_array_equal(held_out_ranks(SCORES, np.array([1, 0]), [[], []]), [2, 4])
    np.testing.assert_array_equal(held_out_ranks(SCORES, np.array([1, 0]), [[0], [3]]), [1, 3])


def test_seen_as_mask_or_lists_agree() -> None:
    mask = np.array([[True, False, False, False], [False, False, True, True]])
    lists = [[0], [2, 3]]
    np.testing.assert_array_equal(
        held_out_ranks(SCORES, np.array([1, 0]), mask),
        held_out_ranks(SCORES, np.array([1, 0]), lists),
    )


def test_ties_count_against_the_test_movie() -> None:
    ranks = held_out_ranks(np.zeros((1, 5)), np.array([2]), [[]])
    assert ranks.tolist() == [5]


def test_hit_rate_and_ndcg() -> None:
    metrics = top_k_metrics(SCORES, np.array([1, 0]), [[], []], k=3)
    assert metrics["hit_rate_at_3"] == pytest.approx(0.5)  # rank 4 misses
    assert metrics["ndcg_at_3"] == pytest.approx((1 / math.log2(3) + 0.0) / 2)
    default = top_k_metrics(SCORES, np.array([1, 0]), [[0], []])
    ndcg = (1.0 + 1 / math.log2(5)) / 2  # ranks 1 and 4
    assert default == {"hit_rate_at_10": 1.0, "ndcg_at_10": pytest.approx(ndcg)}


def test_rmse() -> None:
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(math.sqrt(2.5))
