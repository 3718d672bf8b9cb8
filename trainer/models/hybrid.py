"""Hybrid two-tower retrieval: ids plus content and demographics, for cold users and movies."""

from __future__ import annotations

import numpy as np

from trainer.config import HybridConfig
from trainer.models.base import TwoTowerModel
from trainer.models.towers import Features, HistoryEncoder, MovieTower, UserTower, VocabSizes


class HybridTwoTower(TwoTowerModel):
    """query = UserTower(id, gender, occupation, age[, history]) [B, D];
    candidate = MovieTower(id, genres, year) [M, D].

    In training a share (`id_dropout`) of the user and movie ids is replaced by the OOV index,
    so a user or movie unseen in training is embedded from its side features (and history)
    through a trained OOV row instead of an untrained one.
    """

    def __init__(
        self, vocab: VocabSizes, config: HybridConfig, catalogue: Features,
        movie_counts: np.ndarray | None = None, name: str = "hybrid",
    ) -> None:
        dim = config.embedding_dim
        history = (
            HistoryEncoder(vocab.movies, dim, config.history_encoder)
            if config.use_history else None
        )
        super().__init__(
            UserTower(
                vocab, dim, use_demographics=True, history_encoder=history,
                feature_dim=config.feature_dim, l2=config.l2, id_dropout=config.id_dropout,
            ),
            MovieTower(
                vocab, dim, use_content=True, feature_dim=config.feature_dim, l2=config.l2,
                id_dropout=config.id_dropout,
            ),
            catalogue,
            temperature=config.temperature,
            normalize_embeddings=config.normalize_embeddings,
            softmax=config.softmax,
            movie_counts=movie_counts,
            name=name,
        )
