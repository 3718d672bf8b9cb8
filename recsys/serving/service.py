"""What the endpoints compute, independent of HTTP: recommendations, similar movies, k > 10.

The signatures return a fixed top 10; a larger k asks `recommend` again with the movies
already returned excluded, and `/similar` ranks the cosine over all `item_embeddings`.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from recsys.serving.backends import pad_rows
from recsys.serving.catalogue import Catalogue
from recsys.serving.registry import LoadedModel, ModelRegistry

SIGNATURE_K = 10  # trainer.task.TOP_K: what every exported top-K signature returns
MAX_K = 100
RECOMMEND_MODELS = ("hybrid", "retrieval", "sequential", "ranking", "mf")
SIMILAR_MODELS = ("hybrid", "retrieval", "mf", "ranking", "sequential")
HISTORY_MODELS = ("sequential", "hybrid")


class NotFound(Exception):
    """An id, title or model the request names does not exist (HTTP 404)."""


class BadRequest(Exception):
    """The request is well-formed but cannot be answered as asked (HTTP 422)."""


@dataclasses.dataclass
class Scored:
    movie_id: str
    score: float


class Recommender:
    def __init__(self, registry: ModelRegistry, catalogue: Catalogue) -> None:
        self.registry, self.catalogue = registry, catalogue
        self._embeddings: dict[tuple[str, int], tuple[list[str], np.ndarray]] = {}
        self._lock = threading.Lock()

    # -- models ------------------------------------------------------------------------------
    def model(self, name: str | None, signature: str, preference: tuple[str, ...]) -> LoadedModel:
        models = self.registry.models()
        if name is not None:
            loaded = models.get(name)
            if loaded is None:
                raise NotFound(f"model {name!r} is not loaded; loaded: {sorted(models)}")
            if signature not in loaded.backend.signatures:
                raise BadRequest(f"model {name!r} has no {signature} signature")
            return loaded
        for candidate in preference:
            loaded = models.get(candidate)
            if loaded is not None and signature in loaded.backend.signatures:
                return loaded
        raise NotFound(f"no loaded model has a {signature} signature")

    # -- recommend ---------------------------------------------------------------------------
    def recommend(self, loaded: LoadedModel, user_id: str, k: int, history: list[str],
                  exclude: list[str]) -> list[Scored]:
        """Top k for one query; rounds of 10 with the previous rounds excluded when k > 10."""
        found: list[Scored] = []
        excluded = list(exclude)
        while len(found) < k:
            outputs = loaded.backend.call("recommend", {
                "user_id": [user_id], "history": pad_rows([history]),
                "exclude_movie_ids": pad_rows([excluded])})
            round_ = [Scored(m, float(s)) for m, s in
                      zip(outputs["movie_ids"][0], outputs["scores"][0], strict=True)
                      if s > -1e8]  # excluded movies come back with -1e9 when few are left
            if not round_:
                break
            found += round_
            excluded += [s.movie_id for s in round_]
        return found[:k]

    def user_query(self, user_id: str, exclude_seen: bool) -> list[str]:
        if user_id not in self.catalogue.users:
            raise NotFound(f"unknown user_id {user_id!r}")
        return self.catalogue.seen(user_id) if exclude_seen else []

    # -- similar -----------------------------------------------------------------------------
    def similar(self, loaded: LoadedModel, movie_id: str, k: int) -> list[Scored]:
        if movie_id not in self.catalogue.movies:
            raise NotFound(f"unknown movie_id {movie_id!r}")
        if k <= SIGNATURE_K:
            outputs = loaded.backend.call("similar_items", {"movie_id": [movie_id]})
            if not bool(outputs["known"][0]):
                raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary "
                               "(no training ratings)")
            return [Scored(m, float(s)) for m, s in
                    zip(outputs["movie_ids"][0], outputs["scores"][0], strict=True)][:k]
        ids, vectors = self.embeddings(loaded)
        if movie_id not in ids:
            raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary")
        row = ids.index(movie_id)
        cosine = vectors @ vectors[row]  # item_embeddings are L2-normalized
        cosine[row] = -np.inf  # a movie is not similar to itself
        top = np.argsort(-cosine, kind="stable")[:k]
        return [Scored(ids[i], float(cosine[i])) for i in top]

    def embeddings(self, loaded: LoadedModel) -> tuple[list[str], np.ndarray]:
        """(movie ids known to the model, [N, D] unit vectors), cached per model version."""
        key = (loaded.name, loaded.version)
        with self._lock:
            if key not in self._embeddings:
                ids = sorted(self.catalogue.movies, key=int)
                outputs = loaded.backend.call("item_embeddings", {"movie_id": ids})
                known = np.asarray(outputs["known"], bool)
                self._embeddings = {key: ([i for i, k in zip(ids, known, strict=True) if k],
                                          np.asarray(outputs["embedding"])[known])}
            return self._embeddings[key]

    # -- presentation ------------------------------------------------------------------------
    def describe(self, scored: list[Scored]) -> list[dict]:
        items = []
        for item in scored:
            movie = self.catalogue.movies.get(item.movie_id)
            entry = movie.to_json() if movie else {"movie_id": item.movie_id, "title": None,
                                                   "year": None, "genres": []}
            entry["score"] = round(item.score, 6)
            items.append(entry)
        return items
