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
    """A retrieval model: query tower x candidate tower, in-batch softmax (tfrs Retrieval).

    With `normalize_embeddings` both towers' outputs are L2-normalised, so scores are cosine
    similarities and `temperature` sets how peaked the softmax is.
    """

    kind = RETRIEVAL

    def __init__(
        self,
        query_model: tf.keras.Model,
        candidate_model: tf.keras.Model,
        *,
        temperature: float = 1.0,
        normalize_embeddings: bool = False,
        remove_accidental_hits: bool = True,
        name: str,
    ) -> None:
        super().__init__(name=name)
        self.query_model = query_model
        self.candidate_model = candidate_model
        self._normalize = normalize_embeddings
        # Metrics over the whole catalogue (with seen items removed) live in
        # trainer.evaluation; in-batch top-10 accuracy is the cheap running signal.
        # Mean (not TFRS's default sum) over the batch: loss and L2 keep their balance
        # whatever the batch size.
        self.task = tfrs.tasks.Retrieval(
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
            temperature=temperature,
            remove_accidental_hits=remove_accidental_hits,
            batch_metrics=[tf.keras.metrics.TopKCategoricalAccuracy(k=10, name="batch_top10")],
        )

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

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Scalar softmax loss of each query against the batch's movies.

        Duplicates of the positive movie in the batch are not counted as negatives
        (remove_accidental_hits uses movie_index as candidate id).
        """
        return self.task(
            self.query_embeddings(features, training=training),
            self.candidate_embeddings(features, training=training),
            candidate_ids=features[F.MOVIE_INDEX],
        )
