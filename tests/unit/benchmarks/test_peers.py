"""Split helpers and the numpy peers, on tiny synthetic data made here.

The metrics themselves are tested in tests/test_topk_metrics.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import data as bdata
from benchmarks import peers, run_peers
from contract import splits, topk_metrics

NUMPY_PEERS = [peers.MostPopular, peers.ItemKNN, lambda: peers.EASE(500.0),
               lambda: peers.EASE(1.0)]


# ------------------------------------------------------------------------------------ loading


def test_read_ratings_file_counts_blank_lines_and_parses_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("5\t10\t3\t100\n\n7\t10\t4.5\t90\n")
    events = bdata.read_ratings_file(path)
    np.testing.assert_array_equal(events.users, [5, 7])
    np.testing.assert_array_equal(events.items, [10, 10])
    np.testing.assert_allclose(events.ratings, [3.0, 4.5])
    np.testing.assert_array_equal(events.timestamps, [100, 90])
    np.testing.assert_array_equal(events.line_numbers, [1, 3])  # line 2 is blank


def test_read_ratings_file_rejects_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\n1\t2\t3\n")
    with pytest.raises(ValueError, match=":2:"):
        bdata.read_ratings_file(path)


def test_index_map_is_contiguous_over_sorted_raw_ids() -> None:
    index_map = bdata.IndexMap.from_ids(np.array([30, 10]), np.array([20, 10]))
    np.testing.assert_array_equal(index_map.ids, [10, 20, 30])
    np.testing.assert_array_equal(index_map.index(np.array([30, 10, 20])), [2, 0, 1])
    with pytest.raises(KeyError):
        index_map.index(np.array([15]))


# ------------------------------------------------------------------------------------- splits


def _tie_rows() -> list[tuple[int, int, float, int]]:
    # user 1: latest timestamp 9 twice (items 3 then 4): the later line (item 4) is the test.
    # user 2: its latest event (item 1, t=50) comes first in the file.
    # user 3: one tie at t=7 between items 2 and 5, plus an older event on a later line.
    return [
        (1, 1, 4, 5), (2, 1, 3, 50), (1, 3, 5, 9), (3, 2, 2, 7), (2, 2, 1, 10),
        (1, 4, 1, 9), (3, 5, 4, 7), (1, 2, 2, 8), (3, 1, 5, 6),
    ]


def test_topk_split_takes_latest_event_with_ties_to_later_line(
    tmp_path: Path, ratings_writer
) -> None:
    events = bdata.read_ratings_file(ratings_writer(tmp_path / "u.data", _tie_rows()))
    split = bdata.topk_split(events)
    raw_test = dict(zip(split.users.ids[split.test_users].tolist(),
                        split.items.ids[split.test_items].tolist(), strict=True))
    assert raw_test == {1: 4, 2: 1, 3: 5}
    np.testing.assert_array_equal(split.test_users, [0, 1, 2])
    assert len(split.train_users) == len(events) - 3
    assert split.protocol == splits.Protocol.TOPK.value


def test_topk_split_seen_sets_hold_exactly_the_training_items(
    tmp_path: Path, ratings_writer
) -> None:
    events = bdata.read_ratings_file(ratings_writer(tmp_path / "u.data", _tie_rows()))
    split = bdata.topk_split(events)
    # items 1..5 -> indices 0..4; user 1 trains on items 1, 3, 2 (item 4 is its test)
    assert [s.tolist() for s in split.seen] == [[0, 1, 2], [1], [0, 1]]
    matrix = split.train_matrix()
    assert matrix.shape == (3, 5)
    assert matrix.sum() == len(split.train_users)
    np.testing.assert_allclose(split.train_matrix(binary=False)[0, 2], 5.0)


def test_topk_split_test_event_is_never_older_than_training(planted) -> None:
    events = bdata.load_ratings(planted.data_dir)
    split = bdata.topk_split(events)
    assert len(split.test_users) == split.n_users == 30
    for user in range(split.n_users):
        times = events.timestamps[events.users == split.users.ids[user]]
        test_item = split.items.ids[split.test_items[user]]
        mine = (events.users == split.users.ids[user]) & (events.items == test_item)
        assert events.timestamps[mine][0] == times.max()
    assert set(split.test_items[list(planted.target_users)].tolist()) == {planted.item}


def test_rating_split_follows_protocol_hash_and_partitions_events(ratings_writer,
                                                                  tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = [(int(u), int(i), float(r), int(t)) for u, i, r, t in zip(
        rng.integers(1, 50, 3000), rng.integers(1, 80, 3000), rng.integers(1, 6, 3000),
        rng.integers(0, 10**6, 3000), strict=True)]
    events = bdata.read_ratings_file(ratings_writer(tmp_path / "u.data", rows))
    split = bdata.rating_split(events)
    expected = np.array([splits.rating_split_is_test(n) for n in range(1, 3001)])
    assert len(split.test_users) == expected.sum()
    assert len(split.train_users) + len(split.test_users) == 3000
    assert 0.17 < expected.mean() < 0.23
    # the test part's ratings are those of the hashed lines (sorted order aside)
    test_rows = sorted((u, i, r) for (u, i, r, _), e in zip(rows, expected, strict=True) if e)
    got = sorted(zip(split.users.ids[split.test_users].tolist(),
                     split.items.ids[split.test_items].tolist(),
                     split.test_ratings.tolist(), strict=True))
    assert got == test_rows
    other_seed = bdata.rating_split(events, seed=7)
    expected_7 = splits.rating_split_mask(np.arange(1, 3001), seed=7)
    assert len(other_seed.test_users) == expected_7.sum() and (expected_7 != expected).any()


def test_presplit_split_keeps_the_given_test_file(tmp_path: Path, ratings_writer) -> None:
    ratings_writer(tmp_path / "u1.base", [(1, 10, 4, 1), (2, 20, 3, 2)])
    ratings_writer(tmp_path / "u1.test", [(2, 10, 5, 3), (1, 30, 1, 4)])
    split = bdata.presplit_split(*bdata.load_presplit(tmp_path, "u1"))
    assert split.protocol == splits.Protocol.PRESPLIT.value
    assert split.n_items == 3  # item 30 only occurs in the test file and still has an index
    assert sorted(zip(split.test_users.tolist(), split.test_items.tolist(),
                      split.test_ratings.tolist(), strict=True)) == [(0, 2, 1.0), (1, 0, 5.0)]
    np.testing.assert_array_equal(np.sort(split.train_ratings), [3.0, 4.0])


# -------------------------------------------------------------------------------------- peers


def _planted_split(planted) -> bdata.Split:
    return bdata.topk_split(bdata.load_ratings(planted.data_dir))


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
