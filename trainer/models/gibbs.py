"""Bayesian matrix factorisation sampled by Gibbs sampling (BPMF: Salakhutdinov and Mnih,
"Bayesian Probabilistic Matrix Factorization using MCMC", ICML 2008), `mf`'s default solver.

rating - mean ~ N(<u_user, v_movie>, 1 / noise_precision); the user vectors ~ N(mu_U, L_U^-1)
and the movie vectors ~ N(mu_V, L_V^-1), with Normal-Wishart priors on (mu, L). Every
conditional is conjugate, so one sweep draws the movie hyper-parameters, every movie vector,
the user hyper-parameters and every user vector exactly, rows in parallel. The prediction is
the mean of <u, v> over the samples after the burn-in: an average over the posterior rather
than one point estimate, which is what lifts it above Adam-trained MF (docs/benchmarks.md).

Hand-written because nothing in the TensorFlow ecosystem samples it: TensorFlow Probability's
MCMC kernels are gradient-based (HMC, NUTS) and would mix far slower than these exact
conditionals; TFRS trains by gradients only. NumPy/SciPy suffice: each sweep is a few batched
matrix products and one batched Cholesky per side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

# The Normal-Wishart prior of both sides, as in the paper: mu_0 = 0, beta_0 = 2, W_0 = I,
# nu_0 = the vector size.
PRIOR_BETA = 2.0
# Rows per block when summing the rows' precision matrices (see _Rows).
BLOCK_ROWS = 64


@dataclasses.dataclass(frozen=True)
class Ratings:
    """Rating events: user_index [N], movie_index [N], rating [N]."""

    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.users) == len(self.movies) == len(self.ratings):
            raise ValueError("users, movies and ratings must have one entry per event")


@dataclasses.dataclass(frozen=True)
class Posterior:
    """The kept samples: user_vectors [S, U, D], movie_vectors [S, M, D]; a rating's estimate
    is `mean` + the average over S of <user vector, movie vector>. `curves`: per sweep, the
    current sample's training MSE and RMSE (`loss`, `rmse`) and, with validation events,
    those of the average of the samples kept so far (`val_loss`, `val_rmse`; the current
    sample's during the burn-in)."""

    user_vectors: np.ndarray
    movie_vectors: np.ndarray
    mean: float
    curves: dict[str, list[float]]

    def estimate(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """[N] rating estimates, unclipped."""
        dots = np.einsum("snd,snd->n", self.user_vectors[:, users],
                         self.movie_vectors[:, movies])
        return self.mean + dots / len(self.user_vectors)


def sample_posterior(
    train: Ratings, users: int, movies: int, dim: int, noise_precision: float,
    kept_sweeps: Sequence[int], rng: np.random.Generator, validation: Ratings | None = None,
    on_sweep: Callable[[int, dict[str, float]], None] | None = None,
) -> Posterior:
    """Runs Gibbs sweeps over `train` (indices below `users` and `movies`) up to the last of
    `kept_sweeps` (0-based), keeping those sweeps' samples; `on_sweep(sweep, figures)` after
    each sweep with its figures (the `curves`' keys, `loss` the squared `rmse`)."""
    if not len(train.ratings):
        raise ValueError("Gibbs sampling needs at least one training rating")
    mean = float(np.mean(train.ratings))
    centred = train.ratings - mean
    by_user = _Rows(train.users, users, centred)
    by_movie = _Rows(train.movies, movies, centred)
    user_vectors = rng.normal(0.0, 0.1, (users, dim))
    movie_vectors = rng.normal(0.0, 0.1, (movies, dim))
    keep = set(kept_sweeps)
    kept_users, kept_movies = [], []
    curves: dict[str, list[float]] = {}
    validation_sum = 0.0
    for sweep in range(max(keep) + 1):
        movie_vectors = by_movie.sample(user_vectors[train.users], movie_vectors,
                                        noise_precision, rng)
        user_vectors = by_user.sample(movie_vectors[train.movies], user_vectors,
                                      noise_precision, rng)
        dots = np.sum(user_vectors[train.users] * movie_vectors[train.movies], axis=1)
        figures = _figures(mean + dots, train.ratings)
        current = None if validation is None else mean + np.sum(
            user_vectors[validation.users] * movie_vectors[validation.movies], axis=1)
        if sweep in keep:
            kept_users.append(user_vectors.astype(np.float32))
            kept_movies.append(movie_vectors.astype(np.float32))
            validation_sum = validation_sum + (0.0 if current is None else current)
        if current is not None:
            estimate = validation_sum / len(kept_users) if kept_users else current
            figures.update({f"val_{key}": value
                            for key, value in _figures(estimate, validation.ratings).items()})
        for key, value in figures.items():
            curves.setdefault(key, []).append(value)
        if on_sweep is not None:
            on_sweep(sweep, figures)
    return Posterior(np.stack(kept_users), np.stack(kept_movies), mean, curves)


def _figures(estimates: np.ndarray, ratings: np.ndarray) -> dict[str, float]:
    """The figures Keras reports for a rating model: `loss` (the MSE) and `rmse`."""
    loss = float(np.mean((estimates - ratings) ** 2))
    return {"loss": loss, "rmse": float(np.sqrt(loss))}


class _Rows:
    """One side (users or movies): which events each row has, to draw every row's vector
    given the other side's vectors.

    The rows, sorted by their number of events, are cut into blocks of BLOCK_ROWS; a block
    holds its rows' event ids padded to its longest row (with N: a zero vector and a zero
    rating), so each block's precision matrices are one batched matrix product."""

    def __init__(self, index: np.ndarray, rows: int, centred: np.ndarray) -> None:
        counts = np.bincount(index, minlength=rows)
        self._has_events = counts > 0
        self._centred = np.append(centred, 0.0)
        events = np.argsort(index, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)])
        by_count = np.argsort(counts, kind="stable")
        self._blocks = []
        for first in range(0, rows, BLOCK_ROWS):
            block = by_count[first:first + BLOCK_ROWS]
            padded = np.full((len(block), int(counts[block].max())), len(index))
            for slot, row in enumerate(block):
                padded[slot, :counts[row]] = events[starts[row]:starts[row + 1]]
            self._blocks.append((block, padded))

    def sample(self, others: np.ndarray, current: np.ndarray, noise_precision: float,
               rng: np.random.Generator) -> np.ndarray:
        """others [N, D] (the other side's vector of each event), current [rows, D] (for the
        hyper-parameters) -> [rows, D] new vectors."""
        mu, precision = _sample_hyper(current[self._has_events], rng)
        rows, dim = current.shape
        others = np.concatenate([others, np.zeros((1, dim))])  # the padding's
        row_precision = np.empty((rows, dim, dim))
        rhs = np.empty((rows, dim))
        for block, padded in self._blocks:
            vectors = others[padded]  # [b, k, D]
            row_precision[block] = noise_precision * np.matmul(
                np.transpose(vectors, (0, 2, 1)), vectors)
            rhs[block] = noise_precision * np.einsum("bkd,bk->bd", vectors,
                                                     self._centred[padded])
        row_precision += precision
        rhs += precision @ mu
        cholesky = np.linalg.cholesky(row_precision)
        means = np.linalg.solve(row_precision, rhs[:, :, None])[:, :, 0]
        # x = mean + L^-T z has covariance (L L^T)^-1, the row's posterior covariance.
        noise = np.linalg.solve(np.transpose(cholesky, (0, 2, 1)),
                                rng.standard_normal((rows, dim, 1)))[:, :, 0]
        # A row without events (the OOV row, an id only in the vocabulary) keeps the prior
        # mean, its posterior mean given nothing, rather than a random draw that serving
        # would average into noise.
        return means + noise * self._has_events[:, None]


def _sample_hyper(vectors: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(mu [D], precision [D, D]) from their Normal-Wishart posterior given vectors [R, D]."""
    rows, dim = vectors.shape
    average = vectors.mean(axis=0)
    scatter = np.cov(vectors, rowvar=False, bias=True).reshape(dim, dim)
    scale_inverse = (np.eye(dim) + rows * scatter
                     + PRIOR_BETA * rows / (PRIOR_BETA + rows) * np.outer(average, average))
    scale = np.linalg.inv(scale_inverse)
    precision = stats.wishart.rvs(df=dim + rows, scale=(scale + scale.T) / 2,
                                  random_state=rng).reshape(dim, dim)
    beta = PRIOR_BETA + rows
    mu = rng.multivariate_normal(rows * average / beta, np.linalg.inv(beta * precision))
    return mu, precision
