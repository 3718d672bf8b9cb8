"""What the endpoints compute, independent of HTTP: recommendations, similar movies, k > 10.

Per model version the service keeps a `Batcher` for the `recommend` signature (concurrent
requests share one call) and an `ItemIndex`: the model's L2-normalised item embeddings, read
once through `item_embeddings` when the version is loaded, so `/similar` is one numpy
matrix-vector product (~10 us for 1,682 x 32) instead of a signature call per request.
Nothing is cached per request: every answer is computed from the model.

The signatures return a fixed top 10; a larger k asks `recommend` again with the movies
already returned excluded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

import numpy as np

from contract import catalogue, keys
from recsys.serving.backends import BackendError
from recsys.serving.batching import Batcher, stack_rows
from recsys.serving.catalogue import Catalogue
from recsys.serving.registry import LoadedModel, ModelRegistry

LOG = logging.getLogger(__name__)
MAX_K = 100
# A request that names no model gets the first loaded one, in the catalogue's order, that can
# answer it; history requests only go to models that read the history.
ANY_MODEL = catalogue.MODEL_NAMES
HISTORY_MODELS = tuple(e.name for e in catalogue.CATALOGUE if e.reads_history)


class NotFound(Exception):
    """An id, title or model the request names does not exist (HTTP 404)."""


class BadRequest(Exception):
    """The request is well-formed but cannot be answered as asked (HTTP 422)."""


@dataclasses.dataclass
class Scored:
    movie_id: str
    score: float


class ItemIndex:
    """Movie ids known to a model and their [N, D] unit vectors (cosine = dot product)."""

    def __init__(self, ids: list[str], vectors: np.ndarray) -> None:
        self.ids, self.vectors = ids, np.ascontiguousarray(vectors, np.float32)
        self.rows = {movie_id: row for row, movie_id in enumerate(ids)}

    def nearest(self, movie_id: str, k: int) -> list[Scored] | None:
        """The k movies of highest cosine, None if `movie_id` is not in the vocabulary."""
        row = self.rows.get(movie_id)
        if row is None:
            return None
        cosine = self.vectors @ self.vectors[row]
        cosine[row] = -np.inf  # a movie is not similar to itself
        k = min(k, len(self.ids) - 1)
        if k <= 0:
            return []
        top = np.argpartition(-cosine, k - 1)[:k]  # the k best, unordered: O(N)
        top = top[np.lexsort((top, -cosine[top]))]
        return [Scored(self.ids[i], float(cosine[i])) for i in top]


@dataclasses.dataclass
class _Version:
    """What the service derives from one loaded model version."""

    batcher: Batcher | None  # None: the model has no recommend signature
    items: ItemIndex | None = None


class Recommender:
    def __init__(self, registry: ModelRegistry, catalogue: Catalogue) -> None:
        self.registry, self.catalogue = registry, catalogue
        self._versions: dict[tuple[str, int], _Version] = {}
        self._lock = threading.Lock()
        for loaded in registry.models().values():
            self.prepare(loaded)
        registry.on_load(self.prepare)

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

    def prepare(self, loaded: LoadedModel) -> None:
        """Reads the version's item embeddings, then starts its batcher (closing the older
        version's, which the registry is about to swap out: it calls this just before the
        swap). A backend that cannot answer yet (TF Serving still starting) leaves the item
        index to the first /similar request."""
        try:
            items = self._read_items(loaded)
        except BackendError as error:
            LOG.warning("%s v%d: item embeddings not read yet: %s", loaded.name,
                        loaded.version, error)
            items = None
        version = self._version(loaded)
        if version is not None and version.items is None:
            version.items = items

    def _version(self, loaded: LoadedModel) -> _Version | None:
        """The version's state, created on first use; None for a version already replaced
        by a newer one (its requests call the backend directly). Creating a version's state
        closes the batchers of its older versions."""
        key = (loaded.name, loaded.version)
        with self._lock:
            if key in self._versions:
                return self._versions[key]
            if any(n == loaded.name and v > loaded.version for n, v in self._versions):
                return None
            for old in [k for k in self._versions if k[0] == loaded.name]:
                replaced = self._versions.pop(old)
                if replaced.batcher is not None:
                    replaced.batcher.close()
            batcher = (Batcher(loaded.backend, keys.RECOMMEND)
                       if keys.RECOMMEND in loaded.backend.signatures else None)
            self._versions[key] = _Version(batcher)
            return self._versions[key]

    # -- recommend ---------------------------------------------------------------------------
    async def recommend(self, loaded: LoadedModel, user_id: str, k: int, history: list[str],
                        exclude: list[str]) -> list[Scored]:
        """Top k for one query; rounds of 10 with the previous rounds excluded when k > 10."""
        found: list[Scored] = []
        excluded = list(exclude)
        while len(found) < k:
            outputs = await self._recommend_call(loaded, {
                "user_id": user_id, "history": list(history), "exclude_movie_ids": excluded})
            round_ = [Scored(m, float(s)) for m, s in
                      zip(outputs["movie_ids"], outputs["scores"], strict=True)
                      if s > -1e8]  # excluded movies come back with -1e9 when few are left
            if not round_:
                break
            found += round_
            excluded = excluded + [s.movie_id for s in round_]
        return found[:k]

    async def _recommend_call(self, loaded: LoadedModel, row: dict) -> dict[str, np.ndarray]:
        version = self._version(loaded)
        if version is None or version.batcher is None:
            outputs = loaded.backend.call(keys.RECOMMEND, stack_rows([row]))
            return {name: value[0] for name, value in outputs.items()}
        return await asyncio.wrap_future(version.batcher.submit(row))

    def user_query(self, user_id: str, exclude_seen: bool) -> list[str]:
        if user_id not in self.catalogue.users:
            raise NotFound(f"unknown user_id {user_id!r}")
        return self.catalogue.seen(user_id) if exclude_seen else []

    # -- similar -----------------------------------------------------------------------------
    def similar(self, loaded: LoadedModel, movie_id: str, k: int) -> list[Scored]:
        if movie_id not in self.catalogue.movies:
            raise NotFound(f"unknown movie_id {movie_id!r}")
        nearest = self.items(loaded).nearest(movie_id, k)
        if nearest is None:
            raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary "
                           "(no training ratings)")
        return nearest

    def items(self, loaded: LoadedModel) -> ItemIndex:
        """The version's item index (read through `item_embeddings` if not read yet)."""
        version = self._version(loaded) or _Version(None)
        if version.items is None:
            version.items = self._read_items(loaded)
        return version.items

    def _read_items(self, loaded: LoadedModel) -> ItemIndex:
        """The catalogue's vectors, keys.MAX_REQUEST_ROWS movies per call (TF Serving's
        batching refuses larger requests)."""
        ids = sorted(self.catalogue.movies, key=int)
        parts = [loaded.backend.call(keys.ITEM_EMBEDDINGS,
                                     {"movie_id": ids[start:start + keys.MAX_REQUEST_ROWS]})
                 for start in range(0, len(ids), keys.MAX_REQUEST_ROWS)]
        known = np.concatenate([np.asarray(part["known"], bool) for part in parts])
        vectors = np.concatenate([np.asarray(part["embedding"]) for part in parts])
        return ItemIndex([i for i, k in zip(ids, known, strict=True) if k], vectors[known])

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
