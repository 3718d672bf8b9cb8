"""Deep multi-task ranking: wide & deep rating head plus an implicit-feedback (retrieval) head
over shared towers."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from contract import features as F
from contract.catalogue import Group, ModelEntry
from trainer.config import RankingConfig
from trainer.models.base import RatingModel, mean_loss
from trainer.models.towers import (
    AttentionSize,
    BiasedFactors,
    Features,
    HistoryEncoder,
    MovieTower,
    UserTower,
    VocabSizes,
)


class DeepRanking(RatingModel):
    """Two heads over one user tower u and one movie tower v (TFRS's multi-task recipe):

    - rating: wide(user, movie) + MLP([u, timestamp_scaled, v]) (with `use_side_features`:
      gender, occupation and age in u, genres and year in v, the event's timestamp_scaled; u
      also encodes the history when the catalogue entry reads it). The
      wide part is `mf`'s `BiasedFactors` (its own ids, `wide_dim` vectors, `wide_l2`), so the
      MLP learns what the biases and the dot product miss. Trained with the squared error.
    - implicit feedback: cos(u, v) / temperature, trained with a softmax over the whole
      catalogue (which movie does the user rate next, whatever the stars), as the two-tower
      models are.

    The loss is rating_weight * MSE + retrieval_weight * softmax cross-entropy. A top-K ranks
    by `score` = implicit logit + score_rating_weight * predicted rating: how likely the user
    is to watch the movie, and how much they would like it. With retrieval_weight 0 it is the
    rating regressor alone and ranks by the predicted rating.

    Query and candidate vectors are the deep and wide parts side by side; `score` runs the MLP
    on every (query, candidate) pair, [B, M] -> B * M rows, so score the catalogue in batches
    (or only a first stage's candidates: `score_candidates`).
    """

    def __init__(
        self, entry: ModelEntry, vocab: VocabSizes, config: RankingConfig,
        catalogue: Features | None = None, *_tables: object,
    ) -> None:
        """`catalogue`: one row per known movie (see trainer.data.TrainingTables), needed by the
        implicit-feedback head; the movie counts (`_tables`) are not."""
        super().__init__(entry)
        if config.retrieval_weight > 0 and catalogue is None:
            raise ValueError(f"{entry.name}: the implicit-feedback head needs the catalogue")
        dim, side = config.embedding_dim, config.use_side_features
        self._use_timestamp = side
        self._deep_width = dim
        self._wide_width = config.wide_dim + 2  # see BiasedFactors.query
        self._rating_weight, self._retrieval_weight = config.rating_weight, config.retrieval_weight
        self._score_rating_weight = config.score_rating_weight
        self._temperature = config.temperature
        self._catalogue = dict(catalogue) if catalogue is not None else None
        history = (HistoryEncoder(vocab.movies, dim, config.history_encoder,
                                  attention=AttentionSize(max_length=vocab.history_length))
                   if Group.HISTORY in entry.query else None)
        self.user_tower = UserTower(
            vocab, dim, use_demographics=side, history_encoder=history,
            feature_dim=config.feature_dim, l2=config.l2)
        self.movie_tower = MovieTower(
            vocab, dim, use_content=side, feature_dim=config.feature_dim, l2=config.l2
        )
        self.wide = BiasedFactors(vocab, config.wide_dim, config.wide_l2, config.wide_bias_l2,
                                  config.rating_mean, name="wide")
        self.mlp = _rating_mlp(config, "mlp")
        # Further heads, each from its own initial weights; the rating's MLP part is their
        # mean, trained as one (config.rating_heads says why). The first keeps the name `mlp`,
        # so a one-head model (rating_heads=1) keeps the checkpoint layout it always had.
        self.extra_mlps = [_rating_mlp(config, f"mlp_{head}")
                           for head in range(1, config.rating_heads)]
        self.implicit_loss = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE)

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """User-side features -> [B, D (+ 1 timestamp) + wide_dim + 2]."""
        parts = [self.user_tower(features, training=training)]
        if self._use_timestamp:
            parts.append(features[F.TIMESTAMP_SCALED][:, None])
        parts.append(self.wide.query(features))
        return tf.concat(parts, axis=1)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """Catalogue -> [M, D + wide_dim + 2]: movie tower and wide movie vector."""
        return tf.concat([self.movie_tower(catalogue, training=training),
                          self.wide.candidate(catalogue)], axis=1)

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """Catalogue -> [M, D] movie tower outputs (the deep part's view of a movie)."""
        return self.movie_tower(catalogue)

    def estimate_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        queries = self.query_embeddings(features, training=training)
        candidates = self.candidate_embeddings(features, training=training)
        return self._rating(queries, candidates, training)

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """rating_weight * MSE (updates the RMSE metric) + retrieval_weight * the catalogue
        softmax's cross-entropy (a positive outside the catalogue has no logit: skipped)."""
        queries = self.query_embeddings(features, training=training)
        rating = self._rating(queries, self.candidate_embeddings(features, training=training),
                              training)
        if not training:
            rating = tf.clip_by_value(rating, F.MIN_RATING, F.MAX_RATING)
        loss = self._rating_weight * mean_loss(
            self.task(labels=features[F.RATING], predictions=rating))
        if self._retrieval_weight <= 0:
            return loss
        movies = self.movie_tower(self._catalogue, training=training)
        logits = self._implicit_grid(queries[:, :self._deep_width], movies)  # [B, M]
        labels = features[F.MOVIE_INDEX]
        known = labels < tf.shape(movies, out_type=labels.dtype)[0]
        implicit = mean_loss(self.implicit_loss(tf.boolean_mask(labels, known),
                                                tf.boolean_mask(logits, known)))
        return loss + self._retrieval_weight * implicit

    def score(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """[B, Dq] x [M, Dc] -> [B, M] top-K scores of every pair (see the class)."""
        return self._top_k_score(
            lambda: self._implicit_grid(queries[:, :self._deep_width],
                                        candidates[:, :self._deep_width]),
            lambda: self._rating(queries[:, None, :], candidates[None]))

    def _implicit_grid(self, users: tf.Tensor, movies: tf.Tensor) -> tf.Tensor:
        """users [B, D] x movies [M, D] -> [B, M] cosine / temperature, as a matmul (the
        broadcast product of `_implicit` would hold B x M x D floats)."""
        return tf.matmul(tf.math.l2_normalize(users, -1), tf.math.l2_normalize(movies, -1),
                         transpose_b=True) / self._temperature

    def score_candidates(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """queries [B, Dq] x candidates [B or 1, N, Dc] -> [B, N] top-K scores."""
        queries = queries[:, None, :]
        return self._top_k_score(
            lambda: self._implicit(queries[..., :self._deep_width],
                                   candidates[..., :self._deep_width]),
            lambda: self._rating(queries, candidates))

    def _top_k_score(self, implicit: Callable[[], tf.Tensor],
                     rating: Callable[[], tf.Tensor]) -> tf.Tensor:
        """The implicit logit plus score_rating_weight x the rating (the rating alone without
        the implicit task). Each part is computed only when the score reads it: the rating
        MLPs are the costly part on B x M pairs."""
        if self._retrieval_weight <= 0:
            return rating()
        if not self._score_rating_weight:
            return implicit()
        return implicit() + self._score_rating_weight * rating()

    def _implicit(self, users: tf.Tensor, movies: tf.Tensor) -> tf.Tensor:
        """Deep user [.., D] and movie [.., D] vectors (broadcasting) -> cosine / temperature."""
        return tf.reduce_sum(tf.math.l2_normalize(users, -1) * tf.math.l2_normalize(movies, -1),
                             -1) / self._temperature

    def _rating(self, queries: tf.Tensor, candidates: tf.Tensor,
                training: bool | None = None) -> tf.Tensor:
        """Unclipped rating estimates of queries [..., Dq] x candidates [..., Dc], broadcast
        against each other (e.g. [B, 1, Dq] x [1, M, Dc] -> [B, M]; [B, Dq] x [B, Dc] -> [B]):
        the wide part + the mean of the `rating_heads` MLPs."""
        deep_q, deep_c = queries[..., :-self._wide_width], candidates[..., :-self._wide_width]
        shape = tf.broadcast_dynamic_shape(tf.shape(deep_q)[:-1], tf.shape(deep_c)[:-1])
        pairs = tf.concat([
            tf.broadcast_to(deep_q, tf.concat([shape, tf.shape(deep_q)[-1:]], 0)),
            tf.broadcast_to(deep_c, tf.concat([shape, tf.shape(deep_c)[-1:]], 0))], axis=-1)
        wide = tf.reduce_sum(queries[..., -self._wide_width:]
                             * candidates[..., -self._wide_width:], -1)
        heads = [mlp(pairs, training=training)[..., 0] for mlp in (self.mlp, *self.extra_mlps)]
        return self.wide.global_bias + wide + tf.add_n(heads) / len(heads)


def _rating_mlp(config: RankingConfig, name: str) -> tf.keras.Sequential:
    """[..., pair width] -> [..., 1]: hidden_units ReLU layers with dropout, then one unit."""
    hidden = []
    for units in config.hidden_units:
        hidden += [
            tf.keras.layers.Dense(units, activation="relu"),
            tf.keras.layers.Dropout(config.dropout),
        ]
    output = tf.keras.layers.Dense(1)  # no offset: the wide part holds the global bias
    return tf.keras.Sequential([*hidden, output], name=name)
