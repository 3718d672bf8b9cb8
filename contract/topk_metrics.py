"""Protocol TOPK and RATING metrics in numpy only, shared by the Trainer and the benchmark peers.

Both the TFX models (`trainer.task`, through `trainer.evaluation.model_ranks`, the TF scoring
loop) and the benchmark peers (`benchmarks.run_peers`) are measured here, so they report the
same definitions under the same result keys. This module imports no TensorFlow: the peers run
without it.

Protocol TOPK (see `contract.splits`): score every movie of the catalogue for each test user,
remove the movies the user rated in training, and find the 1-based rank of the held-out movie.
HR@K = share of users whose test movie ranks <= K; NDCG@K = mean of 1 / log2(rank + 1), 0 for
a miss. Ties count against the test movie (it ranks below every unseen movie scoring the same),
so a model that scores everything alike gets no credit.

A test movie no model can rank is a miss, rank M + 1 (M = catalogue size):
- one outside the catalogue (index not in 0..M-1: never seen in training, so nothing scores it);
- one that is itself among the user's training movies (removed with them; cannot happen under
  TOPK when a user rates a movie once).

Protocol RATING: `rmse` of predicted against held-out ratings.

Shapes: U users (rows), M catalogue movies (columns); scores [U, M], test_items [U]. The seen
movies come in either form of `Seen`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

# Seen (training) movies: a [U, M] boolean mask, or one array of movie indices per user.
Seen = np.ndarray | Sequence[Sequence[int]] | Sequence[np.ndarray]


def seen_mask(seen: Seen, num_movies: int) -> np.ndarray:
    """A [U, M] boolean mask (True = seen) from either form of `Seen`; a mask is returned as is."""
    if isinstance(seen, np.ndarray) and seen.dtype == bool:
        if seen.ndim != 2 or seen.shape[1] != num_movies:
            raise ValueError(f"seen mask of shape {seen.shape}, expected [U, {num_movies}]")
        return seen
    mask = np.zeros((len(seen), num_movies), dtype=bool)
    lengths = [len(movies) for movies in seen]
    if sum(lengths):
        rows = np.repeat(np.arange(len(seen)), lengths)
        cols = np.concatenate([np.asarray(movies, dtype=np.int64).reshape(-1) for movies in seen])
        mask[rows, cols] = True
    return mask


def held_out_ranks(scores: ArrayLike, test_items: ArrayLike, seen: Seen) -> np.ndarray:
    """int64 [U] 1-based rank of each user's test movie among the movies not seen in training.

    scores: [U, M]; test_items: [U] movie indices; seen: either form of `Seen`, one row per
    user. Every other unseen movie scoring >= the test movie ranks ahead of it. A test movie
    outside the catalogue (index not in 0..M-1) or among the user's seen movies gets rank
    M + 1, a miss.
    """
    scores = np.asarray(scores, dtype=np.float64)
    test_items = np.asarray(test_items, dtype=np.int64)
    if scores.ndim != 2 or test_items.shape != (scores.shape[0],) or len(seen) != len(scores):
        raise ValueError(
            f"scores {scores.shape}, test_items {test_items.shape} and seen ({len(seen)} rows) "
            "must have one row per user")
    num_movies = scores.shape[1]
    rows = np.arange(len(test_items))
    in_catalogue = (test_items >= 0) & (test_items < num_movies)
    known = np.where(in_catalogue, test_items, 0)
    candidates = ~seen_mask(seen, num_movies)  # a new array: the caller's mask is untouched
    rankable = in_catalogue & candidates[rows, known]
    candidates[rows, known] = False  # the test movie itself
    beats_test = (scores >= scores[rows, known][:, None]) & candidates
    return np.where(rankable, 1 + beats_test.sum(axis=1), num_movies + 1).astype(np.int64)


def metrics_from_ranks(ranks: ArrayLike, k: int = 10) -> dict[str, float]:
    """{"hit_rate_at_K", "ndcg_at_K"} from 1-based ranks [U]."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hits = ranks <= k
    return {
        f"hit_rate_at_{k}": float(hits.mean()),
        f"ndcg_at_{k}": float(np.where(hits, 1.0 / np.log2(ranks + 1.0), 0.0).mean()),
    }


def top_k_metrics(
    scores: ArrayLike, test_items: ArrayLike, seen: Seen, k: int = 10
) -> dict[str, float]:
    """HR@k and NDCG@k of scores [U, M] for test_items [U], ignoring the `seen` movies."""
    return metrics_from_ranks(held_out_ranks(scores, test_items, seen), k)


def top_k_items(scores: ArrayLike, seen: Seen, k: int = 10) -> np.ndarray:
    """int64 [U, k] top-k unseen movie indices per user of scores [U, M], best first.

    Ties go to the lower index. Seen movies come last, so they appear only when a user has
    fewer than k unseen movies.
    """
    scores = np.asarray(scores, dtype=np.float64)
    masked = np.where(seen_mask(seen, scores.shape[1]), -np.inf, scores)
    order = np.argsort(-masked, axis=1, kind="stable")
    return order[:, :k].astype(np.int64)


def subset_hit_rate(ranks: np.ndarray, subset: np.ndarray, k: int = 10) -> dict[str, object]:
    """{"hit_rate_at_K": HR@K over ranks[subset] or None when the subset is empty, "count"}.

    ranks: [U] 1-based ranks; subset: [U] boolean, the users to keep.
    """
    count = int(np.count_nonzero(subset))
    hit_rate = float(np.mean(ranks[subset] <= k)) if count else None
    return {f"hit_rate_at_{k}": hit_rate, "count": count}


def rmse(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Root mean squared error of predictions [n] against targets [n] (same shape, or ValueError).

    Anything `np.asarray` takes, eager TensorFlow tensors included.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if predictions.shape != targets.shape:
        raise ValueError(f"shape mismatch {predictions.shape} vs {targets.shape}")
    return float(np.sqrt(np.mean(np.square(predictions - targets))))


def hit_rate_standard_error(hit_rate: float, count: int) -> float:
    """Standard error of a hit rate measured on `count` independent eval examples."""
    return float(np.sqrt(hit_rate * (1.0 - hit_rate) / count)) if count else float("nan")


def rmse_standard_error(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Standard error of `rmse(predictions, targets)`: that of the mean squared error (the
    squared errors' standard deviation / sqrt(n)) through the square root (delta method)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    squared = np.square(predictions - targets)
    if squared.size < 2:
        return float("nan")
    mse_error = np.std(squared, ddof=1) / np.sqrt(squared.size)
    return float(mse_error / (2.0 * np.sqrt(np.mean(squared))))
