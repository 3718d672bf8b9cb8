"""The two-tower model's towers read exactly the feature groups of its catalogue entry."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from contract.catalogue import Group, Kind, entry, names
from tests.fixtures.model_inputs import fast_overrides
from trainer.config import config_with_overrides

# A feature of each group, and a change to it that a tower reading the group must see.
CHANGES = {
    Group.USER_ID: (F.USER_INDEX, lambda v: (v + 1) % 7),
    Group.DEMOGRAPHICS: (F.OCCUPATION_INDEX, lambda v: (v + 1) % 4),
    Group.HISTORY: (F.HISTORY_INDEX, lambda v: tf.concat([v[:, :-1], v[:, -1:] % 11 + 1], 1)),
    Group.MOVIE_ID: (F.MOVIE_INDEX, lambda v: (v + 1) % 11),
    Group.CONTENT: (F.GENRES_MULTI_HOT, lambda v: 1.0 - v),
}
TWO_TOWER = tuple(n for n in names(Kind.RETRIEVAL) if not entry(n).stages)  # not cascades


def _changed(features, group):
    name, change = CHANGES[group]
    return {**features, name: change(features[name])}


@pytest.mark.parametrize("name", TWO_TOWER)
def test_the_query_tower_reads_only_the_entry_query_groups(make_model, features, name):
    model = make_model(name)
    before = model.query_embeddings(features).numpy()
    for group in (Group.USER_ID, Group.DEMOGRAPHICS, Group.HISTORY):
        after = model.query_embeddings(_changed(features, group)).numpy()
        assert (not np.allclose(before, after)) == (group in entry(name).query), group


@pytest.mark.parametrize("name", TWO_TOWER)
def test_the_candidate_tower_reads_only_the_entry_candidate_groups(make_model, catalogue, name):
    model = make_model(name)
    before = model.candidate_embeddings(catalogue).numpy()
    for group in (Group.MOVIE_ID, Group.CONTENT):
        after = model.candidate_embeddings(_changed(catalogue, group)).numpy()
        assert (not np.allclose(before, after)) == (group in entry(name).candidate), group


@pytest.mark.parametrize("name", TWO_TOWER)
def test_movie_bias_adds_a_learned_term_per_movie_to_every_logit(make_model, features,
                                                                 catalogue, name):
    """movie_bias: score / temperature = cos(query tower, movie tower) / temperature + b_m in
    the full softmax's logits, and the item vectors stay the movie tower's alone."""
    model = make_model(name, movie_bias="true", temperature="0.2")
    model.candidate_embeddings(catalogue)  # builds the bias table
    table = model.movie_bias.embeddings
    table.assign(tf.random.normal(table.shape))
    bias = table[:-1, 0]  # [M]; the last row: unknown movies
    users = tf.math.l2_normalize(model.query_model(features), -1)
    movies = tf.math.l2_normalize(model.candidate_model(catalogue), -1)
    expected = tf.matmul(users, movies, transpose_b=True) / 0.2 + bias[None, :]
    scores = model.score(model.query_embeddings(features), model.candidate_embeddings(catalogue))
    np.testing.assert_allclose(scores / 0.2, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.item_embeddings(catalogue), movies, rtol=1e-5, atol=1e-6)
    width = config_with_overrides(name, fast_overrides(name, {"movie_bias": "true"})).vector_width
    assert scores.shape[1] == catalogue[F.MOVIE_INDEX].shape[0]
    assert model.query_embeddings(features).shape[1] == width == movies.shape[1] + 1
    cross_entropy = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        features[F.MOVIE_INDEX], expected)
    assert float(model.compute_loss(features)) == pytest.approx(float(cross_entropy), rel=1e-4)


def test_movie_bias_learns_how_often_a_movie_is_watched(make_model, make_features):
    """Users carry no signal here (every positive drawn from the same skewed distribution)
    and a temperature of 5 leaves cosine scores a range of 0.4: the bias orders the movies by
    how often they are the positive."""
    data = make_features(512, seed=4)
    rng = np.random.default_rng(0)
    weights = 0.5 ** np.arange(11)
    data[F.MOVIE_INDEX] = tf.constant(rng.choice(11, 512, p=weights / weights.sum()), tf.int64)
    model = make_model("retrieval", movie_bias="true", temperature="5")
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(64), epochs=10, verbose=0)
    bias = model.movie_bias.embeddings[:4, 0].numpy()
    assert list(np.argsort(-bias)) == [0, 1, 2, 3]
