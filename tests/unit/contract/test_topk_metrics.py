"""Protocol TOPK metrics and RMSE (`contract.topk_metrics`), checked against hand-computed values.

One set of definitions for the Trainer and the benchmark peers; `trainer.evaluation.model_ranks`
(the TF scoring loop) is exercised through the models in tests/unit/trainer/models.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from contract.topk_metrics import (
    held_out_ranks,
    metrics_from_ranks,
    rmse,
    seen_mask,
    subset_hit_rate,
    top_k_items,
    top_k_metrics,
)

SCORES = np.array([
    [0.9, 0.8, 0.7, 0.1, 0.5],  # seen {0}: unseen order 1, 2, 4, 3 -> test 2 at rank 2
    [0.3, 0.2, 0.3, 0.3, 0.5],  # seen {3, 4}: unseen movie 2 ties test 0 -> rank 2; seen 3 not
    [0.0, 0.0, 0.0, 0.0, 0.0],  # nothing seen, all tied: ties count against -> rank 5
])
TEST_ITEMS = np.array([2, 0, 1])
SEEN = [np.array([0]), np.array([3, 4]), np.array([], dtype=np.int64)]
SEEN_MASK = np.array([[True, False, False, False, False],
                      [False, False, False, True, True],
                      [False, False, False, False, False]])

SMALL = np.array([
    [0.9, 0.8, 0.7, 0.1],  # test movie 1: rank 2, or 1 once movie 0 (seen) is removed
    [0.1, 0.2, 0.3, 0.4],  # test movie 0: rank 4
])


# -------------------------------------------------------------------------------------- ranks


def test_ranks_exclude_seen_and_count_ties_against_the_test_item() -> None:
    ranks = held_out_ranks(SCORES, TEST_ITEMS, SEEN)
    np.testing.assert_array_equal(ranks, [2, 2, 5])
    assert ranks.dtype == np.int64


def test_ranks_remove_seen_movies() -> None:
    np.testing.assert_array_equal(held_out_ranks(SMALL, np.array([1, 0]), [[], []]), [2, 4])
    np.testing.assert_array_equal(held_out_ranks(SMALL, np.array([1, 0]), [[0], [3]]), [1, 3])


def test_ties_count_against_the_test_movie() -> None:
    assert held_out_ranks(np.zeros((1, 5)), np.array([2]), [[]]).tolist() == [5]


@pytest.mark.parametrize("seen", [SEEN, SEEN_MASK, [s.tolist() for s in SEEN]],
                         ids=["index arrays", "mask", "lists"])
def test_both_seen_forms_agree(seen) -> None:
    np.testing.assert_array_equal(held_out_ranks(SCORES, TEST_ITEMS, seen), [2, 2, 5])
    np.testing.assert_array_equal(top_k_items(SCORES, seen, k=2), [[1, 2], [0, 2], [0, 1]])


def test_seen_mask_from_indices_and_passthrough() -> None:
    np.testing.assert_array_equal(seen_mask(SEEN, 5), SEEN_MASK)
    assert seen_mask(SEEN_MASK, 5) is SEEN_MASK
    assert seen_mask([[], []], 3).tolist() == [[False] * 3] * 2


def test_ranks_leave_the_callers_mask_alone() -> None:
    mask = SEEN_MASK.copy()
    held_out_ranks(SCORES, TEST_ITEMS, mask)
    np.testing.assert_array_equal(mask, SEEN_MASK)


@pytest.mark.parametrize("seen", [[[0]], np.array([[True, False, False]])], ids=["lists", "mask"])
def test_a_seen_test_item_is_a_miss(seen) -> None:
    scores = np.array([[5.0, 1.0, 0.0]])  # the best score, but the user rated it in training
    assert held_out_ranks(scores, np.array([0]), seen).tolist() == [4]  # M + 1
    assert top_k_metrics(scores, np.array([0]), seen, k=3) == {"hit_rate_at_3": 0.0,
                                                               "ndcg_at_3": 0.0}


@pytest.mark.parametrize("test_item", [4, 100, -1])
def test_a_test_item_outside_the_catalogue_is_a_miss(test_item: int) -> None:
    scores = np.array([[0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.7, 0.6]])
    ranks = held_out_ranks(scores, np.array([test_item, 0]), [[], []])
    assert ranks.tolist() == [5, 1]  # M + 1 for the unknown movie; the other user is unaffected


def test_ranks_need_one_row_per_user() -> None:
    with pytest.raises(ValueError, match="one row per user"):
        held_out_ranks(SCORES, TEST_ITEMS[:2], SEEN)
    with pytest.raises(ValueError, match="one row per user"):
        top_k_metrics(SCORES, TEST_ITEMS, SEEN[:2])
    with pytest.raises(ValueError, match="one row per user"):
        held_out_ranks(SCORES[0], TEST_ITEMS[:1], SEEN[:1])  # scores must be [U, M]


def test_a_seen_mask_must_cover_the_catalogue() -> None:
    with pytest.raises(ValueError, match="seen mask"):
        held_out_ranks(SCORES, TEST_ITEMS, SEEN_MASK[:, :4])


# ------------------------------------------------------------------------------------ metrics


@pytest.mark.parametrize(("k", "hr", "ndcg"), [
    (1, 0.0, 0.0),
    (2, 2 / 3, 2 / math.log2(3) / 3),
    (4, 2 / 3, 2 / math.log2(3) / 3),
    (5, 1.0, (2 / math.log2(3) + 1 / math.log2(6)) / 3),
])
def test_top_k_metrics_hand_computed(k: int, hr: float, ndcg: float) -> None:
    result = top_k_metrics(SCORES, TEST_ITEMS, SEEN, k=k)
    assert result == pytest.approx({f"hit_rate_at_{k}": hr, f"ndcg_at_{k}": ndcg})


def test_hit_rate_and_ndcg_with_the_default_k() -> None:
    metrics = top_k_metrics(SMALL, np.array([1, 0]), [[], []], k=3)
    assert metrics["hit_rate_at_3"] == pytest.approx(0.5)  # rank 4 misses
    assert metrics["ndcg_at_3"] == pytest.approx((1 / math.log2(3) + 0.0) / 2)
    default = top_k_metrics(SMALL, np.array([1, 0]), [[0], []])
    ndcg = (1.0 + 1 / math.log2(5)) / 2  # ranks 1 and 4
    assert default == {"hit_rate_at_10": 1.0, "ndcg_at_10": pytest.approx(ndcg)}


def test_metrics_from_ranks() -> None:
    result = metrics_from_ranks(np.array([1, 3, 11]), k=10)
    assert result == pytest.approx({"hit_rate_at_10": 2 / 3,
                                    "ndcg_at_10": (1.0 + 1 / math.log2(4)) / 3})


def test_a_constant_scorer_gets_no_credit() -> None:
    scores = np.zeros((4, 30))
    result = top_k_metrics(scores, np.arange(4), [np.array([], int)] * 4, k=10)
    assert result == {"hit_rate_at_10": 0.0, "ndcg_at_10": 0.0}


def test_subset_hit_rate_counts_and_empty_subset() -> None:
    ranks = np.array([1, 20, 3, 11])
    assert subset_hit_rate(ranks, np.array([True, True, False, True])) == {
        "hit_rate_at_10": pytest.approx(1 / 3), "count": 3}
    assert subset_hit_rate(ranks, np.zeros(4, bool), k=5) == {"hit_rate_at_5": None, "count": 0}


# ---------------------------------------------------------------------------------- top items


def test_top_k_items_drops_seen_items() -> None:
    top = top_k_items(SCORES, SEEN, k=2)
    np.testing.assert_array_equal(top, [[1, 2], [0, 2], [0, 1]])  # ties: lower index first
    assert top.dtype == np.int64


def test_top_k_items_puts_seen_items_last() -> None:
    top = top_k_items(np.array([[3.0, 2.0, 1.0]]), [[0, 1]], k=3)
    assert top.tolist() == [[2, 0, 1]]


# --------------------------------------------------------------------------------------- rmse


def test_rmse_hand_computed() -> None:
    assert rmse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == (
        pytest.approx(math.sqrt(4 / 3)))
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(math.sqrt(2.5))


def test_rmse_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        rmse(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="shape mismatch"):
        rmse(np.ones((3, 1)), np.ones(3))  # would broadcast to [3, 3] silently


# ------------------------------------------------------------------------------------- import


def test_imports_no_tensorflow() -> None:
    code = ("import sys; import contract.topk_metrics; "
            "assert 'tensorflow' not in sys.modules, 'contract.topk_metrics imported tensorflow'")
    subprocess.run([sys.executable, "-c", code], check=True)
