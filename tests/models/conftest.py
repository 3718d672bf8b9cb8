"""Tiny vocabularies and synthetic batches of *transformed* features for the model tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFRS needs Keras 2 (tf_keras)

import numpy as np
import pytest
import tensorflow as tf

from recsys import features as F
from trainer.config import config_with_overrides
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes

VOCAB = VocabSizes(users=7, movies=11, genders=2, occupations=4)
PATTERNS = ("random", "user", "history")
# A constant rate: these tests fit a few steps, not a whole schedule (see test_config).
FAST = {"embedding_dim": "16", "learning_rate": "0.02", "lr_schedule": "constant"}


def _make_features(n: int, seed: int = 0, pattern: str = "random") -> dict[str, tf.Tensor]:
    """n transformed examples; ids include the OOV index only where a test asks for it.

    pattern picks what the movie depends on, so a model has something to learn:
    "user": movie = 3 * user mod M; "history": movie = the one after the newest history item;
    "random": independent. The rating is always 5 when user + movie is odd, else 1.
    """
    assert pattern in PATTERNS
    rng = np.random.default_rng(seed)
    users = rng.integers(0, VOCAB.users, n)
    lengths = rng.integers(0, F.HISTORY_LENGTH + 1, n)
    history = rng.integers(1, VOCAB.movies + 1, (n, F.HISTORY_LENGTH))
    history[np.arange(F.HISTORY_LENGTH)[None, :] < (F.HISTORY_LENGTH - lengths)[:, None]] = 0
    movies = {
        "random": rng.integers(0, VOCAB.movies, n),
        "user": (3 * users) % VOCAB.movies,
        "history": history[:, -1] % VOCAB.movies,  # newest item's movie_index + 1
    }[pattern]
    columns = {
        F.USER_INDEX: users,
        F.MOVIE_INDEX: movies,
        F.RATING: (1 + 4 * ((users + movies) % 2)).astype(np.float32),
        F.GENRES_MULTI_HOT: (rng.uniform(size=(n, F.GENRE_SLOTS)) < 0.2).astype(np.float32),
        F.GENDER_INDEX: rng.integers(0, VOCAB.genders, n),
        F.OCCUPATION_INDEX: rng.integers(0, VOCAB.occupations, n),
        F.AGE_BUCKET: rng.integers(0, F.AGE_BUCKETS, n),
        F.YEAR_BUCKET: rng.integers(0, F.YEAR_BUCKETS, n),
        F.TIMESTAMP_SCALED: rng.uniform(size=n).astype(np.float32),
        F.HISTORY_INDEX: history,
        F.HISTORY_LENGTH_FEATURE: lengths,
    }
    return {key: tf.constant(value) for key, value in columns.items()}


def _make_catalogue(num_movies: int = VOCAB.movies) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(1)
    genres = (rng.uniform(size=(num_movies, F.GENRE_SLOTS)) < 0.2).astype(np.float32)
    return {
        F.MOVIE_INDEX: tf.range(num_movies, dtype=tf.int64),
        F.GENRES_MULTI_HOT: tf.constant(genres),
        F.YEAR_BUCKET: tf.constant(rng.integers(0, F.YEAR_BUCKETS, num_movies)),
    }


@pytest.fixture
def vocab() -> VocabSizes:
    return VOCAB


@pytest.fixture
def make_features():
    """The `_make_features` factory (fixtures, not imports: conftest is not importable)."""
    return _make_features


@pytest.fixture
def features() -> dict[str, tf.Tensor]:
    return _make_features(16)


@pytest.fixture
def catalogue() -> dict[str, tf.Tensor]:
    return _make_catalogue()


@pytest.fixture
def make_model():
    """make_model(name, **overrides): a small, fast-learning model (retrieval models get the
    conftest catalogue to softmax over)."""

    def make(name: str, **overrides: str):
        config = config_with_overrides(name, {**FAST, **overrides})
        return build_model(name, VOCAB, config, _make_catalogue())

    return make


@pytest.fixture
def oov_features() -> dict[str, tf.Tensor]:
    """A batch where every id is out of vocabulary."""
    batch = dict(_make_features(4))
    batch[F.USER_INDEX] = tf.fill([4], tf.constant(VOCAB.users, tf.int64))
    batch[F.MOVIE_INDEX] = tf.fill([4], tf.constant(VOCAB.movies, tf.int64))
    batch[F.GENDER_INDEX] = tf.fill([4], tf.constant(VOCAB.genders, tf.int64))
    batch[F.OCCUPATION_INDEX] = tf.fill([4], tf.constant(VOCAB.occupations, tf.int64))
    batch[F.HISTORY_INDEX] = tf.fill([4, F.HISTORY_LENGTH], tf.constant(VOCAB.movies + 1, tf.int64))
    return batch
