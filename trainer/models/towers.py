"""Building blocks shared by the five models: id embeddings, user/movie towers, history encoder.

Every tower takes the dict of transformed features (see `contract.features`, batch first) and
returns one [B, D] tensor, so the models only choose which towers to combine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import tensorflow as tf

from contract import features as F
from trainer.config import HISTORY_ENCODERS

Features = Mapping[str, tf.Tensor]

# Stands in for -inf in masked max-pooling; a finite value keeps gradients NaN-free.
_MASKED_SCORE = -1e9


@dataclasses.dataclass(frozen=True)
class VocabSizes:
    """The sizes the data fix: vocabulary sizes WITHOUT the OOV slot (index == size is the OOV
    index) and the history length L, the width of history_index [B, L]."""

    users: int
    movies: int
    genders: int
    occupations: int
    history_length: int


def id_embedding(
    vocab_size: int, dim: int, l2: float = 0.0, name: str | None = None
) -> tf.keras.layers.Embedding:
    """Embedding with one extra row for the OOV index (== vocab_size).

    The L2 penalty is an activity regulariser, i.e. the mean squared norm of the rows looked
    up in the batch: the classic per-example matrix-factorisation regularisation, which
    penalises each id in proportion to how often it is trained.
    """
    return tf.keras.layers.Embedding(
        vocab_size + 1,
        dim,
        activity_regularizer=tf.keras.regularizers.l2(l2) if l2 > 0 else None,
        name=name,
    )


def drop_ids(ids: tf.Tensor, oov_index: int, rate: float, training: bool | None) -> tf.Tensor:
    """In training, replaces a `rate` share of `ids` with the OOV index.

    Trains the OOV row (and the side-feature path) on real data, so users and movies unseen in
    training get a useful vector instead of a random, never-trained one.
    """
    if not training or rate <= 0:
        return ids
    dropped = tf.random.uniform(tf.shape(ids)) < rate
    return tf.where(dropped, tf.constant(oov_index, ids.dtype), ids)


class _ConcatTower(tf.keras.Model):
    """Concatenates the parts a subclass computes; projects them to `embedding_dim` if needed."""

    def __init__(self, embedding_dim: int, project: bool, name: str) -> None:
        super().__init__(name=name)
        self.projection = tf.keras.layers.Dense(embedding_dim) if project else None

    def parts(self, features: Features, training: bool | None) -> list[tf.Tensor]:
        raise NotImplementedError

    def call(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """features -> [B, embedding_dim]."""
        parts = self.parts(features, training)
        x = tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]
        return self.projection(x) if self.projection is not None else x


class HistoryEncoder(tf.keras.Model):
    """Encodes history_index [B, L] (movie_index + 1, 0 = padding, newest last) to [B, D].

    Kinds, as in TFLite Model Maker's recommendation spec:
    - "bow": mean of the item embeddings;
    - "cnn": causal 1-D convolution, then max-pooling over the real items;
    - "gru": GRU whose final state is the encoding (unrolled: the length is fixed and small,
      and an unrolled GRU converts to TFLite builtin ops);
    - "attention": SASRec's causal self-attention (`CausalSelfAttention`): the output at the
      newest position.
    Padding never changes the result: padded rows are zeroed (the same zeros the causal
    convolution pads with), excluded from pooling, skipped by the masked GRU and masked out as
    attention keys, so [0, 0, a, b] and [0, 0, 0, 0, a, b] encode alike. An empty history
    encodes to zeros.
    """

    def __init__(
        self,
        num_movies: int,
        embedding_dim: int,
        kind: str = "bow",
        cnn_kernel_size: int = 3,
        attention: AttentionSize | None = None,
        name: str = "history_encoder",
    ) -> None:
        super().__init__(name=name)
        if kind not in HISTORY_ENCODERS:
            raise ValueError(f"history encoder kind must be one of {HISTORY_ENCODERS}: {kind!r}")
        self.kind = kind
        # Rows: 0 padding, 1..M known movies, M + 1 the OOV movie.
        self.embedding = tf.keras.layers.Embedding(num_movies + 2, embedding_dim)
        self.conv = (
            tf.keras.layers.Conv1D(embedding_dim, cnn_kernel_size, padding="causal",
                                   activation="relu")
            if kind == "cnn" else None
        )
        self.gru = tf.keras.layers.GRU(embedding_dim, unroll=True) if kind == "gru" else None
        self.attention = (CausalSelfAttention(embedding_dim, attention or AttentionSize())
                          if kind == "attention" else None)

    def call(self, history: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """history [B, L] int64 -> [B, embedding_dim]."""
        mask = tf.not_equal(history, 0)
        weights = tf.cast(mask, tf.float32)[..., None]  # [B, L, 1]
        x = self.embedding(history) * weights
        if self.kind == "bow":
            count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
            return tf.reduce_sum(x, axis=1) / count
        if self.kind == "cnn":
            pooled = tf.reduce_max(tf.where(mask[..., None], self.conv(x), _MASKED_SCORE), axis=1)
            return pooled * tf.reduce_max(weights, axis=1)  # zeros for an empty history
        if self.kind == "attention":
            # The newest position (histories are right-aligned) sees every real item.
            newest = self.attention(x, mask, training=training)[:, -1, :]
            return newest * weights[:, -1, :]  # zeros for an empty history
        return self.gru(x, mask=mask, training=training)


@dataclasses.dataclass(frozen=True)
class AttentionSize:
    """The self-attention encoder's shape (trainer.config.TwoTowerConfig's attention_* fields)."""

    heads: int = 2
    blocks: int = 2
    dropout: float = 0.2
    max_length: int = F.DEFAULT_HISTORY_LENGTH  # the history length: one position embedding each


class CausalSelfAttention(tf.keras.layers.Layer):
    """SASRec's encoder (Kang & McAuley, 2018): item vectors scaled by sqrt(D) plus learned
    position embeddings, then `blocks` pre-norm blocks of causal multi-head self-attention and a
    point-wise feed-forward layer, each with a residual connection and dropout, and a final
    layer norm.

    x [B, L, D] (padded rows zero), mask [B, L] (True = real item) -> [B, L, D], where position
    i depends only on the real items at positions <= i. Positions count back from the newest
    item (histories are right-aligned), so leading padding changes nothing. Written with Dense,
    matmul and softmax rather than keras' MultiHeadAttention (einsum), so the TFLite export
    stays within builtin ops.
    """

    def __init__(self, dim: int, size: AttentionSize, name: str = "causal_self_attention"):
        super().__init__(name=name)
        if dim % size.heads:
            raise ValueError(f"embedding_dim {dim} is not divisible by {size.heads} heads")
        self._dim, self._heads, self._max_length = dim, size.heads, size.max_length
        self.positions = tf.keras.layers.Embedding(size.max_length, dim, name="positions")
        self.dropout = tf.keras.layers.Dropout(size.dropout)
        self.blocks = [_AttentionBlock(dim, size.heads, size.dropout, name=f"block_{i}")
                       for i in range(size.blocks)]
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)

    def call(self, x: tf.Tensor, mask: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        length = tf.shape(x)[1]
        recency = tf.minimum(tf.range(length - 1, -1, -1), self._max_length - 1)  # [L]
        weights = tf.cast(mask, x.dtype)[..., None]  # [B, L, 1]
        x = (x * self._dim ** 0.5 + self.positions(recency)[None]) * weights
        x = self.dropout(x, training=training)
        # [B, L, L]: query i may read key j when j <= i and j is a real item.
        causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
        allowed = tf.logical_and(causal[None], mask[:, None, :])
        for block in self.blocks:
            x = block(x, allowed, training=training) * weights  # padded rows stay zero
        return self.final_norm(x)


class _AttentionBlock(tf.keras.layers.Layer):
    """One pre-norm transformer block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, dim: int, heads: int, dropout: float, name: str) -> None:
        super().__init__(name=name)
        self._dim, self._heads = dim, heads
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.query, self.key, self.value, self.merge = (
            tf.keras.layers.Dense(dim, name=part) for part in ("query", "key", "value", "merge"))
        self.feed_forward_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.hidden = tf.keras.layers.Dense(dim, activation="relu")
        self.feed_forward = tf.keras.layers.Dense(dim)
        self.dropout = tf.keras.layers.Dropout(dropout)

    def call(self, x: tf.Tensor, allowed: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = x + self.dropout(self._attend(self.attention_norm(x), allowed), training=training)
        hidden = self.hidden(self.feed_forward_norm(x))
        return x + self.dropout(self.feed_forward(hidden), training=training)

    def _attend(self, x: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor:
        """Multi-head attention of x [B, L, D] over itself where `allowed` [B, L, L]."""
        def split(t: tf.Tensor) -> tf.Tensor:  # [B, L, D] -> [B, H, L, D / H]
            shape = tf.concat([tf.shape(t)[:2], [self._heads, self._dim // self._heads]], 0)
            return tf.transpose(tf.reshape(t, shape), [0, 2, 1, 3])

        queries, keys, values = split(self.query(x)), split(self.key(x)), split(self.value(x))
        logits = tf.matmul(queries, keys, transpose_b=True) * (self._dim // self._heads) ** -0.5
        logits = tf.where(allowed[:, None], logits, _MASKED_SCORE)  # [B, H, L, L]
        heads = tf.matmul(tf.nn.softmax(logits, axis=-1), values)  # [B, H, L, D / H]
        return self.merge(tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), tf.shape(x)))


class UserTower(_ConcatTower):
    """User (query-side) features -> [B, embedding_dim].

    Parts: the user id embedding; optionally gender, occupation and age-bucket embeddings
    (`feature_dim` each), a `HistoryEncoder` over history_index and (`history_size_dim` > 0)
    an embedding of how many real items the history holds. A single id or history part is
    returned as is; several parts are concatenated and linearly projected.

    Why the history's size: a mean of item vectors reads one rating like twenty, yet a user's
    first few ratings follow their own pattern (sign-up screens, the most popular titles), and
    a new user's query is exactly such a short history.
    """

    def __init__(
        self,
        vocab: VocabSizes,
        embedding_dim: int,
        *,
        use_id: bool = True,
        use_demographics: bool = False,
        history_encoder: HistoryEncoder | None = None,
        feature_dim: int = 8,
        l2: float = 0.0,
        id_dropout: float = 0.0,
        history_size_dim: int = 0,
        name: str = "user_tower",
    ) -> None:
        if not (use_id or use_demographics or history_encoder):
            raise ValueError("UserTower needs at least one part")
        if history_size_dim and history_encoder is None:
            raise ValueError("history_size_dim needs a history encoder")
        project = (use_demographics or bool(history_size_dim)
                   or (use_id and history_encoder is not None))
        super().__init__(embedding_dim, project, name)
        self._oov_user = vocab.users
        self._id_dropout = id_dropout
        self.user_embedding = id_embedding(vocab.users, embedding_dim, l2) if use_id else None
        self.demographics = (
            [
                id_embedding(vocab.genders, feature_dim, name="gender_embedding"),
                id_embedding(vocab.occupations, feature_dim, name="occupation_embedding"),
                tf.keras.layers.Embedding(F.AGE_BUCKETS, feature_dim, name="age_embedding"),
            ]
            if use_demographics else []
        )
        self._demographic_keys = (
            (F.GENDER_INDEX, F.OCCUPATION_INDEX, F.AGE_BUCKET) if use_demographics else ()
        )
        self.history_encoder = history_encoder
        # Sizes 0..L: one row each.
        self.history_size = (
            tf.keras.layers.Embedding(vocab.history_length + 1, history_size_dim,
                                      name="history_size_embedding")
            if history_size_dim else None)

    def parts(self, features: Features, training: bool | None) -> list[tf.Tensor]:
        parts = []
        if self.user_embedding is not None:
            ids = drop_ids(features[F.USER_INDEX], self._oov_user, self._id_dropout, training)
            parts.append(self.user_embedding(ids))
        parts += [
            layer(features[key])
            for layer, key in zip(self.demographics, self._demographic_keys, strict=True)
        ]
        if self.history_encoder is not None:
            parts.append(self.history_encoder(features[F.HISTORY_INDEX], training=training))
        if self.history_size is not None:
            real_items = tf.math.count_nonzero(features[F.HISTORY_INDEX], axis=1)  # [B]
            parts.append(self.history_size(real_items))
        return parts


class MovieTower(_ConcatTower):
    """Movie (candidate-side) features -> [B, embedding_dim].

    Parts: the movie id embedding; optionally (`use_content`) the genres multi-hot through a
    bias-free dense layer (= sum of genre embeddings) and a year-bucket embedding, which are
    concatenated and linearly projected. Reads only movie_index, genres_multi_hot and
    year_bucket, so a catalogue dict works as input.
    """

    def __init__(
        self,
        vocab: VocabSizes,
        embedding_dim: int,
        *,
        use_content: bool = False,
        feature_dim: int = 8,
        l2: float = 0.0,
        id_dropout: float = 0.0,
        name: str = "movie_tower",
    ) -> None:
        super().__init__(embedding_dim, use_content, name)
        self._oov_movie = vocab.movies
        self._id_dropout = id_dropout
        self.movie_embedding = id_embedding(vocab.movies, embedding_dim, l2)
        self.genre_projection = (
            tf.keras.layers.Dense(feature_dim, use_bias=False) if use_content else None
        )
        self.year_embedding = (
            tf.keras.layers.Embedding(F.YEAR_BUCKETS, feature_dim) if use_content else None
        )

    def parts(self, features: Features, training: bool | None) -> list[tf.Tensor]:
        ids = drop_ids(features[F.MOVIE_INDEX], self._oov_movie, self._id_dropout, training)
        parts = [self.movie_embedding(ids)]
        if self.genre_projection is not None:
            parts.append(self.genre_projection(features[F.GENRES_MULTI_HOT]))
            parts.append(self.year_embedding(features[F.YEAR_BUCKET]))
        return parts


class BiasedFactors(tf.keras.layers.Layer):
    """Biased matrix factorisation's parameters: rating = global bias + user bias + movie bias
    + <user vector, movie vector>, shared by `mf` (alone) and `ranking` (its wide part).

    Reads user_index [B] and movie_index [B]. `l2` is the per-example L2 on the looked-up
    vectors, `bias_l2` on the biases (see `id_embedding`). For a top-K the query is
    [user vector, 1, user bias] [B, D + 2] and the candidate [movie vector, movie bias, 1]
    [M, D + 2]: their dot product is the rating less the global bias.
    """

    def __init__(
        self, vocab: VocabSizes, dim: int, l2: float, bias_l2: float, rating_mean: float,
        name: str = "biased_factors",
    ) -> None:
        super().__init__(name=name)
        self.user_vectors = id_embedding(vocab.users, dim, l2, "user_vectors")
        self.movie_vectors = id_embedding(vocab.movies, dim, l2, "movie_vectors")
        self.user_bias = id_embedding(vocab.users, 1, bias_l2, "user_bias")
        self.movie_bias = id_embedding(vocab.movies, 1, bias_l2, "movie_bias")
        self.global_bias = tf.Variable(rating_mean, dtype=tf.float32, name="global_bias")

    def call(self, features: Features) -> tf.Tensor:
        """features -> [B] rating estimates."""
        users, movies = features[F.USER_INDEX], features[F.MOVIE_INDEX]
        dot = tf.reduce_sum(self.user_vectors(users) * self.movie_vectors(movies), axis=1)
        biases = self.user_bias(users)[:, 0] + self.movie_bias(movies)[:, 0]
        return self.global_bias + biases + dot

    def query(self, features: Features) -> tf.Tensor:
        """user_index [B] -> [B, D + 2]."""
        users = features[F.USER_INDEX]
        vectors = self.user_vectors(users)
        return tf.concat([vectors, tf.ones_like(vectors[:, :1]), self.user_bias(users)], axis=1)

    def candidate(self, catalogue: Features) -> tf.Tensor:
        """movie_index [M] -> [M, D + 2]."""
        movies = catalogue[F.MOVIE_INDEX]
        biases = self.movie_bias(movies)
        return tf.concat([self.movie_vectors(movies), biases, tf.ones_like(biases)], axis=1)
