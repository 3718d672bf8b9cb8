"""The retrieval models' large-catalogue mode: in-batch sampled softmax with logQ correction,
and `softmax="auto"` choosing it by catalogue size."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import catalogue
from contract import features as F
from contract.topk_metrics import metrics_from_ranks
from trainer.config import config_with_overrides, default_config
from trainer.evaluation import model_ranks
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes
from trainer.models.two_tower import FULL, SAMPLED, SAMPLED_SOFTMAX_MIN_MOVIES, resolve_softmax

RETRIEVAL_MODELS = tuple(  # two-tower models, not cascades
    n for n in catalogue.names(catalogue.Kind.RETRIEVAL) if not catalogue.entry(n).stages)
# What each model learns (see conftest.make_features), as in test_models.py.
PATTERN = {"retrieval": "user", "hybrid": "user", "sequential": "history"}
FAST = {"embedding_dim": "16", "learning_rate": "0.02"}


@pytest.fixture
def make_sampled(vocab, catalogue):
    """make_sampled(name, counts, **overrides): a small model on the sampled softmax."""

    def make(name: str, counts: np.ndarray, **overrides: str):
        config = config_with_overrides(name, {**FAST, "softmax": "sampled", **overrides})
        return build_model(name, vocab, config, catalogue, counts)

    return make


def _skewed_counts(num_movies: int) -> np.ndarray:
    return np.arange(1, num_movies + 1) ** 2  # movie m is (m + 1)^2 times as popular as 0


def _catalogue(num_movies: int) -> dict[str, tf.Tensor]:
    return {F.MOVIE_INDEX: tf.range(num_movies, dtype=tf.int64),
            F.GENRES_MULTI_HOT: tf.zeros([num_movies, F.GENRE_SLOTS]),
            F.YEAR_BUCKET: tf.zeros([num_movies], tf.int64)}


def test_auto_is_full_below_the_threshold_and_sampled_from_it() -> None:
    assert all(default_config(name).softmax == "auto" for name in RETRIEVAL_MODELS)
    assert resolve_softmax("auto", 1682) == FULL  # ML-100K: unchanged
    assert resolve_softmax("auto", SAMPLED_SOFTMAX_MIN_MOVIES - 1) == FULL
    assert resolve_softmax("auto", SAMPLED_SOFTMAX_MIN_MOVIES) == SAMPLED
    assert resolve_softmax("full", 10**6) == FULL
    assert resolve_softmax("sampled", 10) == SAMPLED


def test_softmax_must_be_a_known_mode() -> None:
    with pytest.raises(ValueError, match="softmax"):
        config_with_overrides("hybrid", {"softmax": "hierarchical"})


@pytest.mark.parametrize("movies", [11, SAMPLED_SOFTMAX_MIN_MOVIES])
def test_models_built_on_auto_pick_by_catalogue_size(movies) -> None:
    vocab = VocabSizes(users=7, movies=movies, genders=2, occupations=4, history_length=5)
    config = config_with_overrides("retrieval", {"embedding_dim": "4"})
    model = build_model("retrieval", vocab, config, _catalogue(movies), np.ones(movies))
    assert model.softmax == (SAMPLED if movies >= SAMPLED_SOFTMAX_MIN_MOVIES else FULL)


def test_sampled_needs_the_movie_counts(vocab, catalogue) -> None:
    config = config_with_overrides("retrieval", {"softmax": "sampled"})
    with pytest.raises(ValueError, match="movie counts"):
        build_model("retrieval", vocab, config, catalogue)


def _in_batch_loss(model, features, log_q: np.ndarray) -> float:
    """Reference: softmax cross-entropy over the batch's positives, logits / temperature minus
    `log_q` of each candidate's movie, other rows of the same movie left out as negatives."""
    queries = model.query_embeddings(features).numpy()
    candidates = model.candidate_embeddings(features).numpy()
    movies = features[F.MOVIE_INDEX].numpy()
    logits = queries @ candidates.T / model._temperature - log_q[movies][None, :]
    same_movie = (movies[:, None] == movies[None, :]) & ~np.eye(len(movies), dtype=bool)
    logits = np.where(same_movie, -np.inf, logits)
    top = logits.max(axis=1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return float(-np.diag(log_softmax).mean())


def test_sampled_loss_is_the_logq_corrected_in_batch_softmax(make_sampled, vocab, features):
    counts = _skewed_counts(vocab.movies)
    model = make_sampled("retrieval", counts)
    assert model.softmax == SAMPLED
    loss = float(model.compute_loss(features))
    corrected = _in_batch_loss(model, features, np.log(counts / counts.sum()))
    uncorrected = _in_batch_loss(model, features, np.zeros(vocab.movies))
    assert loss == pytest.approx(corrected, rel=1e-5)
    assert abs(corrected - uncorrected) > 0.1
    # Uniform counts subtract the same log q from every logit: no change to the softmax.
    uniform = make_sampled("retrieval", np.ones(vocab.movies))
    uniform.compute_loss(features)  # builds the variables
    uniform.set_weights(model.get_weights())
    assert float(uniform.compute_loss(features)) == pytest.approx(uncorrected, rel=1e-5)


def test_sampled_loss_skips_out_of_vocabulary_positives(make_sampled, vocab, features,
                                                        oov_features) -> None:
    model = make_sampled("retrieval", _skewed_counts(vocab.movies))
    assert float(model.compute_loss(oov_features)) == 0.0  # no known positive: nothing to learn
    with_oov = dict(features, **{F.MOVIE_INDEX: tf.concat(
        [features[F.MOVIE_INDEX][:-1], [tf.constant(vocab.movies, tf.int64)]], 0)})
    known = {name: value[:-1] for name, value in features.items()}
    assert float(model.compute_loss(with_oov)) == pytest.approx(
        float(model.compute_loss(known)), rel=1e-5)


@pytest.mark.parametrize("name", RETRIEVAL_MODELS)
def test_sampled_training_learns_the_pattern(make_sampled, name, vocab, make_features,
                                             catalogue) -> None:
    data = make_features(512, seed=1, pattern=PATTERN[name])
    counts = np.bincount(data[F.MOVIE_INDEX].numpy(), minlength=vocab.movies)
    model = make_sampled(name, counts)
    before = float(model.compute_loss(data))
    assert np.isfinite(before)
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(64), epochs=15, verbose=0)
    assert float(model.compute_loss(data)) < 0.5 * before
    ranks = model_ranks(model, data, catalogue, data[F.MOVIE_INDEX].numpy(),
                        np.zeros((512, vocab.movies), bool), batch_size=100)
    assert metrics_from_ranks(ranks, k=1)["hit_rate_at_1"] > 0.8
