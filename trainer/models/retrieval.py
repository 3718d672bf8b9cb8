"""Two-tower retrieval on user and movie ids only."""

from __future__ import annotations

import numpy as np

from trainer.config import RetrievalConfig
from trainer.models.base import TwoTowerModel
from trainer.models.towers import Features, MovieTower, UserTower, VocabSizes


class TwoTowerRetrieval(TwoTowerModel):
    """query = user id embedding [B, D], candidate = movie id embedding [M, D].

    `query_model` (reads user_index) and `candidate_model` (reads movie_index) are Keras models
    usable on their own; trained with a full or sampled softmax (see `TwoTowerModel`).
    """

    def __init__(
        self, vocab: VocabSizes, config: RetrievalConfig, catalogue: Features,
        movie_counts: np.ndarray | None = None, name: str = "retrieval",
    ) -> None:
        super().__init__(
            UserTower(vocab, config.embedding_dim, l2=config.l2),
            MovieTower(vocab, config.embedding_dim, l2=config.l2),
            catalogue,
            temperature=config.temperature,
            normalize_embeddings=config.normalize_embeddings,
            softmax=config.softmax,
            movie_counts=movie_counts,
            name=name,
        )
