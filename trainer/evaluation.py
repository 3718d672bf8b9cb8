"""Evaluation shared by the benchmark peers and the Trainer (numpy, plus a TF scoring loop).

Protocol TOPK (see `recsys.protocols`): score every movie for each test user, remove the
movies the user rated in training, and find the 1-based rank of the held-out movie.
HR@K = share of users whose test movie ranks <= K; NDCG@K = mean of 1 / log2(rank + 1),
0 for a miss. Ties count against the test movie (it ranks below every movie scoring the
same), so a model that scores everything alike gets no credit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from trainer.models.base import RecommenderModel

# Seen movies as a [U, M] boolean mask, or one array of movie indices per user.
Seen = np.ndarray | Sequence[Sequence[int]]


def seen_mask(seen: Seen, num_movies: int) -> np.ndarray:
    """A [U, M] boolean mask from either form of `Seen`."""
    if isinstance(seen, np.ndarray) and seen.dtype == bool:
        return seen
    mask = np.zeros((len(seen), num_movies), dtype=bool)
    for row, movies in enumerate(seen):
        mask[row, np.asarray(movies, dtype=np.int64)] = True
    return mask


def held_out_ranks(scores: np.ndarray, test_items: np.ndarray, seen: Seen) -> np.ndarray:
    """[U] 1-based rank of each user's test movie among the movies not seen in training.

    A test movie outside the catalogue (index >= M: never seen in training, so no model can
    score it) ranks last, a miss.
    """
    scores = np.asarray(scores, dtype=np.float64)
    test_items = np.asarray(test_items, dtype=np.int64)
    num_movies = scores.shape[1]
    in_catalogue = test_items < num_movies
    rows, known = np.arange(len(test_items)), np.where(in_catalogue, test_items, 0)
    test_scores = scores[rows, known][:, None]
    candidates = ~seen_mask(seen, num_movies)
    candidates[rows, known] = False  # the test movie itself
    beats_test = (scores >= test_scores) & candidates
    return np.where(in_catalogue, 1 + beats_test.sum(axis=1), num_movies + 1)


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> dict[str, float]:
    """{"hit_rate_at_K", "ndcg_at_K"} from 1-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hits = ranks <= k
    return {
        f"hit_rate_at_{k}": float(hits.mean()),
        f"ndcg_at_{k}": float(np.where(hits, 1.0 / np.log2(ranks + 1.0), 0.0).mean()),
    }


def top_k_metrics(
    scores: np.ndarray, test_items: np.ndarray, seen: Seen, k: int = 10
) -> dict[str, float]:
    """HR@k and NDCG@k of scores [U, M] for test_items [U], ignoring `seen` movies."""
    return metrics_from_ranks(held_out_ranks(scores, test_items, seen), k)


def model_ranks(
    model: RecommenderModel,
    query_features: Mapping[str, np.ndarray],
    catalogue: Mapping[str, np.ndarray],
    test_items: np.ndarray,
    seen: Seen,
    batch_size: int = 256,
) -> np.ndarray:
    """[U] `held_out_ranks` of any model, scoring the catalogue for `batch_size` users at a time.

    query_features holds one row per test user (its user-side transformed features).
    """
    candidates = model.candidate_embeddings(catalogue)
    ranks = []
    for start in range(0, len(test_items), batch_size):
        rows = slice(start, start + batch_size)
        queries = model.query_embeddings({key: v[rows] for key, v in query_features.items()})
        scores = model.score(queries, candidates).numpy()
        ranks.append(held_out_ranks(scores, test_items[rows], seen[rows]))
    return np.concatenate(ranks)


def subset_hit_rate(ranks: np.ndarray, subset: np.ndarray, k: int = 10) -> dict[str, object]:
    """{"hit_rate_at_K": HR@K over ranks[subset] or None when the subset is empty, "count"}."""
    count = int(np.count_nonzero(subset))
    hit_rate = float(np.mean(ranks[subset] <= k)) if count else None
    return {f"hit_rate_at_{k}": hit_rate, "count": count}


def rmse(predictions: np.ndarray | tf.Tensor, labels: np.ndarray | tf.Tensor) -> float:
    """Root mean squared error of two equal-length vectors."""
    errors = np.asarray(predictions, np.float64) - np.asarray(labels, np.float64)
    return float(np.sqrt(np.mean(np.square(errors))))
