"""The interface every model shares, so export and evaluation code serve all five alike.

- ``kind``: "rating" (predicts a rating) or "retrieval" (scores query/candidate pairs).
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

from typing import ClassVar

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys import features as F
from trainer.models.towers import Features

RATING = "rating"
RETRIEVAL = "retrieval"
FULL, SAMPLED = "full", "sampled"
# softmax="auto" trains with the full-catalogue softmax below this many movies (ML-100K: 1,682,
# ML-1M: 3,706, ml-latest-small: 9,742), with the sampled one from here on (ML-25M: 59,047):
# [B, M] logits per step stop fitting memory and time there.
SAMPLED_SOFTMAX_MIN_MOVIES = 20_000


def resolve_softmax(softmax: str, num_movies: int) -> str:
    """FULL or SAMPLED for a config's `softmax` ("full", "sampled" or "auto")."""
    if softmax != "auto":
        return softmax
    return SAMPLED if num_movies >= SAMPLED_SOFTMAX_MIN_MOVIES else FULL


def _mean(per_example: tf.Tensor) -> tf.Tensor:
    """Mean of per-example losses; 0 for an empty batch (every positive out of vocabulary)."""
    return tf.math.divide_no_nan(tf.reduce_sum(per_example),
                                 tf.cast(tf.size(per_example), per_example.dtype))


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

    kind = RATING

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
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
        return _mean(self.task(labels=features[F.RATING], predictions=predictions))


class TwoTowerModel(RecommenderModel):
    """A retrieval model: query tower x candidate tower, trained with one of two softmaxes.

    - FULL: every step scores each query against all M catalogue movies ([B, M] logits),
      exact for MovieLens-sized catalogues. In-batch negatives would over-sample popular
      movies as negatives and push them down the ranking; scoring the catalogue has no such
      bias.
    - SAMPLED: for large catalogues, the other positives of the batch are the negatives
      ([B, B] logits, tfrs Retrieval task), each logit corrected by minus the log of its
      movie's sampling probability (its share of the training examples: logQ correction,
      which removes that popularity bias), and a movie appearing twice in the batch is not
      its own negative.

    With `normalize_embeddings` both towers' outputs are L2-normalised, so scores are cosine
    similarities and `temperature` sets how peaked the softmax is.
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
        softmax: str = "auto",
        movie_counts: np.ndarray | None = None,
        name: str,
    ) -> None:
        """`movie_counts` [M]: training examples per movie, needed by the sampled softmax."""
        super().__init__(name=name)
        self.query_model = query_model
        self.candidate_model = candidate_model
        self._catalogue = dict(catalogue)
        self._num_movies = int(catalogue[F.MOVIE_INDEX].shape[0])
        self._normalize = normalize_embeddings
        self._temperature = temperature
        self.softmax = resolve_softmax(softmax, self._num_movies)
        if self.softmax == FULL:
            self.loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
            # Top-10 over the catalogue (seen movies included): the cheap running signal; the
            # protocol metrics live in recsys.topk_metrics.
            self.top10 = tf.keras.metrics.SparseTopKCategoricalAccuracy(k=10, name="top10")
        else:
            if movie_counts is None:
                raise ValueError(f"{name}: the sampled softmax needs the movie counts")
            # [M] each movie's share of the training examples.
            self._sampling_probability = tf.constant(movie_counts / np.sum(movie_counts),
                                                     tf.float32)
            self.task = tfrs.tasks.Retrieval(
                loss=tf.keras.losses.CategoricalCrossentropy(
                    from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
                temperature=temperature, remove_accidental_hits=True)

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
        return [self.top10] if self.softmax == FULL else []

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Scalar mean softmax cross-entropy of each example's rated movie (see the class).

        A positive outside the catalogue (OOV movie_index M) has no logit: its row is skipped.
        """
        queries = self.query_embeddings(features, training=training)
        labels = features[F.MOVIE_INDEX]
        known = labels < self._num_movies
        if self.softmax == SAMPLED:
            candidates = self.candidate_embeddings(features, training=training)
            return self._sampled_loss(tf.boolean_mask(queries, known),
                                      tf.boolean_mask(candidates, known),
                                      tf.boolean_mask(labels, known))
        logits = self.score(
            queries, self.candidate_embeddings(self._catalogue, training=training)
        ) / self._temperature  # [B, M]
        logits, labels = tf.boolean_mask(logits, known), tf.boolean_mask(labels, known)
        self.top10.update_state(labels, logits)
        return _mean(self.loss_fn(labels, logits))

    def _sampled_loss(
        self, queries: tf.Tensor, candidates: tf.Tensor, movies: tf.Tensor
    ) -> tf.Tensor:
        """queries [B, D], their positives' embeddings [B, D] and movie indices [B] -> scalar;
        0 for an empty batch, which tfrs cannot take (every positive out of vocabulary, or a
        replica's share of a short final batch).

        tfrs clips the sampling probability to >= 1e-6: the correction of movies rarer than
        one in a million training examples is capped.
        """

        def loss() -> tf.Tensor:
            return _mean(self.task(
                queries, candidates,
                candidate_sampling_probability=tf.gather(self._sampling_probability, movies),
                candidate_ids=movies, compute_metrics=False, compute_batch_metrics=False))

        return tf.cond(tf.size(movies) > 0, loss, lambda: tf.zeros([]))
