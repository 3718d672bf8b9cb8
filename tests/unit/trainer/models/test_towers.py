"""Towers and the history encoder: padding masking, OOV rows, id dropout, TFLite."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from trainer.config import HISTORY_ENCODERS
from trainer.models.towers import (
    AttentionSize,
    CausalSelfAttention,
    HistoryEncoder,
    MovieTower,
    UserTower,
    drop_ids,
)


def _padded(items: list[int], length: int) -> list[int]:
    return [0] * (length - len(items)) + items


def _random_encoder(kind: str) -> HistoryEncoder:
    """An encoder with random weights, biases included: zero biases would hide unmasked
    padding (a GRU or ReLU conv fed zeros from a zero state stays at zero)."""
    encoder = HistoryEncoder(num_movies=11, embedding_dim=8, kind=kind)
    encoder(tf.zeros([1, 4], tf.int64))  # builds the weights
    rng = np.random.default_rng(0)
    for weight in encoder.weights:
        weight.assign(rng.normal(0.0, 0.5, weight.shape))
    return encoder


@pytest.mark.parametrize("kind", HISTORY_ENCODERS)
def test_history_encoding_ignores_leading_padding(kind: str) -> None:
    encoder = _random_encoder(kind)
    for items in ([3, 5], [3], [4, 1, 9]):
        unpadded = encoder(tf.constant([items], tf.int64)).numpy()
        for length in (len(items) + 2, F.DEFAULT_HISTORY_LENGTH):
            padded = encoder(tf.constant([_padded(items, length)], tf.int64)).numpy()
            np.testing.assert_allclose(padded, unpadded, atol=1e-5)
    # The content does matter: one item more changes the encoding.
    two, one = encoder(tf.constant([_padded([3, 5], 4), _padded([3], 4)], tf.int64)).numpy()
    assert np.abs(two - one).max() > 1e-4


@pytest.mark.parametrize("kind", HISTORY_ENCODERS)
def test_empty_history_encodes_to_zeros(kind: str) -> None:
    encoder = _random_encoder(kind)
    encoding = encoder(tf.zeros([2, F.DEFAULT_HISTORY_LENGTH], tf.int64)).numpy()
    np.testing.assert_array_equal(encoding, np.zeros((2, 8)))


@pytest.mark.parametrize(("kind", "order_matters"),
                         [("bow", False), ("cnn", True), ("gru", True), ("attention", True)])
def test_history_order(kind: str, order_matters: bool) -> None:
    encoder = HistoryEncoder(num_movies=11, embedding_dim=8, kind=kind)
    forward, backward = encoder(tf.constant([_padded([1, 2, 3], 20), _padded([3, 2, 1], 20)],
                                            tf.int64)).numpy()
    assert (np.abs(forward - backward).max() > 1e-5) == order_matters


def test_self_attention_is_causal() -> None:
    """A later item (or its absence) never changes an earlier position's output."""
    layer = CausalSelfAttention(8, AttentionSize(heads=2, blocks=2, dropout=0.0))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 6, 8)), tf.float32)
    mask = tf.ones([3, 6], tf.bool)
    before = layer(x, mask).numpy()
    changed = tf.concat([x[:, :4], tf.constant(rng.normal(size=(3, 2, 8)), tf.float32)], 1)
    after = layer(changed, mask).numpy()
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-5)
    assert np.abs(after[:, 4:] - before[:, 4:]).max() > 1e-3  # the later positions do read them
    # An earlier item changes every position from its own on.
    earlier = tf.concat([x[:, :1], tf.constant(rng.normal(size=(3, 1, 8)), tf.float32), x[:, 2:]],
                        1)
    moved = layer(earlier, mask).numpy()
    np.testing.assert_allclose(moved[:, 0], before[:, 0], atol=1e-5)
    assert (np.abs(moved[:, 1:] - before[:, 1:]).max(axis=(0, 2)) > 1e-4).all()


def test_self_attention_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        CausalSelfAttention(8, AttentionSize(heads=3))


def test_unknown_encoder_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="lstm"):
        HistoryEncoder(num_movies=11, embedding_dim=8, kind="lstm")


def test_drop_ids_only_in_training() -> None:
    ids = tf.zeros([1000], tf.int64)
    np.testing.assert_array_equal(drop_ids(ids, 7, 0.5, training=False), ids)
    dropped = drop_ids(ids, 7, 0.5, training=True).numpy()
    assert set(np.unique(dropped)) == {0, 7}
    assert 0.4 < (dropped == 7).mean() < 0.6


def test_towers_output_embedding_dim(vocab, features, catalogue) -> None:
    encoder = HistoryEncoder(vocab.movies, 8)
    full_user = UserTower(vocab, 8, use_demographics=True, history_encoder=encoder)
    assert full_user(features).shape == (16, 8)
    assert UserTower(vocab, 8)(features).shape == (16, 8)
    assert MovieTower(vocab, 8, use_content=True)(catalogue).shape == (vocab.movies, 8)


def test_history_size_tells_one_rating_from_many_of_the_same(vocab) -> None:
    """A mean of item vectors cannot tell [a] from [a, a, a]; the size embedding can, and only
    the item count (not the padding's width) matters."""
    length = vocab.history_length
    tower = UserTower(vocab, 8, use_id=False, history_encoder=HistoryEncoder(vocab.movies, 8),
                      history_size_dim=4)
    once = [0] * (length - 1) + [3]
    thrice = [0] * (length - 3) + [3, 3, 3]
    vectors = tower({F.HISTORY_INDEX: tf.constant([once, thrice, once], tf.int64)}).numpy()
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-5
    np.testing.assert_allclose(vectors[0], vectors[2])
    plain = UserTower(vocab, 8, use_id=False, history_encoder=HistoryEncoder(vocab.movies, 8))
    vectors = plain({F.HISTORY_INDEX: tf.constant([once, thrice], tf.int64)}).numpy()
    np.testing.assert_allclose(vectors[0], vectors[1], rtol=1e-6)
    with pytest.raises(ValueError, match="history_size_dim needs a history encoder"):
        UserTower(vocab, 8, history_size_dim=4)


def test_cold_user_embedding_comes_from_demographics(vocab, oov_features) -> None:
    tower = UserTower(vocab, 8, use_demographics=True)
    genders = tf.constant([0, 1, 0, 1], tf.int64)
    cold = dict(oov_features, **{F.GENDER_INDEX: genders,
                                 F.OCCUPATION_INDEX: tf.zeros([4], tf.int64),
                                 F.AGE_BUCKET: tf.zeros([4], tf.int64)})
    vectors = tower(cold).numpy()
    np.testing.assert_allclose(vectors[0], vectors[2])
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-5


def test_cold_movie_embedding_comes_from_content(vocab, catalogue) -> None:
    tower = MovieTower(vocab, 8, use_content=True)
    cold = dict(catalogue, **{F.MOVIE_INDEX: tf.fill([vocab.movies], tf.constant(vocab.movies,
                                                                                    tf.int64))})
    vectors = tower(cold).numpy()
    assert np.isfinite(vectors).all()
    assert len({tuple(np.round(row, 5)) for row in vectors}) > 1  # genres/year tell them apart
