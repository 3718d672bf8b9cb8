"""Fixtures over tests/fixtures/model_inputs.py for the trainer and model tests."""

from __future__ import annotations

import pytest
import tensorflow as tf

from contract import features as F
from tests.fixtures.model_inputs import VOCAB, fast_overrides, make_catalogue
from tests.fixtures.model_inputs import make_features as _make_features
from trainer.config import config_with_overrides
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes


@pytest.fixture
def vocab() -> VocabSizes:
    return VOCAB


@pytest.fixture
def make_features():
    """The `make_features` factory."""
    return _make_features


@pytest.fixture
def features() -> dict[str, tf.Tensor]:
    return _make_features(16)


@pytest.fixture
def catalogue() -> dict[str, tf.Tensor]:
    return make_catalogue()


@pytest.fixture
def make_model():
    """make_model(name, **overrides): a small, fast-learning model (retrieval models get the
    conftest catalogue to softmax over)."""

    def make(name: str, **overrides: str):
        config = config_with_overrides(name, fast_overrides(name, overrides))
        return build_model(name, VOCAB, config, make_catalogue())

    return make


@pytest.fixture
def oov_features() -> dict[str, tf.Tensor]:
    """A batch where every id is out of vocabulary."""
    batch = dict(_make_features(4))
    batch[F.USER_INDEX] = tf.fill([4], tf.constant(VOCAB.users, tf.int64))
    batch[F.MOVIE_INDEX] = tf.fill([4], tf.constant(VOCAB.movies, tf.int64))
    batch[F.GENDER_INDEX] = tf.fill([4], tf.constant(VOCAB.genders, tf.int64))
    batch[F.OCCUPATION_INDEX] = tf.fill([4], tf.constant(VOCAB.occupations, tf.int64))
    batch[F.HISTORY_INDEX] = tf.fill([4, VOCAB.history_length],
                                     tf.constant(VOCAB.movies + 1, tf.int64))
    return batch
