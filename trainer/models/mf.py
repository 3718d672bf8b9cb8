"""Biased matrix factorisation, trained on explicit ratings."""

from __future__ import annotations

import tensorflow as tf

from recsys import features as F
from trainer.config import MFConfig
from trainer.models.base import RatingModel
from trainer.models.towers import Features, VocabSizes, id_embedding


class BiasedMatrixFactorization(RatingModel):
    """rating = global bias + user bias + movie bias + <user vector, movie vector>.

    Inputs: user_index [B], movie_index [B] (rating [B] for the loss). L2 on the looked-up
    vectors (`l2`) and biases (`bias_l2`). For a top-K the query is [user vector, 1] and the
    candidate [movie vector, movie bias], so their dot product ranks movies exactly as the
    predicted rating does (the global and user biases are constant per user).
    """

    def __init__(self, vocab: VocabSizes, config: MFConfig, name: str = "mf") -> None:
        super().__init__(name=name)
        dim = config.embedding_dim
        self.user_vectors = id_embedding(vocab.users, dim, config.l2, "user_vectors")
        self.movie_vectors = id_embedding(vocab.movies, dim, config.l2, "movie_vectors")
        self.user_bias = id_embedding(vocab.users, 1, config.bias_l2, "user_bias")
        self.movie_bias = id_embedding(vocab.movies, 1, config.bias_l2, "movie_bias")
        self.global_bias = tf.Variable(config.rating_mean, dtype=tf.float32, name="global_bias")

    def predict_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        users, movies = features[F.USER_INDEX], features[F.MOVIE_INDEX]
        dot = tf.reduce_sum(self.user_vectors(users) * self.movie_vectors(movies), axis=1)
        biases = self.user_bias(users)[:, 0] + self.movie_bias(movies)[:, 0]
        return self.global_bias + biases + dot

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """user_index [B] -> [B, D + 1]: the user vector and a 1 that picks up the movie bias."""
        vectors = self.user_vectors(features[F.USER_INDEX])
        return tf.concat([vectors, tf.ones_like(vectors[:, :1])], axis=1)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """movie_index [M] -> [M, D + 1]: the movie vector and the movie bias."""
        movies = catalogue[F.MOVIE_INDEX]
        return tf.concat([self.movie_vectors(movies), self.movie_bias(movies)], axis=1)

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """movie_index [M] -> [M, D] movie vectors (without the bias: similarity, not appeal)."""
        return self.movie_vectors(catalogue[F.MOVIE_INDEX])
