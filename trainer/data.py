"""The input pipeline shared by all five models: transformed tf.Examples -> batched dicts."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from recsys import features as F
from trainer.models.towers import VocabSizes

SHUFFLE_SEED = 42


def dataset(
    file_pattern: list[str],
    data_accessor: tfx.components.DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    num_epochs: int | None = 1,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """Batches of transformed features {name: [B, ...]} (names: recsys/features.py)."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, shuffle=shuffle, shuffle_seed=SHUFFLE_SEED, num_epochs=num_epochs,
        drop_final_batch=False)
    return data_accessor.tf_dataset_factory(
        file_pattern, options, tf_transform_output.transformed_metadata.schema
    ).prefetch(tf.data.AUTOTUNE)


def vocab_sizes(tf_transform_output: tft.TFTransformOutput) -> VocabSizes:
    """Vocabulary sizes without the OOV slot (each embedding adds one row for it)."""
    size = tf_transform_output.vocabulary_size_by_name
    return VocabSizes(
        users=size(F.USER_VOCAB), movies=size(F.MOVIE_VOCAB),
        genders=size(F.GENDER_VOCAB), occupations=size(F.OCCUPATION_VOCAB))


def catalogue(batches: tf.data.Dataset, num_movies: int) -> dict[str, tf.Tensor]:
    """One row per known movie (index 0..M-1): {movie_index [M], genres_multi_hot [M, G],
    year_bucket [M]}, gathered from the transformed training examples.

    Movie features are constant per movie, so the last value seen for a movie is its value.
    """
    genres = np.zeros((num_movies, F.GENRE_SLOTS), np.float32)
    years = np.zeros((num_movies,), np.int64)
    for batch in batches.as_numpy_iterator():
        index = np.asarray(batch[F.MOVIE_INDEX]).reshape(-1)
        known = index < num_movies
        genres[index[known]] = np.asarray(batch[F.GENRES_MULTI_HOT])[known]
        years[index[known]] = np.asarray(batch[F.YEAR_BUCKET]).reshape(-1)[known]
    return {
        F.MOVIE_INDEX: tf.range(num_movies, dtype=tf.int64),
        F.GENRES_MULTI_HOT: tf.constant(genres),
        F.YEAR_BUCKET: tf.constant(years),
    }


def user_table(batches: tf.data.Dataset, num_users: int) -> dict[str, tf.Tensor]:
    """Per-user query features as of each user's latest training event, [U + 1, ...].

    Row U (the out-of-vocabulary user) keeps defaults: index 0 side features, empty history.
    The stored history is the one *after* the latest event: that event's movie appended.
    """
    rows = num_users + 1
    latest = np.full(rows, -np.inf)
    table = {
        F.GENDER_INDEX: np.zeros(rows, np.int64),
        F.OCCUPATION_INDEX: np.zeros(rows, np.int64),
        F.AGE_BUCKET: np.zeros(rows, np.int64),
        F.TIMESTAMP_SCALED: np.ones(rows, np.float32),
        F.HISTORY_INDEX: np.zeros((rows, F.HISTORY_LENGTH), np.int64),
        F.HISTORY_LENGTH_FEATURE: np.zeros(rows, np.int64),
    }
    for batch in batches.as_numpy_iterator():
        users = np.asarray(batch[F.USER_INDEX]).reshape(-1)
        when = np.asarray(batch[F.TIMESTAMP_SCALED]).reshape(-1)
        # Later rows win in fancy assignment, so process rows oldest first.
        order = np.argsort(when, kind="stable")
        newer = order[(users[order] < num_users) & (when[order] >= latest[users[order]])]
        target = users[newer]
        latest[target] = when[newer]
        for name in (F.GENDER_INDEX, F.OCCUPATION_INDEX, F.AGE_BUCKET):
            table[name][target] = np.asarray(batch[name]).reshape(-1)[newer]
        history = np.asarray(batch[F.HISTORY_INDEX])[newer]
        movie = np.asarray(batch[F.MOVIE_INDEX]).reshape(-1)[newer] + 1
        table[F.HISTORY_INDEX][target] = np.concatenate([history[:, 1:], movie[:, None]], 1)
        table[F.HISTORY_LENGTH_FEATURE][target] = np.minimum(
            np.asarray(batch[F.HISTORY_LENGTH_FEATURE]).reshape(-1)[newer] + 1, F.HISTORY_LENGTH)
    return {name: tf.constant(values) for name, values in table.items()}


def seen_movies(batches: tf.data.Dataset, num_users: int) -> tf.RaggedTensor:
    """[U + 1, None] movie indices each user rated in training; row U (unknown user) empty."""
    users, movies = [], []
    for batch in batches.as_numpy_iterator():
        users.append(np.asarray(batch[F.USER_INDEX]).reshape(-1))
        movies.append(np.asarray(batch[F.MOVIE_INDEX]).reshape(-1))
    users, movies = np.concatenate(users), np.concatenate(movies)
    known = users < num_users
    users, movies = users[known], movies[known]
    order = np.argsort(users, kind="stable")
    return tf.RaggedTensor.from_value_rowids(
        movies[order], users[order], nrows=num_users + 1)
