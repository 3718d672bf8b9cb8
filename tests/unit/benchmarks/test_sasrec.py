"""The SASRec-style sequence peer on a planted sequential pattern (benchmarks/sasrec.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import data as bdata
from benchmarks import peers, run_peers, sasrec
from contract import topk_metrics

ITEMS = 12
SMALL = {"dim": 16, "blocks": 1, "heads": 1, "dropout": 0.1, "epochs": 40, "batch_size": 32}


def _chains(users: int = 60, seed: int = 0) -> list[np.ndarray]:
    """Each user walks the cycle 0 -> 1 -> ... -> ITEMS-1 -> 0 from a random start: the next
    item follows from the latest one alone, and every item is as popular as any other."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(ITEMS) + np.arange(rng.integers(6, 16))) % ITEMS
            for _ in range(users)]


def test_training_windows_make_every_event_but_the_first_a_target_once() -> None:
    sequence = np.arange(1, 9)  # items 1..8
    inputs, targets = sasrec.training_windows([sequence, np.array([9])], history_length=3)
    assert inputs.shape == targets.shape == (3, 3)  # a lone event makes no window
    assert sorted(targets[targets > 0].tolist()) == list(range(2, 9))
    # newest window first; each target is the item after its input, padding on the left
    assert inputs.tolist() == [[5, 6, 7], [2, 3, 4], [0, 0, 1]]
    assert targets.tolist() == [[6, 7, 8], [3, 4, 5], [0, 0, 2]]
    np.testing.assert_array_equal(sasrec.latest_windows([sequence, np.array([], int)], 3),
                                  [[6, 7, 8], [0, 0, 0]])


def test_a_position_reads_only_the_items_before_it() -> None:
    network = sasrec.SASRecNetwork(ITEMS, sasrec.SASRecConfig(history_length=6, **SMALL))
    items = tf.constant([[0, 0, 3, 4, 5, 6], [0, 0, 3, 4, 9, 1]])
    states = network.states(items, training=False).numpy()
    np.testing.assert_allclose(states[0, :4], states[1, :4], atol=1e-6)  # same items up to 4
    assert np.abs(states[0, 4:] - states[1, 4:]).max() > 1e-4


def test_sasrec_learns_the_planted_sequence_and_is_seeded() -> None:
    sequences = _chains()
    peer = peers.SASRec(history_length=5, **SMALL).fit(sequences, ITEMS)
    scores = peer.score()
    assert scores.shape == (len(sequences), ITEMS) and peer.fit_seconds > 0
    following = np.array([(s[-1] + 1) % ITEMS for s in sequences])
    top = topk_metrics.top_k_items(scores, [np.array([], np.int64)] * len(sequences), k=1)[:, 0]
    assert (top == following).mean() >= 0.9
    np.testing.assert_array_equal(scores, peers.SASRec(history_length=5, **SMALL).fit(
        sequences, ITEMS).score())
    other_seed = peers.SASRec(history_length=5, seed=1, **SMALL).fit(sequences, ITEMS).score()
    assert not np.allclose(scores, other_seed)


def test_the_sequence_peer_is_evaluated_by_the_topk_code(planted) -> None:
    split = bdata.load_split(planted.data_dir)
    peer = peers.SASRec(history_length=5, **SMALL)
    result = run_peers.evaluate_sequence_peer(peer, split)
    # the users' own training sequences in, the protocol's seen movies out
    scores = peer.score()
    assert scores.shape == (split.n_users, split.n_items)
    expected = topk_metrics.top_k_metrics(scores[split.test_users], split.test_items,
                                          [split.seen[u] for u in split.test_users])
    assert result["hit_rate_at_10"] == expected["hit_rate_at_10"]
    assert result["ndcg_at_10"] == expected["ndcg_at_10"] and result["fit_seconds"] > 0


def test_sasrec_needs_a_sequence_to_learn_from() -> None:
    with pytest.raises(ValueError, match="at least two"):
        sasrec.training_windows([np.array([3]), np.array([], int)], history_length=4)
