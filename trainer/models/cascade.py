"""A two-stage recommender: a retrieval model narrows the catalogue, a ranking model orders it.

The catalogue entry's `stages` name the two models (contract/catalogue.py); each is built from
its own catalogue entry and default config and trained as it is alone (its own optimiser,
batch size, epochs, learning-rate schedule and seed), then `top_k_scores` runs the cascade:
the first stage scores the catalogue, the movies to exclude (seen, or asked to) are removed,
its top `candidates` go to the second stage, whose scores order them: the second stage's score
plus `first_stage_weight` x the first stage's (both stages' scores are softmax logits over the
catalogue up to their temperatures, so the sum is a product of the two models' distributions,
the retrieval score a ranking feature as production cascades use it). Every other movie scores
EXCLUDED_SCORE, below any candidate. Export (trainer/export.py) and evaluation
(trainer/evaluation.py) use `top_k_scores`, so the SavedModel, the Trainer's metrics and TFMA
all measure the cascade itself.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from contract.catalogue import ModelEntry
from trainer.config import TRAINING_SEED, CascadeConfig, default_config
from trainer.models.base import EXCLUDED_SCORE, RecommenderModel
from trainer.models.registry import build_model
from trainer.models.towers import Features, VocabSizes


class Cascade(RecommenderModel):
    """First stage x second stage; query and candidate vectors are the two stages' side by
    side (first stage first)."""

    def __init__(self, entry: ModelEntry, vocab: VocabSizes, config: CascadeConfig,
                 catalogue: Features | None = None, movie_counts: np.ndarray | None = None,
                 ) -> None:
        super().__init__(entry)
        first, second = entry.stages
        self.first = build_model(first, vocab, None, catalogue, movie_counts)
        self.second = build_model(second, vocab, None, catalogue, movie_counts)
        self.stage_configs = (default_config(first), default_config(second))
        self._candidates = config.candidates
        self.first_stage_weight = config.first_stage_weight
        # The first stage is a two-tower model (TwoTowerConfig.vector_width).
        self._first_width = self.stage_configs[0].vector_width

    @property
    def stages(self) -> tuple[RecommenderModel, RecommenderModel]:
        return self.first, self.second

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        first = self.first.query_embeddings(features, training=training)
        second = self.second.query_embeddings(features, training=training)
        return tf.concat([first, second], axis=1)

    def candidate_embeddings(self, catalogue: Features, training: bool | None = None
                             ) -> tf.Tensor:
        first = self.first.candidate_embeddings(catalogue, training=training)
        second = self.second.candidate_embeddings(catalogue, training=training)
        return tf.concat([first, second], axis=1)

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """The first stage's movie vectors (similar items: what it retrieves by)."""
        return self.first.item_embeddings(catalogue)

    def _split(self, queries: tf.Tensor, candidates: tf.Tensor):
        """Each stage's part of the query [B, .] and candidate [.., M or N, .] vectors."""
        width = self._first_width
        return ((queries[:, :width], queries[:, width:]),
                (candidates[..., :width], candidates[..., width:]))

    def score(self, queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """[B, M]: the cascade's scores with nothing excluded."""
        exclude = tf.zeros([tf.shape(queries)[0], tf.shape(candidates)[0]], tf.bool)
        return self.top_k_scores(queries, candidates, exclude)

    def target_scores(self, queries: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """[B] EXCLUDED_SCORE: a movie outside the catalogue never reaches the second stage,
        the first only retrieves catalogue movies."""
        return tf.fill([tf.shape(queries)[0]], tf.constant(EXCLUDED_SCORE, tf.float32))

    def top_k_scores(self, queries: tf.Tensor, candidates: tf.Tensor,
                     exclude: tf.Tensor) -> tf.Tensor:
        """[B, M]: the cascade's scores (see the module) of the first stage's top
        `candidates` movies among those not excluded; EXCLUDED_SCORE elsewhere."""
        (q1, q2), (c1, c2) = self._split(queries, candidates)
        first = self.first.top_k_scores(q1, c1, exclude)
        n = tf.minimum(self._candidates, tf.shape(first)[1])
        first_top, top = tf.math.top_k(first, k=n)  # [B, N] scores, movie indices
        second = self.second.score_candidates(q2, tf.gather(c2, top))  # [B, N]
        if self.first_stage_weight:
            second += self.first_stage_weight * first_top
        # A movie the first stage had to fill the N with from the excluded ones stays out.
        second = tf.where(tf.gather(exclude, top, batch_dims=1), EXCLUDED_SCORE, second)
        rows = tf.repeat(tf.range(tf.shape(top)[0])[:, None], tf.shape(top)[1], axis=1)
        where = tf.stack([rows, top], -1)
        scores = tf.scatter_nd(where, second, tf.shape(first))
        chosen = tf.scatter_nd(where, tf.ones_like(top), tf.shape(first)) > 0
        return tf.where(chosen, scores, EXCLUDED_SCORE)

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        """Sum of the stages' losses (only for Keras' evaluate: `fit` trains them apart)."""
        return (self.first.compute_loss(features, training=training)
                + self.second.compute_loss(features, training=training))

    def fit(self, x: tf.data.Dataset, epochs: int = 1, verbose: int = 2,
            validation_data: tf.data.Dataset | None = None, **_kwargs
            ) -> tf.keras.callbacks.History:
        """Trains each stage on `x` (re-batched to its batch size) for its own epochs; the
        curves are the stages', prefixed with their names. `epochs` is ignored."""
        history = tf.keras.callbacks.History()
        history.history = {}
        for stage, config in zip((self.first, self.second), self.stage_configs, strict=True):
            # Each stage from the seed a model alone starts from: the first stage's shape and
            # training do not decide the second's initial weights.
            tf.keras.utils.set_random_seed(TRAINING_SEED)

            def rebatch(batches: tf.data.Dataset | None, size: int = config.batch_size):
                return None if batches is None else batches.unbatch().batch(size)

            fitted = stage.fit(rebatch(x), epochs=config.epochs, verbose=verbose,
                               validation_data=rebatch(validation_data))
            history.history.update({f"{stage.name}_{key}": value
                                    for key, value in fitted.history.items()})
        return history
