"""Top-k retrieval over large catalogues: an approximate faiss IVF index and exact brute force.

Both indexes take candidate embeddings [N, D] with their ids [N] and answer
`search(queries [B, D], k) -> (ids [B, k], scores [B, k])`, best first. `metric` matches how
the models score: "dot" is the dot product of query and candidate embeddings (retrieval-type
models' `score`), "cosine" L2-normalises both sides first (`similar_items`). TensorFlow-free.

Library: faiss-cpu (`IndexIVFFlat`). ScaNN was tried first: the newest wheel (scann 1.4.2) has
a TensorFlow-free searcher, but `import scann` fails beside the pinned TensorFlow 2.21: the
package `__init__` loads its TF custom-op library, built for TF 2.20 (`tensorflow~=2.20.0`),
which raises NotFoundError (an undefined abseil symbol) that it does not catch, so reaching the
searcher would need a `sys.modules` bypass of the package. faiss-cpu has no TensorFlow
dependency, imports beside TensorFlow in either order and reads/writes its indexes to files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

Metric = Literal["dot", "cosine"]
METRICS: tuple[str, ...] = ("dot", "cosine")
INDEX_FILE = "index.faiss"
META_FILE = "meta.json"
IDS_FILE = "ids.npy"
_BLOCK_ELEMENTS = 1 << 24  # scores held at once by brute force: 64 MiB of float32
_QUERY_BLOCK = 256


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def _as_matrix(name: str, array: np.ndarray, dim: int | None = None) -> np.ndarray:
    """`array` as C-contiguous float32 [rows, dim]; ValueError naming what is wrong."""
    matrix = np.asarray(array)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, dim], got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"{name} have dimension {matrix.shape[1]}, the index has {dim}")
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise ValueError(f"{name} row {int(np.argmin(finite))} has a NaN or infinite value")
    return matrix


def _normalized(name: str, matrix: np.ndarray) -> np.ndarray:
    """Rows of `matrix` [rows, dim] scaled to unit L2 norm; ValueError on a zero row."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not norms.all():
        raise ValueError(f"{name} row {int(np.argmin(norms[:, 0]))} is a zero vector: "
                         "it has no cosine")
    return matrix / norms


def _prepared(name: str, array: np.ndarray, metric: str, dim: int | None = None) -> np.ndarray:
    matrix = _as_matrix(name, array, dim)
    return _normalized(name, matrix) if metric == "cosine" else matrix


def _check_ids(ids: np.ndarray, rows: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.shape != (rows,):
        raise ValueError(f"ids must have shape ({rows},) to match the embeddings, got {ids.shape}")
    if ids.dtype.kind not in "iuU":
        raise ValueError(f"ids must be integers or strings, got dtype {ids.dtype}")
    return ids


def _check_k(k: int, rows: int) -> None:
    if not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > rows:
        raise ValueError(f"k={k} is larger than the catalogue ({rows} candidates)")


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices [B, k] of the k largest `scores` [B, C] per row, in no order."""
    if scores.shape[1] <= k:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _sorted_desc(positions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, axis=1, kind="stable")
    return (np.take_along_axis(positions, order, axis=1),
            np.take_along_axis(scores, order, axis=1))


def exact_top_k(candidates: np.ndarray, queries: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product: rows [B, k] and scores [B, k] of `candidates` [N, D].

    Scores `queries` [B, D] against blocks of candidates so at most 64 MiB of scores exist at
    once (1M x D fits); each block keeps its own top k and the blocks' winners are merged.
    """
    positions, scores = [], []
    for start in range(0, len(queries), _QUERY_BLOCK):
        block = queries[start:start + _QUERY_BLOCK]
        step = max(k, _BLOCK_ELEMENTS // len(block))
        rows, values = [], []
        for first in range(0, len(candidates), step):
            block_scores = block @ candidates[first:first + step].T
            top = _top_k(block_scores, k)
            rows.append(top + first)
            values.append(np.take_along_axis(block_scores, top, axis=1))
        rows_all, values_all = np.concatenate(rows, axis=1), np.concatenate(values, axis=1)
        best = _top_k(values_all, k)
        positions.append(np.take_along_axis(rows_all, best, axis=1))
        scores.append(np.take_along_axis(values_all, best, axis=1))
    return _sorted_desc(np.concatenate(positions), np.concatenate(scores))


class _Index:
    """What both indexes share: ids, metric, input checks and the position -> id mapping."""

    def __init__(self, ids: np.ndarray, metric: str, dim: int) -> None:
        _check_metric(metric)
        self.ids, self.metric, self.dim = ids, metric, dim

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k candidate ids [B, k] and their scores [B, k] (float32), best first."""
        _check_k(k, len(self))
        prepared = _prepared("queries", queries, self.metric, self.dim)
        positions, scores = self._search_positions(prepared, k)
        return self.ids[positions], scores

    def _search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class BruteForceIndex(_Index):
    """Exact top-k over every candidate (numpy matmul + argpartition in blocks).

    embeddings: [N, D] candidate vectors; ids: [N] their ids (integers or strings).
    """

    def __init__(self, embeddings: np.ndarray, ids: np.ndarray, metric: Metric = "dot") -> None:
        _check_metric(metric)
        self.candidates = _prepared("embeddings", embeddings, metric)
        super().__init__(_check_ids(ids, len(self.candidates)), metric,
                         self.candidates.shape[1])

    def _search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_top_k(self.candidates, queries, k)


def default_nlist(rows: int) -> int:
    """IVF lists for `rows` candidates: about 2 sqrt(N), at least 39 training points a list.

    On the clustered benchmark data 2 sqrt(N) lists built 9x faster than 4 sqrt(N) for the same
    recall at the same fraction of the catalogue scanned.
    """
    return max(1, min(round(2 * math.sqrt(rows)), rows // 39))


def default_nprobe(nlist: int) -> int:
    """Lists searched per query: 1/128 of them, at least 16 (or all when fewer).

    On the clustered benchmark data (benchmarks/ann.py) that is recall@10 0.98-0.99 at 100K and
    1M candidates; more probes raise recall slowly and cost time linearly.
    """
    return min(nlist, max(16, nlist // 128))


class IvfIndex(_Index):
    """Approximate top-k with a faiss inverted-file index (k-means lists, exact scores inside).

    A query is scored against the `nprobe` lists whose centroids score highest, so its cost is
    about nprobe/nlist of brute force. Lists are picked by the query's score with each list's
    centroid; with "dot" and candidate norms far apart that is cruder than with "cosine", so
    check `recall_at_k` against `BruteForceIndex` on real embeddings before relying on it.
    Build with `IvfIndex.build`; `save`/`load` a directory.
    """

    def __init__(self, index: faiss.Index, ids: np.ndarray, metric: Metric, nprobe: int) -> None:
        super().__init__(_check_ids(ids, index.ntotal), metric, index.d)
        self.index = index
        self.nlist = faiss.extract_index_ivf(index).nlist
        if not 1 <= nprobe <= self.nlist:
            raise ValueError(f"nprobe must be in [1, {self.nlist}], got {nprobe}")
        self.nprobe = nprobe

    @classmethod
    def build(cls, embeddings: np.ndarray, ids: np.ndarray, metric: Metric = "dot",
              nlist: int | None = None, nprobe: int | None = None, seed: int = 0) -> IvfIndex:
        """Train k-means lists on `embeddings` [N, D] (at most 64 points a list, 10 rounds)."""
        _check_metric(metric)
        candidates = _prepared("embeddings", embeddings, metric)
        ids = _check_ids(ids, len(candidates))
        nlist = default_nlist(len(candidates)) if nlist is None else nlist
        if not 1 <= nlist <= len(candidates):
            raise ValueError(f"nlist must be in [1, {len(candidates)}], got {nlist}")
        index = faiss.index_factory(candidates.shape[1], f"IVF{nlist},Flat",
                                    faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter, ivf.cp.max_points_per_centroid, ivf.cp.seed = 10, 64, seed
        ivf.cp.min_points_per_centroid = 1  # small catalogues: no "too few points" warning
        index.train(candidates)
        index.add(candidates)
        return cls(index, ids, metric, default_nprobe(nlist) if nprobe is None else nprobe)

    def _search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, positions = self.index.search(
            queries, k, params=faiss.SearchParametersIVF(nprobe=self.nprobe))
        short = (positions < 0).any(axis=1)  # the probed lists held fewer than k candidates
        if short.any():
            scores[short], positions[short] = self.index.search(
                queries[short], k, params=faiss.SearchParametersIVF(nprobe=self.nlist))
        return positions, scores

    @property
    def params(self) -> dict[str, str | int]:
        return {"index": "faiss IndexIVFFlat", "library": f"faiss-cpu {faiss.__version__}",
                "metric": self.metric, "nlist": self.nlist, "nprobe": self.nprobe}

    def save(self, directory: str | Path) -> None:
        """Write index.faiss, ids.npy and meta.json into `directory` (created if missing)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        np.save(directory / IDS_FILE, self.ids, allow_pickle=False)
        meta = {"metric": self.metric, "nprobe": self.nprobe}
        (directory / META_FILE).write_text(json.dumps(meta) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> IvfIndex:
        """The index `save` wrote to `directory`."""
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        index = faiss.read_index(str(directory / INDEX_FILE))
        ids = np.load(directory / IDS_FILE, allow_pickle=False)
        return cls(index, ids, meta["metric"], meta["nprobe"])


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean over queries of |approx top-k & exact top-k| / k; both [B, k], ids unique per row."""
    approx_ids, exact_ids = np.asarray(approx_ids), np.asarray(exact_ids)
    if approx_ids.shape != exact_ids.shape or approx_ids.ndim != 2 or approx_ids.size == 0:
        raise ValueError("approx_ids and exact_ids must be non-empty [B, k] of one shape, got "
                         f"{approx_ids.shape} and {exact_ids.shape}")
    hits = (approx_ids[:, :, None] == exact_ids[:, None, :]).any(axis=2)
    return float(hits.mean())
