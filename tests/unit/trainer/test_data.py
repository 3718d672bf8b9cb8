"""The training tables the Trainer gathers, in one pass over the training data."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from contract import features as F
from tests.fixtures.model_inputs import VOCAB
from tests.fixtures.model_inputs import make_features as _make_features
from trainer import data


def test_training_tables_take_one_pass() -> None:
    features = {name: value.numpy() for name, value in _make_features(300, seed=2).items()}
    features[F.MOVIE_INDEX][:5] = VOCAB.movies  # a few movies out of vocabulary
    passes = []

    def batches():
        passes.append(1)
        for start in range(0, 300, 64):
            yield {name: value[start:start + 64] for name, value in features.items()}

    signature = {name: tf.TensorSpec((None, *value.shape[1:]), value.dtype)
                 for name, value in features.items()}
    tables = data.training_tables(
        tf.data.Dataset.from_generator(batches, output_signature=signature), VOCAB)

    assert len(passes) == 1
    known = features[F.MOVIE_INDEX][features[F.MOVIE_INDEX] < VOCAB.movies]
    np.testing.assert_array_equal(tables.movie_counts, np.bincount(known, minlength=VOCAB.movies))
    np.testing.assert_array_equal(tables.seen.row_lengths()[:-1],
                                  np.bincount(features[F.USER_INDEX], minlength=VOCAB.users))
    assert tables.catalogue[F.MOVIE_INDEX].shape == (VOCAB.movies,)
    assert tables.users[F.HISTORY_INDEX].shape == (VOCAB.users + 1, VOCAB.history_length)
