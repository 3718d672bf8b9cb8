"""The interface every model shares, so export and evaluation code serve them all alike.

- ``entry``: the model's catalogue entry (contract/catalogue.py), ``kind`` its Kind: RATING
  (predicts a rating) or RETRIEVAL (scores query/candidate pairs).
- ``query_embeddings(features) -> [B, Dq]`` and ``candidate_embeddings(catalogue) -> [M, Dc]``;
  ``score(queries, candidates) -> [B, M]`` turns them into scores for a top-K (a dot product
  except for models that score pairs with an MLP).
- ``item_embeddings(catalogue) -> [M, D]`` for similar-item lookup.
- rating models add ``predict_rating(features) -> [B]``.

A catalogue is a dict with movie_index [M], genres_multi_hot [M, GENRE_SLOTS] and year_bucket
[M], one row per known movie (index 0..M-1).

Losses are computed per example and averaged here (Keras refuses its own averaging inside a
distribution strategy), and `train_step` scales them for the strategy's replica count.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from contract import features as F
from contract.catalogue import Kind, ModelEntry
from trainer.models.towers import Features

EXCLUDED_SCORE = -1e9  # below any model's score


def mean_loss(per_example: tf.Tensor) -> tf.Tensor:
    """Mean of per-example losses; 0 for an empty batch (every positive out of vocabulary)."""
    return tf.math.divide_no_nan(tf.reduce_sum(per_example),
                                 tf.cast(tf.size(per_example), per_example.dtype))


class RecommenderModel(tfrs.models.Model):
    """Base of every model; subclasses implement `compute_loss` and the embeddings.

    Subclasses are built as `cls(entry, vocab, config, catalogue, movie_counts)` (see
    trainer.models.registry.build_model) and take what they need of those.
    """

    def __init__(self, entry: ModelEntry) -> None:
        super().__init__(name=entry.name)
        self.entry = entry

    @property
    def kind(self) -> Kind:
        return self.entry.kind

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """Query-side features -> [B, Dq]."""
        raise NotImplementedError

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """Catalogue (or candidate-side features) -> [M, Dc]."""
        raise NotImplementedError

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """Catalogue -> [M, D] movie vectors for similar-item lookup."""
        return self.candidate_embeddings(catalogue)

    def score(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """[B, Dq] queries x [M, Dc] candidates -> [B, M] scores (higher = better)."""
        return tf.matmul(queries, candidates, transpose_b=True)

    def score_candidates(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """[B, Dq] queries x their own candidates [B (or 1), N, Dc] -> [B, N] scores, as
        `score` would give them: what a second stage runs on a first stage's candidates."""
        return tf.reduce_sum(queries[:, None, :] * candidates, axis=-1)

    def target_scores(self, queries: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """[B] the score of each query's own candidate: queries [B, Dq], targets [B, Dc] (e.g.
        a movie outside the catalogue, embedded from its content)."""
        return tf.linalg.diag_part(self.score(queries, targets))

    def top_k_scores(self, queries: tf.Tensor, candidates: tf.Tensor,
                     exclude: tf.Tensor) -> tf.Tensor:
        """[B, M] scores to take a top-K from, `exclude` [B, M] (True: never recommend, e.g.
        the user's seen movies) at EXCLUDED_SCORE. A cascade overrides it: its first stage must
        not spend candidates on excluded movies."""
        return tf.where(exclude, tf.constant(EXCLUDED_SCORE, tf.float32),
                        self.score(queries, candidates))

    def train_step(self, inputs: Features) -> dict[str, tf.Tensor]:
        """tfrs's train step, with the gradient of the global batch's mean loss.

        Under a distribution strategy each replica's loss is the mean over its share of the
        batch and the optimizer sums the replicas' gradients, so the loss is divided by the
        replica count first (1 without a strategy: the gradient is unchanged).
        """
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.reduce_sum([tf.reduce_sum(part) for part in self.losses])
            total_loss = loss + regularization_loss
            scaled_loss = total_loss / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        return {**metrics, "loss": loss, "regularization_loss": regularization_loss,
                "total_loss": total_loss}


class RatingModel(RecommenderModel):
    """A model trained on explicit ratings: tfrs Ranking task, MSE loss, RMSE metric."""

    def __init__(self, entry: ModelEntry) -> None:
        if entry.kind != Kind.RATING:
            raise ValueError(f"{entry.name} is a {entry.kind} model, not a rating model")
        super().__init__(entry)
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )

    def predict_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """Features of B (user, movie) pairs -> [B] predicted ratings.

        Outside training the estimate is clipped to the rating scale, as Surprise's SVD does:
        no true rating lies beyond it, so a clipped prediction is never further from the truth.
        Training sees the raw estimate, so the loss keeps its gradient.
        """
        estimate = self.estimate_rating(features, training=training)
        if training:
            return estimate
        return tf.clip_by_value(estimate, F.MIN_RATING, F.MAX_RATING)

    def estimate_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """Features of B (user, movie) pairs -> [B] unclipped rating estimates."""
        raise NotImplementedError

    def call(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self.predict_rating(features, training=training)

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Scalar MSE between predicted and true ratings; updates the RMSE metric."""
        predictions = self.predict_rating(features, training=training)
        return mean_loss(self.task(labels=features[F.RATING], predictions=predictions))
