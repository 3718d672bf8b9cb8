"""Two-tower retrieval on user and movie ids only."""

from __future__ import annotations

from trainer.config import RetrievalConfig
from trainer.models.base import TwoTowerModel
from trainer.models.towers import Features, MovieTower, UserTower, VocabSizes


class TwoTowerRetrieval(TwoTowerModel):
    """query = user id embedding [B, D], candidate = movie id embedding [M, D].

    `query_model` (reads user_index) and `candidate_model` (reads movie_index) are Keras models
    usable on their own; training is an in-batch softmax (see `TwoTowerModel`).
    """

    def __init__(
        self, vocab: VocabSizes, config: RetrievalConfig, catalogue: Features,
        name: str = "retrieval",
    ) -> None:
        super().__init__(
            UserTower(vocab, config.embedding_dim, l2=config.l2),
            MovieTower(vocab, config.embedding_dim, l2=config.l2),
            catalogue,
            temperature=config.temperature,
            normalize_embeddings=config.normalize_embeddings,
            name=name,
        )
