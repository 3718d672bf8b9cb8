"""ANN (faiss IVF, `recsys.serving.ann.IvfIndex`) against exact brute force at large catalogue
sizes.

Candidates and queries are synthetic but *clustered*, not i.i.d. Gaussian: i.i.d. Gaussian
vectors in 64 dimensions have almost no neighbourhood structure (every candidate is nearly as
far as every other), which makes ANN unrealistically hard and unlike trained embeddings, where
similar movies form groups. Here every vector is one of CLUSTERS random unit centres plus
Gaussian noise of norm about SPREAD, then L2-normalised (so "dot" equals cosine); a vector's
cosine to its centre is about 1 / sqrt(1 + SPREAD^2) = 0.62. Queries are drawn from the same
mixture. Recall@k compares the index's top k with brute force's on every query.

Latency is per single query [1, D] on one thread (BLAS and faiss's OpenMP both limited to 1):
a serving process answers one request per thread, and on a shared 2-core machine a second
BLAS thread made a 100K brute-force query 10x slower, not faster. Building uses every core.

    python -m benchmarks.ann          # prints a table, writes benchmarks/results/ann.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from recsys.serving.ann import BruteForceIndex, IvfIndex, recall_at_k

CLUSTERS = 500
SPREAD = 1.25
BRUTE_FORCE_TIMED_QUERIES = 200  # single-query brute force at 1M is ~20-50 ms; bound the run
WARMUP_QUERIES = 10
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "ann.json"


def clustered_embeddings(rows: int, centres: np.ndarray, rng: np.random.Generator,
                         spread: float = SPREAD) -> np.ndarray:
    """Unit vectors [rows, D]: a random centre of `centres` [C, D] plus noise of norm ~spread."""
    dim = centres.shape[1]
    members = centres[rng.integers(0, len(centres), rows)]
    noise = rng.standard_normal((rows, dim), dtype=np.float32) * np.float32(spread / dim ** 0.5)
    vectors = members + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _unit_centres(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((count, dim), dtype=np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def _percentiles_ms(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {f"{prefix}p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)}


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """BLAS and faiss's OpenMP limited to one thread inside the block."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        faiss.omp_set_num_threads(threads)


def _single_query_latency(search: Callable[[np.ndarray, int], object], queries: np.ndarray,
                          k: int) -> dict[str, float]:
    """p50/p95/p99 ms of `search` on one query [1, D] at a time, after a short warm-up.

    Wall-clock (p50_ms...) includes time the thread waited for a core; CPU time (cpu_p50_ms...)
    does not, so the two differ by what other processes on the machine took.
    """
    wall, cpu = [], []
    with _one_thread():
        for row in queries[:WARMUP_QUERIES]:
            search(row[None, :], k)
        for row in queries:
            start, start_cpu = time.perf_counter(), time.thread_time()
            search(row[None, :], k)
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
    return {**_percentiles_ms(wall), **_percentiles_ms(cpu, prefix="cpu_")}


def _one_size(candidates: int, centres: np.ndarray, queries: np.ndarray, k: int,
              rng: np.random.Generator, seed: int) -> dict[str, object]:
    """Build, time and score both indexes on `candidates` clustered vectors."""
    embeddings = clustered_embeddings(candidates, centres, rng)
    ids = np.arange(candidates, dtype=np.int64)
    start = time.perf_counter()
    ann = IvfIndex.build(embeddings, ids, metric="dot", seed=seed)
    build_s = time.perf_counter() - start
    exact = BruteForceIndex(embeddings, ids, metric="dot")
    exact_ids, _ = exact.search(queries, k)
    approx_ids, _ = ann.search(queries, k)
    return {
        "candidates": candidates,
        "index": ann.params,
        "build_s": round(build_s, 2),
        "ann": _single_query_latency(ann.search, queries, k),
        "brute_force": _single_query_latency(exact.search,
                                             queries[:BRUTE_FORCE_TIMED_QUERIES], k),
        "recall_at_k": round(recall_at_k(approx_ids, exact_ids), 4),
    }


def run_ann_benchmark(candidate_counts: Sequence[int] = (100_000, 1_000_000), dim: int = 64,
                      num_queries: int = 1000, k: int = 10, seed: int = 0) -> dict:
    """ANN vs brute force per catalogue size: build s, single-query p50/p95/p99 ms, recall@k.

    Returns {"setup": {...}, "results": [one dict per count in `candidate_counts`]}; each result
    has candidates, index (the IVF parameters), build_s, ann and brute_force ({p50,p95,p99}_ms
    wall-clock and cpu_{p50,p95,p99}_ms thread CPU time, one query at a time; brute force on
    the first BRUTE_FORCE_TIMED_QUERIES queries) and
    recall_at_k (ANN top k against brute force's, over all `num_queries` queries).
    """
    rng = np.random.default_rng(seed)
    centres = _unit_centres(CLUSTERS, dim, rng)
    queries = clustered_embeddings(num_queries, centres, rng)
    setup = {
        "data": f"{CLUSTERS} Gaussian clusters, noise norm {SPREAD}, L2-normalised; "
                "queries from the same mixture",
        "dim": dim, "num_queries": num_queries, "k": k, "seed": seed, "metric": "dot",
        "brute_force_timed_queries": min(num_queries, BRUTE_FORCE_TIMED_QUERIES),
        "search_threads": 1,
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
    }
    results = [_one_size(n, centres, queries, k, rng, seed) for n in candidate_counts]
    return {"setup": setup, "results": results}


def format_table(report: dict) -> str:
    """A markdown table of `run_ann_benchmark`'s results."""
    lines = ["| candidates | index | build s | ANN p50/p95/p99 ms (CPU p99) "
             f"| brute force p50/p95/p99 ms (CPU p99) | recall@{report['setup']['k']} |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in report["results"]:
        index = row["index"]
        lines.append(
            f"| {row['candidates']:,} | IVF{index['nlist']} nprobe {index['nprobe']} "
            f"| {row['build_s']} | {_timing_cell(row['ann'])} "
            f"| {_timing_cell(row['brute_force'])} | {row['recall_at_k']} |")
    return "\n".join(lines)


def _timing_cell(timing: dict[str, float]) -> str:
    return (f"{timing['p50_ms']}/{timing['p95_ms']}/{timing['p99_ms']} "
            f"({timing['cpu_p99_ms']})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ann",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="catalogue sizes to index (default: 100000 1000000)")
    parser.add_argument("--queries", type=int, default=1000, help="queries per size")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    if min(args.candidates) < 1000 or args.queries < 1:
        parser.error("--candidates must each be >= 1000 and --queries >= 1")
    report = run_ann_benchmark(candidate_counts=args.candidates, num_queries=args.queries)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(report))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
