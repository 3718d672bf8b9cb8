"""Biased matrix factorisation, trained on explicit ratings."""

from __future__ import annotations

import tensorflow as tf

from contract import features as F
from contract.catalogue import ModelEntry
from trainer.config import MFConfig
from trainer.models.base import RatingModel
from trainer.models.towers import BiasedFactors, Features, VocabSizes


class BiasedMatrixFactorization(RatingModel):
    """rating = global bias + user bias + movie bias + <user vector, movie vector>.

    Inputs: user_index [B], movie_index [B] (rating [B] for the loss); the parameters and
    their L2 live in `towers.BiasedFactors`. The top-K query [B, D + 2] and candidate
    [M, D + 2] vectors dot to the predicted rating less the global bias, so they rank movies
    exactly as the rating does.
    """

    def __init__(
        self, entry: ModelEntry, vocab: VocabSizes, config: MFConfig, *_tables: object
    ) -> None:
        """`_tables` (the catalogue and movie counts two-tower models take) are not needed."""
        super().__init__(entry)
        self.factors = BiasedFactors(vocab, config.embedding_dim, config.l2, config.bias_l2,
                                     config.rating_mean)

    def estimate_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self.factors(features)

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """user_index [B] -> [B, D + 2]: the user vector, a 1 for the movie bias, the user bias."""
        return self.factors.query(features)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """movie_index [M] -> [M, D + 2]: the movie vector, the movie bias, a 1."""
        return self.factors.candidate(catalogue)

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """movie_index [M] -> [M, D] movie vectors (without the bias: similarity, not appeal)."""
        return self.factors.movie_vectors(catalogue[F.MOVIE_INDEX])
