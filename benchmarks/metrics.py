"""Protocol TOPK and RATING metrics for the benchmark peers.

TOPK: score the whole catalogue, remove the user's training items, take the top k.
HR@k = share of users whose test item is in the top k; NDCG@k = mean of 1/log2(rank + 1) with
a 1-based rank (0 when the test item is not in the top k).

Same definition and result keys as `trainer/evaluation.py` (which the TFX models use), kept
here in numpy only so the peers need no TensorFlow: ties count against the test item (it ranks
below every unseen item scoring the same), so a constant scorer gets no credit. One stricter
case: a test item that is also a training item is never a hit (cannot happen under TOPK).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mask_seen(scores: np.ndarray, seen: Sequence[np.ndarray]) -> np.ndarray:
    """Copy of `scores` [U, I] (as float64) with each user's seen items set to -inf."""
    masked = np.array(scores, dtype=np.float64, copy=True)
    rows = np.repeat(np.arange(len(seen)), [len(s) for s in seen])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in seen]) if len(seen) else []
    masked[rows, cols] = -np.inf
    return masked


def top_k_items(scores: np.ndarray, seen: Sequence[np.ndarray], k: int = 10) -> np.ndarray:
    """Top-k unseen item indices per user, best first (ties: lower index first): int64 [U, k]."""
    masked = mask_seen(scores, seen)
    order = np.argsort(-masked, axis=1, kind="stable")
    return order[:, :k]


def rank_of_test_items(
    scores: np.ndarray, test_items: np.ndarray, seen: Sequence[np.ndarray]
) -> np.ndarray:
    """1-based rank of each user's test item among unseen items: int64 [U].

    scores: [U, I]; test_items: [U]; seen: U arrays of training item indices. Every other
    unseen item scoring >= the test item ranks ahead of it. A test item that is itself seen
    gets rank I + 1 (never a hit).
    """
    masked = mask_seen(scores, seen)
    users = np.arange(len(test_items))
    target = masked[users, test_items][:, None]
    ahead = masked >= target
    ahead[users, test_items] = False  # the test item itself
    ranks = ahead.sum(axis=1) + 1
    ranks[np.isneginf(target[:, 0])] = masked.shape[1] + 1
    return ranks.astype(np.int64)


def top_k_metrics(
    scores: np.ndarray, test_items: np.ndarray, seen: Sequence[np.ndarray], k: int = 10
) -> dict[str, float]:
    """HR@k and NDCG@k over users (rows of `scores` [U, I], `test_items` [U], `seen` U)."""
    test_items = np.asarray(test_items, dtype=np.int64)
    if scores.shape[0] != len(test_items) or len(seen) != len(test_items):
        raise ValueError("scores, test_items and seen must have one row per user")
    ranks = rank_of_test_items(scores, test_items, seen)
    hits = ranks <= k
    gains = np.where(hits, 1.0 / np.log2(ranks + 1.0), 0.0)
    return {f"hit_rate_at_{k}": float(hits.mean()), f"ndcg_at_{k}": float(gains.mean())}


def rmse(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Root mean squared error of predictions [n] against targets [n]."""
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if predictions.shape != targets.shape:
        raise ValueError(f"shape mismatch {predictions.shape} vs {targets.shape}")
    return float(np.sqrt(np.mean((predictions - targets) ** 2)))
