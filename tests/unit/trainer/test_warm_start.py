"""Warm start (trainer/warm_start.py): a model built for grown, reordered vocabularies starts
from a base SavedModel's weights. For every model of the catalogue: the users and movies both
vocabularies know score exactly as in the base model, new ones keep their fresh rows."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from contract.catalogue import MODEL_NAMES, Kind, entry
from tests.fixtures.model_inputs import GIBBS_FAST, fast_overrides
from trainer import warm_start
from trainer.config import config_with_overrides
from trainer.models.registry import build_model

BASE = {
    F.USER_VOCAB: [b"u%d" % i for i in range(7)],
    F.MOVIE_VOCAB: [b"m%d" % i for i in range(11)],
    F.GENDER_VOCAB: [b"M", b"F"],
    F.OCCUPATION_VOCAB: [b"writer", b"artist", b"doctor"],
    F.GENRE_VOCAB: [b"Drama", b"Comedy", b"Action", b"Horror"],
}
# Users u0 and m3 leave, new ones arrive, and every vocabulary is reordered.
NEW = {
    F.USER_VOCAB: [b"u9", *BASE[F.USER_VOCAB][:0:-1], b"u8"],
    F.MOVIE_VOCAB: [b"m20", *[m for m in BASE[F.MOVIE_VOCAB][::-1] if m != b"m3"]],
    F.GENDER_VOCAB: [b"F", b"M"],
    F.OCCUPATION_VOCAB: [b"doctor", b"lawyer", b"writer", b"artist"],
    F.GENRE_VOCAB: [b"Western", b"Action", b"Drama", b"Horror", b"Comedy"],
}
SHARED_USERS = [b"u1", b"u4", b"u6", b"u2"]
SHARED_MOVIES = [b"m0", b"m5", b"m10", b"m7"]


def _model(name, vocabularies, **overrides):
    vocab = warm_start.vocab_sizes(vocabularies, F.DEFAULT_HISTORY_LENGTH)
    config = config_with_overrides(name, fast_overrides(name, overrides))
    model = build_model(name, vocab, config, _catalogue(vocabularies),
                        np.ones(vocab.movies, np.int64))
    warm_start.build(model, vocab)
    return model, config


def _catalogue(vocabularies):
    movies = len(vocabularies[F.MOVIE_VOCAB])
    genres = np.zeros((movies, F.GENRE_SLOTS), np.float32)
    for row, movie in enumerate(vocabularies[F.MOVIE_VOCAB]):
        genre = vocabularies[F.GENRE_VOCAB].index(_genre_of(movie))
        genres[row, genre] = 1.0
    return {F.MOVIE_INDEX: tf.range(movies, dtype=tf.int64), F.GENRES_MULTI_HOT: genres,
            F.YEAR_BUCKET: tf.constant([int(m[1:]) % F.YEAR_BUCKETS
                                        for m in vocabularies[F.MOVIE_VOCAB]], tf.int64)}


def _genre_of(movie: bytes) -> bytes:
    return BASE[F.GENRE_VOCAB][int(movie[1:]) % len(BASE[F.GENRE_VOCAB])]


def _save_base(model, vocabularies, path: str) -> str:
    """A SavedModel as trainer/export.py lays it out: the Keras model under `model`, the TFT
    vocabularies in assets/."""
    module = tf.Module()
    module.model = model
    tf.saved_model.save(module, path)
    for name, tokens in vocabularies.items():
        with open(os.path.join(path, "assets", name), "wb") as handle:
            handle.write(b"".join(token + b"\n" for token in tokens))
    return path


def _features(vocabularies, users, movies) -> dict[str, tf.Tensor]:
    """Transformed features of (user, movie) pairs in `vocabularies`' index space; each user
    has a fixed gender, occupation and history of shared movies."""
    def index(name, tokens):
        return [vocabularies[name].index(token) for token in tokens]

    n = len(users)
    genders = [BASE[F.GENDER_VOCAB][i % 2] for i in range(n)]
    occupations = [BASE[F.OCCUPATION_VOCAB][i % 3] for i in range(n)]
    history = np.zeros((n, F.DEFAULT_HISTORY_LENGTH), np.int64)
    history[:, -2:] = [[1 + vocabularies[F.MOVIE_VOCAB].index(m) for m in SHARED_MOVIES[:2]]] * n
    genres = np.zeros((n, F.GENRE_SLOTS), np.float32)
    for row, movie in enumerate(movies):
        genres[row, vocabularies[F.GENRE_VOCAB].index(_genre_of(movie))] = 1.0
    return {
        F.USER_INDEX: tf.constant(index(F.USER_VOCAB, users), tf.int64),
        F.MOVIE_INDEX: tf.constant(index(F.MOVIE_VOCAB, movies), tf.int64),
        F.GENDER_INDEX: tf.constant(index(F.GENDER_VOCAB, genders), tf.int64),
        F.OCCUPATION_INDEX: tf.constant(index(F.OCCUPATION_VOCAB, occupations), tf.int64),
        F.AGE_BUCKET: tf.constant([i % F.AGE_BUCKETS for i in range(n)], tf.int64),
        F.YEAR_BUCKET: tf.constant([int(m[1:]) % F.YEAR_BUCKETS for m in movies], tf.int64),
        F.TIMESTAMP_SCALED: tf.linspace(0.0, 1.0, n),
        F.HISTORY_INDEX: tf.constant(history),
        F.HISTORY_LENGTH_FEATURE: tf.fill([n], tf.constant(2, tf.int64)),
        F.GENRES_MULTI_HOT: tf.constant(genres),
        F.RATING: tf.ones([n]),
    }


def _scores(model, vocabularies) -> np.ndarray:
    """Each shared user's score of each shared movie: predicted rating or retrieval score."""
    users = [u for u in SHARED_USERS for _ in SHARED_MOVIES]
    movies = SHARED_MOVIES * len(SHARED_USERS)
    features = _features(vocabularies, users, movies)
    if model.kind == Kind.RATING:
        return model.predict_rating(features).numpy()
    queries = model.query_embeddings(features)
    candidates = model.candidate_embeddings(features)
    return tf.reduce_sum(queries * candidates, axis=1).numpy()


# A cascade (entry.stages) is not warm-started: trainer.task trains its stages anew.
@pytest.mark.parametrize(("name", "overrides"), [
    *((name, {}) for name in MODEL_NAMES if not entry(name).stages),
    ("hybrid", {"movie_bias": "true"})])
def test_known_ids_score_as_in_the_base_model_and_new_ids_start_fresh(name, overrides, tmp_path):
    base_model, config = _model(name, BASE, **overrides)
    path = _save_base(base_model, BASE, str(tmp_path / "base"))
    base = warm_start.load_base(path, name, config, F.DEFAULT_HISTORY_LENGTH)
    model, _ = _model(name, NEW, **overrides)
    new_user = NEW[F.USER_VOCAB].index(b"u9")
    fresh = {id(v): v.numpy().copy() for v in model.trainable_variables}
    assert not np.allclose(_scores(model, NEW), _scores(base_model, BASE))

    report = warm_start.copy_weights(base, model, NEW)

    np.testing.assert_allclose(_scores(model, NEW), _scores(base_model, BASE), rtol=1e-5,
                               atol=1e-6)
    tables = warm_start.id_tables(model)
    users = [v for v in model.trainable_variables if tables.get(id(v)) == warm_start.Space.USER]
    assert users or name == "sequential"  # sequential reads no user id
    for variable in users:
        np.testing.assert_array_equal(variable.numpy()[new_user], fresh[id(variable)][new_user])
    assert report.kept_rows["movie"] == len(NEW[F.MOVIE_VOCAB]) - 1
    assert report.new_rows["movie"] == 1 and not report.fresh_variables
    if users:
        assert report.kept_rows["user"] == 6 and report.new_rows["user"] == 2


def test_a_base_of_other_shapes_is_refused(tmp_path):
    base_model, config = _model("mf", BASE)
    path = _save_base(base_model, BASE, str(tmp_path / "base"))
    other = config_with_overrides("mf", {**GIBBS_FAST, "embedding_dim": "4"})
    with pytest.raises(warm_start.IncompatibleBase, match="does not restore into mf"):
        warm_start.load_base(path, "mf", other, F.DEFAULT_HISTORY_LENGTH)


def test_a_ranking_base_with_fewer_rating_heads_is_refused(tmp_path):
    """A model saved with one head (before rating_heads) lacks the heads a default config
    builds: the Trainer trains from scratch rather than leave them at their initial draw."""
    base_model, _ = _model("ranking", BASE, rating_heads="1")
    path = _save_base(base_model, BASE, str(tmp_path / "base"))
    config = config_with_overrides("ranking", fast_overrides("ranking", {}))
    assert config.rating_heads > 1
    with pytest.raises(warm_start.IncompatibleBase, match="does not restore into ranking"):
        warm_start.load_base(path, "ranking", config, F.DEFAULT_HISTORY_LENGTH)


def test_remap_rows_keeps_padding_and_out_of_vocabulary_rows_in_place():
    old = np.arange(6, dtype=np.float32)[:, None]  # padding, a, b, c, OOV, unused
    fresh = -np.ones((7, 1), np.float32)  # padding, c, x, a, y, OOV, unused
    rows, kept = warm_start.remap_rows(old, fresh, [b"a", b"b", b"c"],
                                       [b"c", b"x", b"a", b"y"], offset=1)
    assert kept == 2
    assert rows[:, 0].tolist() == [0, 3, -1, 1, -1, 4, 5]


def test_warm_config_trains_its_share_of_the_epochs():
    config = config_with_overrides("ranking", {"epochs": "20", "warm_start_fraction": "0.25"})
    assert warm_start.warm_config(config).epochs == 5
    tiny = config_with_overrides("ranking", {"epochs": "2", "warm_start_fraction": "0.1"})
    assert warm_start.warm_config(tiny).epochs == 1
