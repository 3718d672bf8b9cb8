"""The input pipeline shared by all five models: transformed tf.Examples -> batched dicts,
and the one pass over the training data that gathers the tables the Trainer needs."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from contract import features as F
from trainer.models.towers import VocabSizes

SHUFFLE_SEED = 42
# Examples held for shuffling (tfxio's default is 10,000). The ExampleGen writes each user's
# events together, so a small buffer trains on ~100 users at a time; 500,000 transformed
# examples (~150 MB) shuffle ML-1M whole and mix a large dataset over thousands of users.
SHUFFLE_BUFFER = 500_000
Batch = dict[str, np.ndarray]


def dataset(
    file_pattern: list[str],
    data_accessor: tfx.components.DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    num_epochs: int | None = 1,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """Batches of transformed features {name: [B, ...]} (names: contract/features.py).

    The tfxio factory already follows tf.data practice: files are read by a parallel
    interleave (AUTOTUNE threads, deterministic order), whole batches are parsed at once and
    prefetched (AUTOTUNE). No `.cache()`: shuffling happens inside the factory before
    batching, so a cache after it would replay the first epoch's order every epoch.
    """
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, shuffle=shuffle, shuffle_seed=SHUFFLE_SEED,
        shuffle_buffer_size=SHUFFLE_BUFFER, num_epochs=num_epochs, drop_final_batch=False)
    return data_accessor.tf_dataset_factory(
        file_pattern, options, tf_transform_output.transformed_metadata.schema)


def shard_by_data(batches: tf.data.Dataset) -> tf.data.Dataset:
    """`batches` set to be sharded by element under a multi-worker strategy.

    Each worker reads all files and keeps its share of every global batch: works for any
    number of files (FILE sharding needs at least one per worker) and, the read order being
    deterministic and the shuffle seeded, the workers' shares are disjoint and cover the data.
    Ignored without a distribution strategy.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options)


def vocab_sizes(tf_transform_output: tft.TFTransformOutput) -> VocabSizes:
    """Vocabulary sizes without the OOV slot (each embedding adds one row for it), and the
    history length Transform was given: the width of its history_index feature."""
    size = tf_transform_output.vocabulary_size_by_name
    return VocabSizes(
        users=size(F.USER_VOCAB), movies=size(F.MOVIE_VOCAB),
        genders=size(F.GENDER_VOCAB), occupations=size(F.OCCUPATION_VOCAB),
        history_length=history_length(tf_transform_output))


def history_length(tf_transform_output: tft.TFTransformOutput) -> int:
    """The run's history length: the width of Transform's history_index feature [B, L]."""
    (width,) = tf_transform_output.transformed_feature_spec()[F.HISTORY_INDEX].shape
    return width


@dataclasses.dataclass(frozen=True)
class TrainingTables:
    """What the Trainer gathers from the transformed training examples (see each builder)."""

    catalogue: dict[str, tf.Tensor]  # one row per known movie: [M], [M, G], [M]
    users: dict[str, tf.Tensor]  # per-user query features [U + 1, ...]
    seen: tf.RaggedTensor  # [U + 1, None] movie indices each user rated in training
    movie_counts: np.ndarray  # [M] training examples of each movie (int64)
    validation_movie_counts: np.ndarray  # [M] validation examples of each movie (int64)
    # [M] each movie's title ("" if the examples carry none); labels, not model features.
    titles: list[str] = dataclasses.field(default_factory=list)

    def with_validation_fitted(self) -> TrainingTables:
        """The tables of a model fitted on training and validation examples alike."""
        return dataclasses.replace(
            self, movie_counts=self.movie_counts + self.validation_movie_counts,
            validation_movie_counts=np.zeros_like(self.validation_movie_counts))


def training_tables(train_batches: tf.data.Dataset, vocab: VocabSizes,
                    validation_batches: tf.data.Dataset | None = None) -> TrainingTables:
    """All the tables, from ONE pass over the training batches and the validation batches,
    which count as seen data in the catalogue, the user table and `seen`."""
    catalogue = _Catalogue(vocab.movies)
    users = _UserTable(vocab.users, vocab.history_length)
    seen = _SeenMovies(vocab.users)
    counts = {}
    for split, batches in (("train", train_batches), ("validation", validation_batches)):
        counts[split] = np.zeros(vocab.movies + 1, np.int64)  # + the OOV index
        for batch in batches.as_numpy_iterator() if batches is not None else ():
            for builder in (catalogue, users, seen):
                builder.add(batch)
            counts[split] += np.bincount(np.asarray(batch[F.MOVIE_INDEX]).reshape(-1),
                                         minlength=vocab.movies + 1)
    return TrainingTables(catalogue.result(), users.result(), seen.result(),
                          counts["train"][:vocab.movies], counts["validation"][:vocab.movies],
                          catalogue.titles())


class _Catalogue:
    """One row per known movie (index 0..M-1): {movie_index [M], genres_multi_hot [M, G],
    year_bucket [M]}, and the titles beside it (`titles`).

    Movie features are constant per movie, so the last value seen for a movie is its value.
    """

    def __init__(self, num_movies: int) -> None:
        self._num_movies = num_movies
        self._genres = np.zeros((num_movies, F.GENRE_SLOTS), np.float32)
        self._years = np.zeros((num_movies,), np.int64)
        self._titles = np.full((num_movies,), b"", dtype=object)

    def add(self, batch: Batch) -> None:
        index = np.asarray(batch[F.MOVIE_INDEX]).reshape(-1)
        known = index < self._num_movies
        self._genres[index[known]] = np.asarray(batch[F.GENRES_MULTI_HOT])[known]
        self._years[index[known]] = np.asarray(batch[F.YEAR_BUCKET]).reshape(-1)[known]
        if F.TITLE in batch:
            self._titles[index[known]] = np.asarray(batch[F.TITLE]).reshape(-1)[known]

    def titles(self) -> list[str]:
        return [title.decode("utf-8") for title in self._titles]

    def result(self) -> dict[str, tf.Tensor]:
        return {
            F.MOVIE_INDEX: tf.range(self._num_movies, dtype=tf.int64),
            F.GENRES_MULTI_HOT: tf.constant(self._genres),
            F.YEAR_BUCKET: tf.constant(self._years),
        }


class _UserTable:
    """Per-user query features as of each user's latest training event, [U + 1, ...].

    Row U (the out-of-vocabulary user) keeps defaults: index 0 side features, empty history.
    The stored history is the one *after* the latest event: that event's movie appended.
    """

    def __init__(self, num_users: int, history_length: int) -> None:
        rows = num_users + 1
        self._num_users, self._history_length = num_users, history_length
        self._latest = np.full(rows, -np.inf)
        self._table = {
            F.GENDER_INDEX: np.zeros(rows, np.int64),
            F.OCCUPATION_INDEX: np.zeros(rows, np.int64),
            F.AGE_BUCKET: np.zeros(rows, np.int64),
            F.TIMESTAMP_SCALED: np.ones(rows, np.float32),
            F.HISTORY_INDEX: np.zeros((rows, history_length), np.int64),
            F.HISTORY_LENGTH_FEATURE: np.zeros(rows, np.int64),
        }

    def add(self, batch: Batch) -> None:
        table = self._table
        users = np.asarray(batch[F.USER_INDEX]).reshape(-1)
        when = np.asarray(batch[F.TIMESTAMP_SCALED]).reshape(-1)
        # Later rows win in fancy assignment, so process rows oldest first.
        order = np.argsort(when, kind="stable")
        users_in_order = users[order]
        newer = order[(users_in_order < self._num_users)
                      & (when[order] >= self._latest[users_in_order])]
        target = users[newer]
        self._latest[target] = when[newer]
        for name in (F.GENDER_INDEX, F.OCCUPATION_INDEX, F.AGE_BUCKET):
            table[name][target] = np.asarray(batch[name]).reshape(-1)[newer]
        history = np.asarray(batch[F.HISTORY_INDEX])[newer]
        movie = np.asarray(batch[F.MOVIE_INDEX]).reshape(-1)[newer] + 1
        table[F.HISTORY_INDEX][target] = np.concatenate([history[:, 1:], movie[:, None]], 1)
        table[F.HISTORY_LENGTH_FEATURE][target] = np.minimum(
            np.asarray(batch[F.HISTORY_LENGTH_FEATURE]).reshape(-1)[newer] + 1,
            self._history_length)

    def result(self) -> dict[str, tf.Tensor]:
        return {name: tf.constant(values) for name, values in self._table.items()}


class _SeenMovies:
    """[U + 1, None] movie indices each user rated in training; row U (unknown user) empty."""

    def __init__(self, num_users: int) -> None:
        self._num_users = num_users
        self._users: list[np.ndarray] = []
        self._movies: list[np.ndarray] = []

    def add(self, batch: Batch) -> None:
        self._users.append(np.asarray(batch[F.USER_INDEX]).reshape(-1))
        self._movies.append(np.asarray(batch[F.MOVIE_INDEX]).reshape(-1))

    def result(self) -> tf.RaggedTensor:
        users, movies = np.concatenate(self._users), np.concatenate(self._movies)
        known = users < self._num_users
        users, movies = users[known], movies[known]
        order = np.argsort(users, kind="stable")
        return tf.RaggedTensor.from_value_rowids(
            movies[order], users[order], nrows=self._num_users + 1)
