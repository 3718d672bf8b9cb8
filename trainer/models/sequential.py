"""Sequential next-movie retrieval: predicts the rated movie from the user's previous ones."""

from __future__ import annotations

import numpy as np

from trainer.config import SequentialConfig
from trainer.models.base import TwoTowerModel
from trainer.models.towers import Features, HistoryEncoder, MovieTower, UserTower, VocabSizes


class SequentialNextItem(TwoTowerModel):
    """query = HistoryEncoder(history_index [B, L]) [B, D] (+ user id, projected, if
    `use_user_tower`); candidate = movie id embedding [M, D].

    The encoder ("bow", "cnn" or "gru") uses only TFLite builtin ops, so `query_model` can be
    converted for on-device use; without the user tower it also serves users unseen in training.
    """

    def __init__(
        self, vocab: VocabSizes, config: SequentialConfig, catalogue: Features,
        movie_counts: np.ndarray | None = None, name: str = "sequential",
    ) -> None:
        dim = config.embedding_dim
        encoder = HistoryEncoder(
            vocab.movies, dim, config.history_encoder, cnn_kernel_size=config.cnn_kernel_size
        )
        super().__init__(
            UserTower(
                vocab, dim, use_id=config.use_user_tower, history_encoder=encoder, l2=config.l2
            ),
            MovieTower(vocab, dim, l2=config.l2),
            catalogue,
            temperature=config.temperature,
            normalize_embeddings=config.normalize_embeddings,
            softmax=config.softmax,
            movie_counts=movie_counts,
            name=name,
        )
