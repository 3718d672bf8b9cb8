"""The Trainer's protocol TOPK scoring loop: rank each test user's held-out movie with a model.

The metrics themselves (ranks, HR@K / NDCG@K, RMSE, cold-start subsets) are numpy only and live
in `contract.topk_metrics`, shared with the benchmark peers; only the TensorFlow part is here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from contract.topk_metrics import Seen, held_out_ranks, seen_mask
from trainer.models.base import RecommenderModel


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
        exclude = seen_mask(seen[rows], int(candidates.shape[0]))
        scores = model.top_k_scores(queries, candidates, exclude).numpy()
        ranks.append(held_out_ranks(scores, test_items[rows], seen[rows]))
    return np.concatenate(ranks)
