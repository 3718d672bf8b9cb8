"""Deep ranking: an MLP over user and movie tower outputs predicts the rating."""

from __future__ import annotations

import tensorflow as tf

from recsys import features as F
from trainer.config import RankingConfig
from trainer.models.base import RatingModel
from trainer.models.towers import Features, MovieTower, UserTower, VocabSizes


class DeepRanking(RatingModel):
    """rating = MLP([UserTower(features), timestamp_scaled, MovieTower(features)]).

    With `use_side_features` the user tower adds gender, occupation and age, the movie tower
    genres and year, and the query side the event's timestamp_scaled [B]. Scores are not a dot
    product: `score` runs the MLP on every (query, candidate) pair, [B, M] -> B * M rows, so
    score the catalogue in batches of queries.
    """

    def __init__(self, vocab: VocabSizes, config: RankingConfig, name: str = "ranking") -> None:
        super().__init__(name=name)
        dim, side = config.embedding_dim, config.use_side_features
        self._use_timestamp = side
        self.user_tower = UserTower(
            vocab, dim, use_demographics=side, feature_dim=config.feature_dim, l2=config.l2
        )
        self.movie_tower = MovieTower(
            vocab, dim, use_content=side, feature_dim=config.feature_dim, l2=config.l2
        )
        hidden = []
        for units in config.hidden_units:
            hidden += [
                tf.keras.layers.Dense(units, activation="relu"),
                tf.keras.layers.Dropout(config.dropout),
            ]
        # Starting at the mean rating spares the first epochs from learning the offset.
        output = tf.keras.layers.Dense(
            1, bias_initializer=tf.keras.initializers.Constant(config.rating_mean)
        )
        self.mlp = tf.keras.Sequential([*hidden, output], name="mlp")

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """User-side features -> [B, D (+ 1 timestamp)]."""
        users = self.user_tower(features, training=training)
        if not self._use_timestamp:
            return users
        return tf.concat([users, features[F.TIMESTAMP_SCALED][:, None]], axis=1)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """Catalogue -> [M, D] movie tower outputs."""
        return self.movie_tower(catalogue, training=training)

    def predict_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        pairs = tf.concat(
            [
                self.query_embeddings(features, training=training),
                self.candidate_embeddings(features, training=training),
            ],
            axis=1,
        )
        return self.mlp(pairs, training=training)[:, 0]

    def score(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """[B, Dq] x [M, Dc] -> [B, M] predicted ratings of every pair."""
        num_queries, num_candidates = tf.shape(queries)[0], tf.shape(candidates)[0]
        pairs = tf.concat(
            [
                tf.repeat(queries[:, None, :], num_candidates, axis=1),
                tf.repeat(candidates[None, :, :], num_queries, axis=0),
            ],
            axis=2,
        )
        return self.mlp(pairs)[:, :, 0]
