"""Peers on the optional libraries (`implicit`, `scikit-surprise`: requirements/benchmark.txt).

Marked `benchmark_extra` so the default suite can leave them out (`-m "not benchmark_extra"`).
They never skip: without the libraries the imports below fail, and so do these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import implicit  # noqa: F401  (fail, don't skip, when the extra is missing)
import numpy as np
import pytest
import surprise  # noqa: F401

from benchmarks import data as bdata
from benchmarks import peers, run_peers
from contract import topk_metrics

pytestmark = pytest.mark.benchmark_extra

PEER_NAMES = {"most_popular", "item_knn", "ease", "als", "bpr", "sasrec", "baseline_only", "svd",
              "svdpp"}


def _planted_split(planted) -> bdata.Split:
    return bdata.load_split(planted.data_dir)


@pytest.mark.parametrize("make_peer", [peers.ALS, peers.BPR], ids=["als", "bpr"])
def test_implicit_peers_rank_planted_item_first_and_skip_seen(planted, make_peer) -> None:
    split = _planted_split(planted)
    peer = make_peer().fit(split.train_matrix())
    scores = peer.score()
    assert scores.shape == (split.n_users, split.n_items)
    assert np.isfinite(scores).all()
    assert peer.fit_seconds > 0.0
    top = topk_metrics.top_k_items(scores, split.seen, k=3)
    assert [top[u, 0] for u in planted.target_users] == [planted.item] * 5
    for user in range(split.n_users):
        assert not set(top[user].tolist()) & set(split.seen[user].tolist())


@pytest.mark.parametrize("make_peer", [peers.ALS, peers.BPR], ids=["als", "bpr"])
def test_implicit_peers_are_reproducible_with_a_fixed_seed(planted, make_peer) -> None:
    train = _planted_split(planted).train_matrix()
    first = make_peer().fit(train).score()
    np.testing.assert_array_equal(first, make_peer().fit(train).score())
    assert not np.allclose(first, make_peer(seed=1).fit(train).score())


def test_implicit_peers_use_the_anchor_settings() -> None:
    als, bpr = peers.ALS(), peers.BPR()
    assert (als.params["factors"], als.params["regularization"], als.params["iterations"]) == (
        64, 0.05, 20)
    assert (bpr.params["factors"], bpr.params["iterations"]) == (64, 100)


def _biased_ratings(n_users: int = 60, n_items: int = 40, seed: int = 3):
    """Ratings = 3 + user bias + item bias + small noise, rounded and clipped to 1..5."""
    rng = np.random.default_rng(seed)
    user_bias, item_bias = rng.normal(0, 0.8, n_users), rng.normal(0, 0.8, n_items)
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)
                      if rng.random() < 0.5])
    users, items = pairs[:, 0], pairs[:, 1]
    noise = rng.normal(0, 0.3, len(users))
    ratings = np.clip(np.round(3 + user_bias[users] + item_bias[items] + noise), 1, 5)
    test = rng.random(len(users)) < 0.2
    return users, items, ratings.astype(np.float32), test


@pytest.mark.parametrize("algorithm", ["BaselineOnly", "SVD", "SVDpp"])
def test_surprise_peers_beat_the_global_mean(algorithm: str) -> None:
    users, items, ratings, test = _biased_ratings()
    peer = peers.SurprisePeer(algorithm).fit(users[~test], items[~test], ratings[~test])
    predictions = peer.predict(users[test], items[test])
    assert predictions.shape == (test.sum(),)
    assert predictions.min() >= 1.0 and predictions.max() <= 5.0
    baseline = topk_metrics.rmse(np.full(test.sum(), ratings[~test].mean()), ratings[test])
    assert topk_metrics.rmse(predictions, ratings[test]) < 0.8 * baseline
    assert peer.fit_seconds > 0.0


def test_surprise_svd_is_seeded() -> None:
    users, items, ratings, test = _biased_ratings()
    fit = lambda seed: peers.SurprisePeer("SVD", seed).fit(  # noqa: E731
        users[~test], items[~test], ratings[~test]).predict(users[test], items[test])
    np.testing.assert_array_equal(fit(42), fit(42))
    assert not np.allclose(fit(42), fit(1))


def test_surprise_peer_predicts_unknown_ids_with_a_fallback() -> None:
    users, items, ratings, _ = _biased_ratings()
    peer = peers.SurprisePeer("BaselineOnly").fit(users, items, ratings)
    prediction = peer.predict(np.array([10_000]), np.array([items[0]]))
    assert np.isfinite(prediction).all() and 1.0 <= prediction[0] <= 5.0


def test_main_writes_one_entry_per_peer(planted, tmp_path: Path, ratings_writer) -> None:
    rows = planted.rows
    ratings_writer(planted.data_dir / "u1.base", rows[: len(rows) * 4 // 5])
    ratings_writer(planted.data_dir / "u1.test", rows[len(rows) * 4 // 5:])
    output = tmp_path / "out" / "peers.json"
    code = run_peers.main(["--data-dir", str(planted.data_dir), "--output", str(output),
                           "--presplit", "u1"])
    results = json.loads(output.read_text())
    assert code == 0
    assert set(results) == PEER_NAMES | {f"{name}@u1" for name in
                                         ("baseline_only", "svd", "svdpp")}
    for name in ("most_popular", "item_knn", "ease", "als", "bpr", "sasrec"):
        assert results[name]["protocol"] == "topk"
        assert 0.0 <= results[name]["ndcg_at_10"] <= results[name]["hit_rate_at_10"] <= 1.0
        assert results[name]["split"]["n_test"] == 30
    for name in ("baseline_only", "svd", "svdpp"):
        assert results[name]["protocol"] == "rating" and results[name]["rmse"] > 0
        assert results[f"{name}@u1"]["protocol"] == "presplit"
    # the planted item is every target user's test item; popularity finds all of them
    assert results["most_popular"]["hit_rate_at_10"] >= 5 / 30
    assert results["als"]["versions"]["implicit"] == implicit.__version__
