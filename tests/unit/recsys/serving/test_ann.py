"""recsys.serving.ann: exact brute force, IVF recall, input errors, save/load, and the ANN
benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ann import clustered_embeddings, run_ann_benchmark
from recsys.serving.ann import BruteForceIndex, IvfIndex, exact_top_k, recall_at_k


def _clustered(rows: int, dim: int, seed: int, clusters: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return clustered_embeddings(rows, centres, np.random.default_rng(seed + 1), spread=1.0)


@pytest.fixture(scope="module")
def catalogue() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered candidates [20000, 32], their string ids [20000], queries [200, 32]."""
    vectors = _clustered(20_200, 32, seed=0)
    ids = np.array([f"m{i}" for i in range(20_000)])
    return vectors[:20_000], ids, vectors[20_000:]


@pytest.fixture(scope="module")
def ivf(catalogue) -> IvfIndex:
    vectors, ids, _ = catalogue
    return IvfIndex.build(vectors, ids, metric="dot")


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_brute_force_equals_a_full_sort(metric: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 8)).astype(np.float32) * rng.uniform(0.5, 2, (500, 1))
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    ids = np.arange(1000, 1500)
    found, scores = BruteForceIndex(vectors, ids, metric=metric).search(queries, 5)

    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    full = queries @ vectors.T
    order = np.argsort(-full, axis=1)[:, :5]
    np.testing.assert_array_equal(found, ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(full, order, axis=1), rtol=1e-5)


def test_blocked_brute_force_merges_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny blocks the candidate and query loops run many times; the answer is the same."""
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((300, 4)).astype(np.float32)
    queries = rng.standard_normal((9, 4)).astype(np.float32)
    whole = exact_top_k(vectors, queries, 6)
    monkeypatch.setattr("recsys.serving.ann._BLOCK_ELEMENTS", 40)
    monkeypatch.setattr("recsys.serving.ann._QUERY_BLOCK", 2)
    blocked = exact_top_k(vectors, queries, 6)
    np.testing.assert_array_equal(blocked[0], whole[0])
    np.testing.assert_allclose(blocked[1], whole[1], rtol=1e-6)  # BLAS kernels round apart


def test_ivf_recall_on_clustered_catalogue(catalogue, ivf: IvfIndex) -> None:
    vectors, ids, queries = catalogue
    exact_ids, _ = BruteForceIndex(vectors, ids).search(queries, 10)
    approx_ids, approx_scores = ivf.search(queries, 10)
    assert approx_ids.shape == approx_scores.shape == (200, 10)
    assert approx_ids.dtype == ids.dtype
    assert np.all(np.diff(approx_scores, axis=1) <= 0)  # best first
    assert recall_at_k(approx_ids, exact_ids) >= 0.9
    assert ivf.params["nprobe"] < ivf.params["nlist"]


def test_ivf_answers_k_even_when_probed_lists_are_short() -> None:
    vectors = _clustered(400, 8, seed=5, clusters=10)
    index = IvfIndex.build(vectors, np.arange(400), nlist=10, nprobe=1)
    found, _ = index.search(vectors[:5], 300)
    assert found.shape == (5, 300)
    assert all(len(set(row)) == 300 for row in found.tolist())


def test_recall_at_k() -> None:
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(np.array([[3, 2, 1], [4, 9, 8]]), exact) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="one shape"):
        recall_at_k(exact[:, :2], exact)


@pytest.mark.parametrize("index_type", [BruteForceIndex, IvfIndex.build])
@pytest.mark.parametrize(
    ("vectors", "ids", "match"),
    [
        (np.zeros((0, 4), np.float32), np.arange(0), "empty"),
        (np.ones(4, np.float32), np.arange(4), "2-D"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.arange(2), "row 0 has a NaN"),
        (np.ones((3, 2)), np.arange(2), "ids must have shape"),
    ],
)
def test_bad_catalogue(index_type, vectors, ids, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        index_type(vectors, ids)


@pytest.mark.parametrize("index_type", [BruteForceIndex, IvfIndex.build])
def test_bad_search(index_type) -> None:
    index = index_type(_clustered(100, 4, seed=6, clusters=5), np.arange(100), metric="cosine")
    query = np.ones((1, 4), np.float32)
    for k, match in [(0, "positive"), (-1, "positive"), (101, "larger than the catalogue")]:
        with pytest.raises(ValueError, match=match):
            index.search(query, k)
    with pytest.raises(ValueError, match="dimension 3, the index has 4"):
        index.search(np.ones((1, 3), np.float32), 5)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.array([[1.0, np.inf, 0.0, 0.0]]), 5)
    with pytest.raises(ValueError, match="zero vector"):
        index.search(np.zeros((1, 4), np.float32), 5)


def test_unknown_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        BruteForceIndex(np.ones((2, 2)), np.arange(2), metric="l2")


def test_save_load_round_trip(tmp_path, catalogue, ivf: IvfIndex) -> None:
    _, _, queries = catalogue
    ivf.save(tmp_path / "ann")
    loaded = IvfIndex.load(tmp_path / "ann")
    assert loaded.params == ivf.params
    for got, want in zip(loaded.search(queries, 10), ivf.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, want)


def test_benchmark_returns_every_figure() -> None:
    report = run_ann_benchmark(candidate_counts=(2000,), dim=16, num_queries=30)
    assert report["setup"]["k"] == 10
    (row,) = report["results"]
    assert row["candidates"] == 2000
    assert set(row) == {"candidates", "index", "build_s", "ann", "brute_force", "recall_at_k"}
    for timing in (row["ann"], row["brute_force"]):
        for prefix in ("", "cpu_"):
            p50, p95, p99 = (timing[f"{prefix}p{q}_ms"] for q in (50, 95, 99))
            assert 0 <= p50 <= p95 <= p99
        assert len(timing) == 6
    assert 0 <= row["recall_at_k"] <= 1
    assert {"nlist", "nprobe", "metric"} <= set(row["index"])


def test_bad_ivf_parameters() -> None:
    vectors = _clustered(100, 4, seed=7, clusters=5)
    with pytest.raises(ValueError, match="nlist"):
        IvfIndex.build(vectors, np.arange(100), nlist=0)
    with pytest.raises(ValueError, match="nprobe"):
        IvfIndex.build(vectors, np.arange(100), nlist=2, nprobe=3)
