"""Benchmark peers: classic recommenders fit on the same training events as the TFX models.

Two interfaces, one per protocol (U users, I items, n events; indices are contiguous):

- TOPK peers: `fit(train)` with `train` a binary CSR matrix [U, I] (every interaction is a
  positive), then `score()` -> float array [U, I] over the whole catalogue. Seen items are not
  removed here; the metrics remove them.
- Sequence peers (TOPK too): `fit(sequences, n_items)` with each user's training items in
  time order (a list of U int arrays), then `score()` -> float array [U, I], the next item
  after each user's latest items.
- RATING peers: `fit(users, items, ratings)` with int arrays [n] and float ratings [n], then
  `predict(users, items)` -> float array [m].

`fit_seconds` is set by `fit` (wall clock of fitting only). `implicit` and `scikit-surprise`
are optional (requirements/benchmark.txt): they are imported when such a peer is built, and so
is TensorFlow for the SASRec peer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp

from contract import features as F

SEED = 42


class TopKPeer(Protocol):
    name: str
    fit_seconds: float

    def fit(self, train: sp.csr_matrix) -> Self: ...

    def score(self) -> np.ndarray: ...


class SequencePeer(Protocol):
    name: str
    fit_seconds: float

    def fit(self, sequences: list[np.ndarray], n_items: int) -> Self: ...

    def score(self) -> np.ndarray: ...


class RatingPeer(Protocol):
    name: str
    fit_seconds: float

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> Self: ...

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


class _Timed:
    """Mixin: `_timed(fn)` runs fn and stores its wall-clock seconds in `fit_seconds`."""

    fit_seconds: float = float("nan")

    def _timed(self, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        self.fit_seconds = time.perf_counter() - start
        return result


def _binary(train: sp.spmatrix) -> sp.csr_matrix:
    """Binary float32 CSR copy of `train` [U, I] (any positive value -> 1)."""
    matrix = sp.csr_matrix(train, dtype=np.float32, copy=True)
    matrix.data[:] = 1.0
    matrix.eliminate_zeros()
    return matrix


# --------------------------------------------------------------------------------- TOPK peers


class MostPopular(_Timed):
    """Scores every item by its number of training users; the same row for every user."""

    name = "most_popular"

    def fit(self, train: sp.csr_matrix) -> Self:
        self._n_users = train.shape[0]
        self.counts = self._timed(lambda: np.asarray(_binary(train).sum(axis=0)).ravel())
        return self

    def score(self) -> np.ndarray:
        """[U, I]: item popularity, broadcast to every user."""
        return np.broadcast_to(self.counts, (self._n_users, len(self.counts))).copy()


class ItemKNN(_Timed):
    """Item-item cosine similarity on binary interactions; score = sum of similarities.

    `neighbours=None` keeps every similarity; an int keeps each item's top-k neighbours.
    """

    name = "item_knn"

    def __init__(self, neighbours: int | None = None) -> None:
        self.neighbours = neighbours

    def fit(self, train: sp.csr_matrix) -> Self:
        self._train = _binary(train)
        self.similarity = self._timed(lambda: self._cosine(self._train))
        return self

    def _cosine(self, x: sp.csr_matrix) -> np.ndarray:
        """[I, I] cosine similarity between item columns of x [U, I], zero diagonal."""
        co = (x.T @ x).toarray().astype(np.float64)
        norms = np.sqrt(np.diag(co))
        norms[norms == 0] = 1.0
        sim = co / norms[:, None] / norms[None, :]
        np.fill_diagonal(sim, 0.0)
        if self.neighbours is not None and self.neighbours < sim.shape[0]:
            drop = np.argsort(-sim, axis=0, kind="stable")[self.neighbours:]
            np.put_along_axis(sim, drop, 0.0, axis=0)
        return sim

    def score(self) -> np.ndarray:
        """[U, I] = X [U, I] @ S [I, I]."""
        return np.asarray(self._train @ self.similarity)


class EASE(_Timed):
    """EASE (Steck 2019): closed-form item-item weights B = I - P / diag(P), P = (X'X + λI)^-1."""

    name = "ease"

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, train: sp.csr_matrix) -> Self:
        self._train = _binary(train)
        self.weights = self._timed(lambda: self._solve(self._train))
        return self

    def _solve(self, x: sp.csr_matrix) -> np.ndarray:
        """[I, I] weights with zero diagonal."""
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        return weights

    def score(self) -> np.ndarray:
        """[U, I] = X [U, I] @ B [I, I]."""
        return np.asarray(self._train @ self.weights)


class _ImplicitMF(_Timed):
    """Shared part of the `implicit` matrix factorisations (CPU models, numpy factors)."""

    name = "implicit"

    params: dict[str, Any]

    def _model_class(self) -> type:
        raise NotImplementedError

    def fit(self, train: sp.csr_matrix) -> Self:
        from threadpoolctl import threadpool_limits

        x = _binary(train)
        model_class = self._model_class()  # import first: it may load another BLAS library
        with threadpool_limits(1, "blas"):  # implicit's own threads; avoids BLAS oversubscription
            self.model = model_class(**self.params)  # the constructor checks the BLAS threads
            self._timed(lambda: self.model.fit(x, show_progress=False))
        return self

    def score(self) -> np.ndarray:
        """[U, I] = user factors [U, f] @ item factors [I, f]'."""
        return np.asarray(self.model.user_factors @ self.model.item_factors.T)


class ALS(_ImplicitMF):
    """`implicit` weighted ALS (Hu et al. 2008) on binary confidences."""

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 20,
                 seed: int = SEED, num_threads: int = 0) -> None:
        self.params = dict(factors=factors, regularization=regularization,
                           iterations=iterations, random_state=seed, num_threads=num_threads)

    def _model_class(self) -> type:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares


class BPR(_ImplicitMF):
    """`implicit` BPR. One thread by default: its Hogwild SGD is only reproducible on one."""

    name = "bpr"

    def __init__(self, factors: int = 64, iterations: int = 100, seed: int = SEED,
                 num_threads: int = 1) -> None:
        self.params = dict(factors=factors, iterations=iterations, random_state=seed,
                           num_threads=num_threads)

    def _model_class(self) -> type:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking


# ----------------------------------------------------------------------------- sequence peer


class SASRec(_Timed):
    """SASRec-style next-item model (`benchmarks/sasrec.py`): causal self-attention over the
    user's latest `history_length` items with learned positions, a softmax over the catalogue,
    every position of each training sequence predicting the next item. Seeded."""

    name = "sasrec"

    def __init__(self, history_length: int = F.DEFAULT_HISTORY_LENGTH, seed: int = SEED,
                 **settings: Any) -> None:
        """`settings`: other fields of `benchmarks.sasrec.SASRecConfig` (dim, epochs ...)."""
        self.settings = dict(history_length=history_length, seed=seed, **settings)

    def fit(self, sequences: list[np.ndarray], n_items: int) -> Self:
        from benchmarks import sasrec  # TensorFlow: only when this peer is fit

        config = sasrec.SASRecConfig(**self.settings)
        self._sequences = sequences
        self.network = self._timed(lambda: sasrec.train(sequences, n_items, config))
        return self

    def score(self) -> np.ndarray:
        """[U, I]: each user's next-item logits after their latest training items."""
        from benchmarks import sasrec

        return sasrec.next_item_scores(self.network, self._sequences)


# ------------------------------------------------------------------------------- RATING peers


class SurprisePeer(_Timed):
    """A scikit-surprise algorithm (default parameters, seeded) on (user, item, rating)."""

    def __init__(self, algorithm: str, seed: int = SEED) -> None:
        self.name = _SURPRISE_NAMES[algorithm]
        self.algorithm = algorithm
        self.seed = seed

    def _build(self) -> Any:
        import surprise

        cls = getattr(surprise, self.algorithm)
        if self.algorithm == "BaselineOnly":
            return cls(verbose=False)  # ALS baselines: deterministic, no seed
        return cls(random_state=self.seed)

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray,
            rating_scale: tuple[float, float] = (1.0, 5.0)) -> Self:
        import pandas as pd
        import surprise

        frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
        data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=rating_scale))
        trainset = data.build_full_trainset()
        np.random.seed(self.seed)  # belt and braces for code paths that use the global RNG
        self.model = self._build()
        self._timed(lambda: self.model.fit(trainset))
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """[m] predictions, clipped to the rating scale; unknown ids get surprise's fallback."""
        return np.array([self.model.predict(u, i).est for u, i in zip(users.tolist(),
                                                                        items.tolist(),
                                                                        strict=True)])


_SURPRISE_NAMES = {"BaselineOnly": "baseline_only", "SVD": "svd", "SVDpp": "svdpp"}


def topk_peers() -> list[TopKPeer]:
    """The protocol TOPK peers with the anchors' settings, in report order."""
    return [MostPopular(), ItemKNN(), EASE(500.0), ALS(), BPR()]


def sequence_peers(history_length: int) -> list[SequencePeer]:
    """The sequence-aware TOPK peers, reading the pipeline's `history_length` latest items."""
    return [SASRec(history_length)]


def rating_peers() -> list[RatingPeer]:
    """The protocol RATING peers (scikit-surprise defaults, seeded), in report order."""
    return [SurprisePeer(name) for name in _SURPRISE_NAMES]
