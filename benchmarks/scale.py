"""The scale benchmark behind `recsys bench-scale`: per size, synthetic data, one pipeline run.

For each rating count it writes a MovieLens-shaped dataset (`recsys.synth`; users and movies
scale like the GroupLens releases, `scaled_shape`), runs `recsys run` on it in a child process
(the same command a user runs, here with `--beam-workers` local Beam worker processes) and
records:

- per component, the wall seconds of its ML Metadata execution (create to last update),
  examples/s where the number of examples it handles is known, and the peak resident memory
  of the whole process tree (the run and every Beam worker, sampled every SAMPLE_SECONDS);
- the run's total wall seconds and peak memory, and how time grew against size: time_ratio
  = seconds / seconds of the smallest size, size_ratio = ratings / smallest ratings, and
  at_most_linear = time_ratio <= size_ratio.

A child process per size keeps each size's memory figures clean of the previous run's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from recsys.data import synth
from recsys.inspection import run_summary

# (ratings, users, movies) of ML-1M and ML-25M; other sizes follow the power law through them.
ML_1M = (1_000_209, 6_040, 3_706)
ML_25M = (25_000_095, 162_541, 62_423)
MIN_USERS, MIN_MOVIES = 20, 1_000  # tiny sizes (tests) keep some users and a sparse catalogue
MIN_RATINGS_PER_USER = 5
SAMPLE_SECONDS = 0.5
ANN_CANDIDATE_COUNTS = (100_000, 1_000_000)
# Examples each component handles, as a function of (ratings, users, epochs); protocol TOPK
# holds out one rating per user for evaluation. Components not listed have no example count.
_EXAMPLES = {
    "MovieLensExampleGen": lambda ratings, users, epochs: ratings,
    "StatisticsGen": lambda ratings, users, epochs: ratings,
    "Transform": lambda ratings, users, epochs: ratings,
    "Trainer": lambda ratings, users, epochs: (ratings - users) * epochs if epochs else None,
    "Evaluator": lambda ratings, users, epochs: users,
}


@dataclasses.dataclass(frozen=True)
class Options:
    """How each size's pipeline runs (`recsys run` flags)."""

    models: tuple[str, ...] = ("retrieval",)
    beam_workers: int = 2
    hparams: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    verbose: bool = False

    def run_command(self, data_dir: str, output_dir: str) -> list[str]:
        """The `recsys run` command line of one size, run in a child process."""
        flags = [sys.executable, "-m", "recsys.cli", "run", "--data-dir", data_dir,
                 "--output-dir", output_dir, "--models", ",".join(self.models),
                 "--beam-workers", str(self.beam_workers)]
        for model, overrides in self.hparams.items():
            for key, value in overrides.items():
                flags += ["--hparam", f"{model}.{key}={value}"]
        return flags + (["--verbose"] if self.verbose else [])


def parse_sizes(text: str) -> list[int]:
    """'1000000,5000000' -> [1000000, 5000000], sorted; ValueError on anything else."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or sizes[0] < 1:
        raise ValueError(f"{text!r}: give at least one positive rating count")
    return sizes


def scaled_shape(ratings: int) -> tuple[int, int]:
    """(users, movies) for `ratings`: ML-1M's shape at 1M, ML-25M's at 25M, a power law in
    between and beyond, with floors for tiny sizes and capped so the counts stay valid."""
    scale = ratings / ML_1M[0]
    growth = math.log(ML_25M[0] / ML_1M[0])
    users = ML_1M[1] * scale ** (math.log(ML_25M[1] / ML_1M[1]) / growth)
    movies = ML_1M[2] * scale ** (math.log(ML_25M[2] / ML_1M[2]) / growth)
    users = min(max(MIN_USERS, round(users)), ratings // MIN_RATINGS_PER_USER)
    movies = max(MIN_MOVIES, round(movies), math.ceil(ratings / max(users, 1)))
    return users, movies


class TreeMemorySampler:
    """Samples the summed RSS of a process and all its descendants in a thread."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.samples: list[tuple[float, int, int]] = []  # (epoch s, bytes, processes)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self._interval):
                return

    def _sample(self) -> None:
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:  # a worker that just exited
                continue
        self.samples.append((time.time(), total, len(processes)))

    def peak(self, start: float = -math.inf, end: float = math.inf) -> int | None:
        """Highest sample between `start` and `end` (epoch s, widened by one interval)."""
        window = [rss for at, rss, _ in self.samples
                  if start - self._interval <= at <= end + self._interval]
        return max(window) if window else None


def run(sizes: list[int], options: Options, work_dir: str | None = None,
        skip_ann: bool = False) -> dict[str, Any]:
    """Every size in turn, then the ANN section; the results as written to JSON."""
    results: dict[str, Any] = {"machine": _machine(), "options": dataclasses.asdict(options),
                               "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="recsys-scale-") as scratch:
        root = Path(work_dir or scratch)
        for ratings in sizes:
            results["sizes"][str(ratings)] = run_size(ratings, options, root / str(ratings))
            if not work_dir:  # GBs at 25M: free the disk before the next size
                shutil.rmtree(root / str(ratings))
    add_scaling(results["sizes"])
    results["ann"] = {"skipped": "--skip-ann"} if skip_ann else ann_section()
    return results


def run_size(ratings: int, options: Options, directory: Path) -> dict[str, Any]:
    """Synthesise, run the pipeline, read back per-component figures; `error` on failure."""
    users, movies = scaled_shape(ratings)
    print(f"size {ratings:,}: {users:,} users, {movies:,} movies", flush=True)
    shutil.rmtree(directory, ignore_errors=True)  # a fresh pipeline: no cache, no baseline
    started = time.monotonic()
    synth.write_dataset(directory / "data", users, movies, ratings, options.seed,
                        MIN_RATINGS_PER_USER)
    entry: dict[str, Any] = {"ratings": ratings, "users": users, "movies": movies,
                             "synth_seconds": round(time.monotonic() - started, 1)}
    output_dir = directory / "run"
    command = options.run_command(str(directory / "data"), str(output_dir))
    started = time.monotonic()
    process = subprocess.Popen(command)
    with TreeMemorySampler(process.pid) as sampler:
        status = process.wait()
    entry["pipeline_seconds"] = round(time.monotonic() - started, 1)
    entry["peak_rss_mb"] = _mb(sampler.peak())
    entry["max_processes"] = max((n for _, _, n in sampler.samples), default=0)
    metadata = output_dir / "metadata.sqlite"
    if metadata.exists():  # after a failure too: the components that ran keep their figures
        entry["components"] = component_figures(str(metadata), sampler, ratings, users)
    if status != 0:
        entry["error"] = f"recsys run exited with status {status}"
    return entry


def component_figures(metadata_path: str, sampler: TreeMemorySampler, ratings: int,
                      users: int) -> dict[str, dict[str, Any]]:
    """Node id -> state, seconds, examples, examples/s and peak RSS, from ML Metadata."""
    figures = {}
    for node, state, start, end, epochs in _executions(metadata_path):
        seconds = max(end - start, 0.0)
        count = _EXAMPLES.get(node.split(".", 1)[0], lambda *_: None)(ratings, users, epochs)
        figures[node] = {
            "state": state, "seconds": round(seconds, 2), "examples": count,
            "examples_per_second": round(count / seconds, 1) if count and seconds else None,
            "peak_rss_mb": _mb(sampler.peak(start, end)),
        }
    return figures


def _executions(metadata_path: str) -> list[tuple[str, str, float, float, int | None]]:
    """(node, state, start and end in epoch s, Trainer epochs) of each node of the latest run,
    in execution order; LocalDagRunner runs one node at a time."""
    store = run_summary.open_store(metadata_path)
    results = {result.node: result for result in run_summary.latest_run(store)}
    if not results:  # the run stopped before its first node
        return []
    run_context = max(store.get_contexts_by_type("pipeline_run"),
                      key=lambda context: context.create_time_since_epoch)
    node_type = store.get_context_type("node").id
    rows = []
    for execution in sorted(store.get_executions_by_context(run_context.id),
                            key=lambda e: e.id):
        node = next(context.name.split(".", 1)[-1]
                    for context in store.get_contexts_by_execution(execution.id)
                    if context.type_id == node_type)
        epochs = None
        if node.startswith("Trainer."):
            epochs = run_summary.model_metrics(results[node]).get("config", {}).get("epochs")
        rows.append((node, results[node].state, execution.create_time_since_epoch / 1000,
                     execution.last_update_time_since_epoch / 1000, epochs))
    return rows


def add_scaling(sizes: dict[str, dict[str, Any]]) -> None:
    """time_ratio, size_ratio and at_most_linear of each size against the smallest that ran."""
    done = [entry for entry in sizes.values() if "error" not in entry]
    if not done:
        return
    smallest = min(done, key=lambda entry: entry["ratings"])
    for entry in done:
        entry["size_ratio"] = round(entry["ratings"] / smallest["ratings"], 3)
        entry["time_ratio"] = round(entry["pipeline_seconds"] / smallest["pipeline_seconds"], 3)
        entry["at_most_linear"] = entry["time_ratio"] <= entry["size_ratio"]


def ann_section() -> dict[str, Any]:
    """benchmarks.ann's figures, or why there are none."""
    try:
        from benchmarks import ann
    except ImportError as error:
        return {"skipped": f"benchmarks/ann.py is not available ({error})"}
    try:
        return ann.run_ann_benchmark(candidate_counts=ANN_CANDIDATE_COUNTS)
    except Exception as error:  # noqa: BLE001 - one section failing keeps the others
        return {"error": f"{type(error).__name__}: {error}"}


def format_table(results: dict[str, Any]) -> str:
    """One row per size and component, then each size's total and scaling (or its error)."""
    lines = [f"{'ratings':>11} {'component':<30} {'seconds':>9} {'examples/s':>11} "
             f"{'peak MB':>8}"]
    for size, entry in results["sizes"].items():
        for node, figures in entry.get("components", {}).items():
            lines.append(f"{int(size):>11,} {node:<30} {figures['seconds']:>9.1f} "
                         f"{_text(figures['examples_per_second']):>11} "
                         f"{_text(figures['peak_rss_mb']):>8}")
        if "error" in entry:
            lines.append(f"{int(size):>11,} {entry['error']}")
            continue
        lines.append(
            f"{int(size):>11,} {'total (synth ' + str(entry['synth_seconds']) + ' s)':<30} "
            f"{entry['pipeline_seconds']:>9.1f} {'':>11} {_text(entry['peak_rss_mb']):>8}   "
            f"time x{entry['time_ratio']} for size x{entry['size_ratio']}"
            f"{'' if entry['at_most_linear'] else '  WORSE THAN LINEAR'}")
    ann_results = results.get("ann", {})
    if "skipped" in ann_results or "error" in ann_results:
        lines.append(f"ann: {ann_results.get('skipped') or ann_results.get('error')}")
    elif ann_results:
        from benchmarks import ann

        lines.append(ann.format_table(ann_results))
    return "\n".join(lines)


def write_results(results: dict[str, Any], output: str) -> None:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not sorted: components stay in the order they ran.
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
