"""The interface every model shares, so export and evaluation code serve all five alike.

- ``kind``: "rating" (predicts a rating) or "retrieval" (scores query/candidate pairs).
- ``query_embeddings(features) -> [B, Dq]`` and ``candidate_embeddings(catalogue) -> [M, Dc]``;
  ``score(queries, candidates) -> [B, M]`` turns them into scores for a top-K (a dot product
  except for models that score pairs with an MLP).
- ``item_embeddings(catalogue) -> [M, D]`` for similar-item lookup.
- rating models add ``predict_rating(features) -> [B]``.

A catalogue is a dict with movie_index [M], genres_multi_hot [M, GENRE_SLOTS] and year_bucket
[M], one row per known movie (index 0..M-1).
"""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys import features as F
from trainer.models.towers import Features

RATING = "rating"
RETRIEVAL = "retrieval"


class RecommenderModel(tfrs.models.Model):
    """Base of the five models; subclasses implement `compute_loss` and the embeddings."""

    kind: ClassVar[str]

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


class RatingModel(RecommenderModel):
    """A model trained on explicit ratings: tfrs Ranking task, MSE loss, RMSE metric."""

    kind = RATING

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )

    def predict_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """Features of B (user, movie) pairs -> [B] predicted ratings."""
        raise NotImplementedError

    def call(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self.predict_rating(features, training=training)

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Scalar MSE between predicted and true ratings; updates the RMSE metric."""
        predictions = self.predict_rating(features, training=training)
        return self.task(labels=features[F.RATING], predictions=predictions)


class TwoTowerModel(RecommenderModel):
    """A retrieval model: query tower x candidate tower, softmax over the whole catalogue.

    Every step scores each query against all M catalogue movies (a full softmax, exact for
    MovieLens-sized catalogues: [B, M] logits). In-batch negatives would over-sample popular
    movies as negatives and push them down the ranking; scoring the catalogue has no such
    bias and needs no logQ correction. With `normalize_embeddings` both towers' outputs are
    L2-normalised, so scores are cosine similarities and `temperature` sets how peaked the
    softmax is.
    """

    kind = RETRIEVAL

    def __init__(
        self,
        query_model: tf.keras.Model,
        candidate_model: tf.keras.Model,
        catalogue: Features,
        *,
        temperature: float = 1.0,
        normalize_embeddings: bool = False,
        name: str,
    ) -> None:
        super().__init__(name=name)
        self.query_model = query_model
        self.candidate_model = candidate_model
        self._catalogue = dict(catalogue)
        self._normalize = normalize_embeddings
        self._temperature = temperature
        self.loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        # Top-10 over the catalogue (seen movies included): the cheap running signal; the
        # protocol metrics live in trainer.evaluation.
        self.top10 = tf.keras.metrics.SparseTopKCategoricalAccuracy(k=10, name="top10")

    def _maybe_normalize(self, embeddings: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(embeddings, axis=-1) if self._normalize else embeddings

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self._maybe_normalize(self.query_model(features, training=training))

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        return self._maybe_normalize(self.candidate_model(catalogue, training=training))

    def call(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self.query_embeddings(features, training=training)

    @property
    def metrics(self) -> list[tf.keras.metrics.Metric]:
        return [self.top10]

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Scalar mean softmax cross-entropy of the rated movie among all M movies.

        A positive outside the catalogue (OOV movie_index M) has no logit: its row is skipped.
        """
        logits = self.score(
            self.query_embeddings(features, training=training),
            self.candidate_embeddings(self._catalogue, training=training),
        ) / self._temperature  # [B, M]
        labels = features[F.MOVIE_INDEX]
        known = labels < tf.shape(logits, out_type=labels.dtype)[1]
        logits, labels = tf.boolean_mask(logits, known), tf.boolean_mask(labels, known)
        self.top10.update_state(labels, logits)
        return self.loss_fn(labels, logits)
