"""The Trainer's protocol TOPK scoring loop: rank each test user's held-out movie with a model.

The metrics themselves (ranks, HR@K / NDCG@K, RMSE, cold-start subsets) are numpy only and live
in `contract.topk_metrics`, shared with the benchmark peers; only the TensorFlow part is here.

A held-out movie outside the catalogue (a new movie, protocol COLDSTART) is ranked by the score
its content gives it (the model's candidate tower on its out-of-vocabulary id, genres and
year) against the catalogue's unseen movies; a model that reads no content gives every new
movie the same out-of-vocabulary vector.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from contract.topk_metrics import Seen, held_out_ranks, seen_mask
from trainer.models.base import EXCLUDED_SCORE, RecommenderModel


def model_ranks(
    model: RecommenderModel,
    query_features: Mapping[str, np.ndarray],
    catalogue: Mapping[str, np.ndarray],
    test_items: np.ndarray,
    seen: Seen,
    batch_size: int = 256,
) -> np.ndarray:
    """[U] `held_out_ranks` of any model, scoring the catalogue for `batch_size` users at a time.

    query_features holds one row per test example (its transformed features: the query side,
    and the held-out movie's content for a movie outside the catalogue, see the module).
    """
    candidates = model.candidate_embeddings(catalogue)
    num_movies = int(candidates.shape[0])
    ranks = []
    for start in range(0, len(test_items), batch_size):
        rows = slice(start, start + batch_size)
        features = {key: v[rows] for key, v in query_features.items()}
        queries = model.query_embeddings(features)
        exclude = seen_mask(seen[rows], num_movies)
        scores = model.top_k_scores(queries, candidates, exclude).numpy()
        batch_ranks = held_out_ranks(scores, test_items[rows], seen[rows])
        new = test_items[rows] >= num_movies
        if new.any():
            target = model.target_scores(queries, model.candidate_embeddings(
                {key: features[key] for key in catalogue})).numpy()
            beaten = ((scores >= target[:, None]) & ~exclude).sum(axis=1)
            batch_ranks = np.where(new & (target > EXCLUDED_SCORE), 1 + beaten, batch_ranks)
        ranks.append(batch_ranks)
    return np.concatenate(ranks)
