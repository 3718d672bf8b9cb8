"""The Transform component's preprocessing_fn: TFT analyzers only (names: contract/features.py)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from contract import features as F
from contract import keys


def preprocessing_fn(inputs: dict[str, tf.Tensor | tf.SparseTensor],
                     custom_config: dict[str, Any] | None = None) -> dict[str, tf.Tensor]:
    """Raw MovieLens features -> model features; every output is dense with the batch first.

    `custom_config` (TFX passes the Transform component's) may set keys.HISTORY_LENGTH_KEY,
    the width of history_index (default F.DEFAULT_HISTORY_LENGTH).
    """
    width = (custom_config or {}).get(keys.HISTORY_LENGTH_KEY, F.DEFAULT_HISTORY_LENGTH)
    movie_ids = _dense_strings(inputs[F.MOVIE_ID])
    movie_vocab = tft.vocabulary(movie_ids, vocab_filename=F.MOVIE_VOCAB)
    history_index, history_length = _history(inputs[F.HISTORY], movie_vocab, width)
    return {
        F.USER_INDEX: _index(inputs[F.USER_ID], F.USER_VOCAB),
        F.MOVIE_INDEX: tft.apply_vocabulary(
            movie_ids, deferred_vocab_filename_tensor=movie_vocab, num_oov_buckets=1),
        F.RATING: tf.cast(_dense(inputs[F.RATING], 0.0), tf.float32),
        F.GENRES_MULTI_HOT: _multi_hot_genres(inputs[F.GENRES]),
        F.GENDER_INDEX: _index(inputs[F.GENDER], F.GENDER_VOCAB),
        F.OCCUPATION_INDEX: _index(inputs[F.OCCUPATION], F.OCCUPATION_VOCAB),
        F.AGE_BUCKET: tft.bucketize(_dense_float(inputs[F.AGE]), F.AGE_BUCKETS),
        F.YEAR_BUCKET: tft.bucketize(_dense_float(inputs[F.YEAR]), F.YEAR_BUCKETS),
        F.TIMESTAMP_SCALED: tft.scale_to_0_1(_dense_float(inputs[F.TIMESTAMP])),
        F.HISTORY_INDEX: history_index,
        F.HISTORY_LENGTH_FEATURE: history_length,
        # Passed through for labels (the Trainer's Embedding Projector), never a model input.
        F.TITLE: _dense_strings(inputs[F.TITLE]),
    }


def _index(values: tf.Tensor | tf.SparseTensor, vocab_name: str) -> tf.Tensor:
    """Vocabulary index of a single-valued string feature; unseen values -> vocabulary size."""
    return tft.compute_and_apply_vocabulary(
        _dense_strings(values), vocab_filename=vocab_name, num_oov_buckets=1)


def _multi_hot_genres(genres: tf.SparseTensor) -> tf.Tensor:
    """[B, GENRE_SLOTS] float multi-hot; genres beyond the vocabulary share the OOV slot.

    top_k keeps the width static (GENRE_SLOTS) whatever the dataset's genre count.
    """
    indices = tft.compute_and_apply_vocabulary(
        _as_sparse(genres), top_k=F.GENRE_VOCAB_SIZE, num_oov_buckets=1,
        vocab_filename=F.GENRE_VOCAB)
    indicator = tf.sparse.to_indicator(indices, vocab_size=F.GENRE_SLOTS)
    return tf.cast(indicator, tf.float32)


def _history(
    history: tf.SparseTensor, movie_vocab: tf.Tensor, width: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """([B, width] movie_index + 1 right-aligned with 0 padding, [B] real lengths)."""
    history = _as_sparse(history)
    index = tft.apply_vocabulary(
        history, deferred_vocab_filename_tensor=movie_vocab, num_oov_buckets=1)
    rows, positions = index.indices[:, 0], index.indices[:, 1]
    batch_size = index.dense_shape[0]
    row_lengths = tf.math.bincount(
        rows, minlength=batch_size, maxlength=batch_size, dtype=tf.int64)
    # Right-align each row so the newest item is always in the last column; items older than
    # the last `width` fall off the left edge.
    columns = positions + width - tf.gather(row_lengths, rows)
    keep = columns >= 0
    aligned = tf.SparseTensor(
        indices=tf.stack([tf.boolean_mask(rows, keep), tf.boolean_mask(columns, keep)], axis=1),
        values=tf.boolean_mask(index.values + 1, keep),
        dense_shape=tf.stack([batch_size, tf.constant(width, tf.int64)]))
    history_index = tf.sparse.to_dense(aligned, default_value=0)
    history_index = tf.ensure_shape(history_index, [None, width])
    return history_index, tf.minimum(row_lengths, width)


def _as_sparse(values: tf.Tensor | tf.SparseTensor | tf.RaggedTensor) -> tf.SparseTensor:
    if isinstance(values, tf.SparseTensor):
        return values
    if isinstance(values, tf.RaggedTensor):
        return values.to_sparse()
    return tf.sparse.from_dense(values)


def _dense(values: tf.Tensor | tf.SparseTensor, default) -> tf.Tensor:
    """[B] from a [B, 1] dense or a sparse single-valued feature (missing -> default)."""
    if isinstance(values, tf.SparseTensor):
        batch_size = values.dense_shape[0]
        values = tf.sparse.to_dense(
            tf.sparse.reset_shape(values, [batch_size, 1]), default_value=default)
    return tf.reshape(values, [-1])


def _dense_strings(values: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    return _dense(values, "")


def _dense_float(values: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    return tf.cast(_dense(values, tf.zeros([], values.dtype)), tf.float32)
