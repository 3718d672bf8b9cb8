"""The numpy peers, on tiny synthetic data made here (the splits: test_data.py).

The metrics themselves are tested in tests/unit/contract/test_topk_metrics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import data as bdata
from benchmarks import peers, run_peers
from contract import topk_metrics

NUMPY_PEERS = [peers.MostPopular, peers.ItemKNN, lambda: peers.EASE(500.0),
               lambda: peers.EASE(1.0)]


# -------------------------------------------------------------------------------------- peers


def _planted_split(planted) -> bdata.Split:
    return bdata.load_split(planted.data_dir)


@pytest.mark.parametrize("make_peer", NUMPY_PEERS, ids=["popular", "knn", "ease500", "ease1"])
def test_numpy_peers_rank_the_planted_item_first(planted, make_peer) -> None:
    split = _planted_split(planted)
    peer = make_peer().fit(split.train_matrix())
    scores = peer.score()
    assert scores.shape == (split.n_users, split.n_items)
    assert peer.fit_seconds >= 0.0
    top = topk_metrics.top_k_items(scores, split.seen, k=1)[:, 0]
    for user in planted.target_users:
        assert top[user] == planted.item
    # the whole TOPK evaluation path: the target users' test item is the planted one
    ranks = topk_metrics.held_out_ranks(scores, split.test_items, split.seen)
    assert ranks[list(planted.target_users)].tolist() == [1] * len(planted.target_users)


@pytest.mark.parametrize("make_peer", NUMPY_PEERS, ids=["popular", "knn", "ease500", "ease1"])
def test_numpy_peers_recommendations_exclude_seen_items(planted, make_peer) -> None:
    split = _planted_split(planted)
    scores = make_peer().fit(split.train_matrix()).score()
    top = topk_metrics.top_k_items(scores, split.seen, k=5)
    for user in range(split.n_users):
        assert not set(top[user].tolist()) & set(split.seen[user].tolist())
    # users who saw the planted item must not get it back, though it is the most popular
    seen_planted = [u for u in range(split.n_users) if planted.item in split.seen[u]]
    assert len(seen_planted) == 25
    assert all(planted.item not in top[u] for u in seen_planted)


def test_ease_matches_closed_form_on_a_small_matrix() -> None:
    x = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float32)
    peer = peers.EASE(l2=2.0).fit(sp.csr_matrix(x))
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(3))
    expected = np.eye(3) - p / np.diag(p)
    np.testing.assert_allclose(peer.weights, expected, atol=1e-10)
    np.testing.assert_allclose(np.diag(peer.weights), 0.0)
    np.testing.assert_allclose(peer.score(), x @ expected, atol=1e-6)


def test_item_knn_similarity_is_cosine_and_neighbours_truncate() -> None:
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=np.float32))
    full = peers.ItemKNN().fit(x).similarity
    assert full[0, 1] == pytest.approx(2 / math.sqrt(3 * 2))
    assert full[1, 2] == 0.0 and full[0, 0] == 0.0
    one = peers.ItemKNN(neighbours=1).fit(x).similarity
    assert np.count_nonzero(one, axis=0).max() == 1
    assert one[0, 1] == full[0, 1]  # item 1's single neighbour is item 0


def test_run_reports_missing_optional_library_as_error(planted, monkeypatch) -> None:
    class Missing(peers.MostPopular):
        name = "missing"

        def fit(self, train: sp.csr_matrix) -> Missing:
            raise ImportError("No module named 'implicit'")

    monkeypatch.setattr(peers, "topk_peers", lambda: [peers.MostPopular(), Missing()])
    results = run_peers.run_topk_peers(_planted_split(planted))
    assert "implicit" in results["missing"]["error"]
    assert results["most_popular"]["hit_rate_at_10"] == pytest.approx(
        topk_metrics.top_k_metrics(*_popularity_inputs(planted))["hit_rate_at_10"])
    assert "missing" in run_peers.format_table(results)


def _popularity_inputs(planted) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    split = _planted_split(planted)
    return (peers.MostPopular().fit(split.train_matrix()).score(), split.test_items,
            split.seen)
