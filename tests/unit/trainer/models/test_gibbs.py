"""Bayesian MF by Gibbs sampling (trainer.models.gibbs) and `mf`'s "gibbs" solver."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from trainer import task
from trainer.config import config_with_overrides
from trainer.models import gibbs
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes

VOCAB = VocabSizes(users=30, movies=20, genders=2, occupations=4, history_length=4)


def _low_rank(seed: int = 0, noise: float = 0.25) -> tuple[gibbs.Ratings, gibbs.Ratings]:
    """Half of a rank-2 VOCAB.users x VOCAB.movies matrix of ratings around 3 for training,
    the other half held out."""
    rng = np.random.default_rng(seed)
    users, movies = np.meshgrid(np.arange(VOCAB.users), np.arange(VOCAB.movies), indexing="ij")
    users, movies = users.ravel(), movies.ravel()
    truth = (rng.normal(size=(VOCAB.users, 2))[users] * rng.normal(size=(VOCAB.movies, 2))[movies]
             ).sum(axis=1)
    ratings = 3 + truth + rng.normal(0, noise, len(truth))
    train = rng.random(len(ratings)) < 0.5
    return (gibbs.Ratings(users[train], movies[train], ratings[train]),
            gibbs.Ratings(users[~train], movies[~train], ratings[~train]))


def _rmse(estimates: np.ndarray, ratings: np.ndarray) -> float:
    return float(np.sqrt(np.mean((estimates - ratings) ** 2)))


def test_the_posterior_recovers_a_low_rank_matrix() -> None:
    train, held_out = _low_rank()
    posterior = gibbs.sample_posterior(
        train, VOCAB.users, VOCAB.movies, dim=4, noise_precision=16.0,
        kept_sweeps=range(40, 80, 4), rng=np.random.default_rng(1), validation=held_out)
    baseline = _rmse(np.mean(train.ratings), held_out.ratings)  # the training mean alone
    estimate = _rmse(posterior.estimate(held_out.users, held_out.movies), held_out.ratings)
    assert estimate < 0.3 * baseline
    assert posterior.user_vectors.shape == (10, VOCAB.users, 4)
    assert posterior.curves["val_rmse"][-1] == pytest.approx(estimate, rel=1e-5)
    assert len(posterior.curves["rmse"]) == len(posterior.curves["val_loss"]) == 77  # to 76


def test_a_row_without_ratings_keeps_the_prior_mean() -> None:
    """The OOV row has no events: it moves only with the prior mean, so two draws of the chain
    from the same state differ there by the prior mean alone, never by per-row noise."""
    train, _ = _low_rank()
    posterior = gibbs.sample_posterior(
        train, VOCAB.users + 1, VOCAB.movies + 1, dim=3, noise_precision=4.0,
        kept_sweeps=[5, 6, 7], rng=np.random.default_rng(2))
    oov_user = posterior.user_vectors[:, VOCAB.users]
    known = posterior.user_vectors[:, :VOCAB.users]
    # The prior mean is near the rows' average; a drawn row would scatter like the rows do.
    distance = np.linalg.norm(oov_user - known.mean(axis=1), axis=1)
    spread = np.linalg.norm(known - known.mean(axis=1, keepdims=True), axis=2).mean(axis=1)
    assert np.all(distance < 0.5 * spread)


def test_no_training_rating_is_a_clear_error() -> None:
    empty = gibbs.Ratings(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    with pytest.raises(ValueError, match="at least one training rating"):
        gibbs.sample_posterior(empty, 3, 3, 2, 1.0, [0], np.random.default_rng(0))


@pytest.mark.parametrize(("fields", "kept"), [
    ({"sweeps": "200", "burn_in": "0.1", "posterior_samples": "60"}, None),
    ({"sweeps": "3", "burn_in": "0.1", "posterior_samples": "60"}, [0, 1, 2]),
    ({"sweeps": "10", "burn_in": "0.9", "posterior_samples": "5"}, [9]),
    ({"sweeps": "1", "burn_in": "0.5", "posterior_samples": "5"}, [0]),
    ({"sweeps": "9", "burn_in": "0", "posterior_samples": "3"}, [0, 4, 8]),
])
def test_the_kept_sweeps_follow_the_burn_in(fields, kept) -> None:
    config = config_with_overrides("mf", fields)
    if kept is None:  # the defaults' shape: 60 sweeps from the 21st to the last
        kept = config.kept_sweeps
        assert len(set(kept)) == 60 and kept[0] == 20 and kept[-1] == 199
        assert kept == sorted(kept)
    assert config.kept_sweeps == kept
    assert config.vector_width == len(kept) * config.embedding_dim


def test_the_gibbs_model_serves_the_posterior_average() -> None:
    """`mf` fitted by Gibbs sampling predicts (clipped) and ranks with the average over the
    kept samples of the same chain run by hand."""
    train, held_out = _low_rank(noise=0.5)
    config = config_with_overrides("mf", {"embedding_dim": "3", "sweeps": "12",
                                          "posterior_samples": "4"})
    model = build_model("mf", VOCAB, config, movie_counts=np.ones(VOCAB.movies))
    batches = tf.data.Dataset.from_tensor_slices({
        F.USER_INDEX: train.users, F.MOVIE_INDEX: train.movies,
        F.RATING: train.ratings.astype(np.float32)}).batch(50)
    np.random.seed(7)
    curves = model.fit(batches).history
    np.random.seed(7)
    posterior = gibbs.sample_posterior(
        train, VOCAB.users + 1, VOCAB.movies + 1, 3, config.noise_precision,
        config.kept_sweeps, np.random.default_rng(np.random.randint(2**31 - 1)))
    np.testing.assert_allclose(curves["rmse"], posterior.curves["rmse"], rtol=1e-6)

    pairs = {F.USER_INDEX: tf.constant(held_out.users), F.MOVIE_INDEX: tf.constant(held_out.movies)}
    expected = posterior.estimate(held_out.users, held_out.movies)
    np.testing.assert_allclose(model.predict_rating(pairs),
                               np.clip(expected, F.MIN_RATING, F.MAX_RATING), atol=1e-4)
    scores = model.score(model.query_embeddings(pairs),
                         model.candidate_embeddings({F.MOVIE_INDEX: tf.range(VOCAB.movies)}))
    picked = tf.gather(scores, held_out.movies, axis=1, batch_dims=1)
    np.testing.assert_allclose(picked + posterior.mean, expected, atol=1e-4)


def test_a_gibbs_model_starts_without_a_base(caplog) -> None:
    """A Gibbs chain starts anew: the base is not even read (this path does not exist)."""
    config = config_with_overrides("mf", {})
    assert task._base("/no/such/base", "mf", config, VOCAB.history_length) is None
    assert "mf: solver gibbs samples a new chain (solver adam warm-starts)" in caplog.text
    with pytest.raises(ValueError, match="early_stopping_patience needs solver adam"):
        config_with_overrides("mf", {"early_stopping_patience": "2"})
