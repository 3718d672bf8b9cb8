"""The two-tower family: one model class whose towers the catalogue entry chooses.

`retrieval`, `hybrid` and `sequential` are all this model: the entry's `query` groups pick the
user tower's parts (user id, demographics, a history encoder) and its `candidate` groups the
movie tower's (movie id, genres and year); the config (trainer.config.TwoTowerConfig) sizes
them. See TwoTowerModel for the two softmaxes it trains with.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from contract import features as F
from contract.catalogue import Group, Kind, ModelEntry
from trainer.config import TwoTowerConfig
from trainer.models.base import RecommenderModel, mean_loss
from trainer.models.towers import (
    AttentionSize,
    Features,
    HistoryEncoder,
    MovieTower,
    UserTower,
    VocabSizes,
    drop_ids,
    id_embedding,
)

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

    With `movie_bias` a learned term b_m per movie is added to every logit: the query vector
    gets a last component equal to the temperature and the candidate vector the movie's b_m,
    so query . candidate / temperature = q . v / temperature + b_m, and every consumer of the
    two vectors (softmaxes, top-K, the exported signatures, TFLite) scores with it. With
    `id_dropout` the dropped share of the movies reads the out-of-vocabulary row's bias: a
    new movie's.
    """

    def __init__(
        self,
        entry: ModelEntry,
        vocab: VocabSizes,
        config: TwoTowerConfig,
        catalogue: Features | None,
        movie_counts: np.ndarray | None = None,
    ) -> None:
        """`catalogue`: one row per known movie (see trainer.data.TrainingTables);
        `movie_counts` [M]: training examples per movie, needed by the sampled softmax."""
        if entry.kind != Kind.RETRIEVAL:
            raise ValueError(f"{entry.name} is a {entry.kind} model, not a two-tower one")
        if catalogue is None:
            raise ValueError(f"{entry.name} is a two-tower model: it needs the catalogue")
        super().__init__(entry)
        self.query_model, self.candidate_model = towers(entry, vocab, config)
        self._catalogue = dict(catalogue)
        self._num_movies = int(catalogue[F.MOVIE_INDEX].shape[0])
        self._normalize = config.normalize_embeddings
        self._temperature = config.temperature
        self.softmax = resolve_softmax(config.softmax, self._num_movies)
        self._id_dropout, self._oov_movie = config.id_dropout, vocab.movies
        self.movie_bias = (id_embedding(vocab.movies, 1, name="movie_bias")
                           if config.movie_bias else None)
        if self.softmax == FULL:
            self.loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
            # Top-10 over the catalogue (seen movies included): the cheap running signal; the
            # protocol metrics live in contract.topk_metrics.
            self.top10 = tf.keras.metrics.SparseTopKCategoricalAccuracy(k=10, name="top10")
        else:
            if movie_counts is None:
                raise ValueError(f"{entry.name}: the sampled softmax needs the movie counts")
            # [M] each movie's share of the training examples.
            self._sampling_probability = tf.constant(movie_counts / np.sum(movie_counts),
                                                     tf.float32)
            self.task = tfrs.tasks.Retrieval(
                loss=tf.keras.losses.CategoricalCrossentropy(
                    from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
                temperature=config.temperature, remove_accidental_hits=True)

    def _maybe_normalize(self, embeddings: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(embeddings, axis=-1) if self._normalize else embeddings

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """[B, D], or [B, D + 1] with `movie_bias` (last component: the temperature)."""
        queries = self._maybe_normalize(self.query_model(features, training=training))
        if self.movie_bias is None:
            return queries
        return tf.concat([queries, tf.fill([tf.shape(queries)[0], 1], self._temperature)], 1)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """[M, D], or [M, D + 1] with `movie_bias` (last component: the movie's bias)."""
        movies = self.item_embeddings(catalogue, training=training)
        if self.movie_bias is None:
            return movies
        ids = drop_ids(catalogue[F.MOVIE_INDEX], self._oov_movie, self._id_dropout, training)
        return tf.concat([movies, self.movie_bias(ids)], 1)

    def item_embeddings(self, catalogue: Features, training: bool | None = None) -> tf.Tensor:
        """[M, D] the movie tower's vectors, without the bias."""
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
        return mean_loss(self.loss_fn(labels, logits))

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
            return mean_loss(self.task(
                queries, candidates,
                candidate_sampling_probability=tf.gather(self._sampling_probability, movies),
                candidate_ids=movies, compute_metrics=False, compute_batch_metrics=False))

        return tf.cond(tf.size(movies) > 0, loss, lambda: tf.zeros([]))


def towers(
    entry: ModelEntry, vocab: VocabSizes, config: TwoTowerConfig
) -> tuple[UserTower, MovieTower]:
    """The (query, candidate) towers of `entry`'s feature groups, sized by `config`.

    A user tower with one part (the id, or the history alone) returns it as is; several parts
    are concatenated and projected to embedding_dim (see towers._ConcatTower). With
    `id_dropout`, a share of the ids is replaced by the OOV index in training, so users and
    movies unseen in training are embedded from their side features and history.
    """
    dim, side = config.embedding_dim, config.feature_dim
    attention = AttentionSize(config.attention_heads, config.attention_blocks,
                              config.attention_dropout, vocab.history_length)
    history = (HistoryEncoder(vocab.movies, dim, config.history_encoder,
                              cnn_kernel_size=config.cnn_kernel_size, attention=attention)
               if Group.HISTORY in entry.query else None)
    query = UserTower(
        vocab, dim, use_id=Group.USER_ID in entry.query,
        use_demographics=Group.DEMOGRAPHICS in entry.query, history_encoder=history,
        feature_dim=side, l2=config.l2, id_dropout=config.id_dropout,
        history_size_dim=config.history_size_dim)
    candidate = MovieTower(
        vocab, dim, use_content=Group.CONTENT in entry.candidate, feature_dim=side,
        l2=config.l2, id_dropout=config.id_dropout)
    return query, candidate
