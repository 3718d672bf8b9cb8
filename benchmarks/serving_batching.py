"""`recsys bench-serve --batching`: what batching buys, measured on the pushed models in
process, and the TF Serving batching parameters chosen from it.

1. Latency against batch size, per model and served signature: each signature called with
   batches of real rows (its warm-up requests, repeated), median and p90 per batch size.
2. The choice, from (1) by the rules below, for `k8s_serving/*/batching_parameters.txt`.
3. Its effect: closed-loop clients each sending one-row `serving_default` requests, answered
   unbatched (every client calls the model itself, as TF Serving without --enable_batching
   does) or through `recsys.serving.batching.Batcher` set to the chosen parameters (TF Serving's
   scheme: `num_batch_threads` workers taking up to `max_execution_batch_size` queued rows,
   waiting up to `batch_timeout_micros` for more). Throughput and latency percentiles per
   client count.

The rules (the measurement decides; nothing here is tuned to a machine):
* max_execution_batch_size: the knee of the typical signature's cost per row: for each batch
  size, the median over every model and served signature of (cost per row / cost of a lone
  row); the smallest size whose median is within KNEE_TOLERANCE of the lowest. Beyond it a
  bigger batch adds latency without saving work for most signatures; the few whose work per row
  does not shrink at all (ranking's `recommend` scores every movie with an MLP per user) are
  not allowed to set it, and requests larger than it are split into batches of it;
* batch_timeout_micros: 0 or the median one-row latency of that signature, whichever gives the
  higher throughput at the most clients in (3) without raising the one-client p99 by more
  than P99_TOLERANCE (waiting longer than one call to fill a batch cannot pay);
* num_batch_threads: one per core of the pod (set per overlay), max_enqueued_batches: room
  for one largest request (keys.MAX_REQUEST_ROWS, which is max_batch_size; larger requests
  are split into execution batches) and one batch per thread besides.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np

from contract import keys
from recsys.serving.backends import InProcessBackend, decode_strings
from recsys.serving.batching import Batcher
from recsys.serving.registry import latest_versions

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
KNEE_TOLERANCE = 0.25
P99_TOLERANCE = 1.5
DEFAULT_SIGNATURE = "serving_default"
Row = dict[str, Any]


def warmup_rows(model_dir: str) -> dict[str, list[Row]]:
    """signature -> the rows of the model's warm-up requests (real ids, trainer.serving_requests),
    as Python values the in-process backend takes."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    rows: dict[str, list[Row]] = {}
    for record in tf.data.TFRecordDataset(os.path.join(model_dir, keys.WARMUP_FILE)):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {name: decode_strings(tf.make_ndarray(proto)).tolist()
                  for name, proto in request.inputs.items()}
        batch = len(next(iter(inputs.values())))
        rows.setdefault(request.model_spec.signature_name, []).extend(
            {name: values[i] for name, values in inputs.items()} for i in range(batch))
    return rows


def _batch(rows: list[Row], size: int) -> dict[str, list]:
    chosen = [rows[i % len(rows)] for i in range(size)]
    return {name: [row[name] for row in chosen] for name in chosen[0]}


def latency_by_batch(backend: InProcessBackend, signature: str, rows: list[Row],
                     seconds: float) -> dict[int, dict[str, float]]:
    """Batch size -> median / p90 latency (ms) and median ms per row, each size timed for
    about `seconds` (at least 10 calls)."""
    results = {}
    for size in BATCH_SIZES:
        inputs = _batch(rows, size)
        backend.call(signature, inputs)  # the first call of a shape is not timed
        timings, deadline = [], time.monotonic() + seconds
        while len(timings) < 10 or time.monotonic() < deadline:
            started = time.perf_counter()
            backend.call(signature, inputs)
            timings.append(1000 * (time.perf_counter() - started))
        median = statistics.median(timings)
        results[size] = {"p50_ms": round(median, 3),
                         "p90_ms": round(float(np.percentile(timings, 90)), 3),
                         "ms_per_row": round(median / size, 4)}
    return results


def knee(per_row: dict[int, float]) -> int:
    """The smallest batch size whose per-row cost is within KNEE_TOLERANCE of the lowest."""
    best = min(per_row.values())
    return min(size for size, cost in per_row.items() if cost <= best * (1 + KNEE_TOLERANCE))


def typical_per_row(latency: dict[str, dict[str, dict[int, dict[str, float]]]]
                    ) -> dict[int, float]:
    """Batch size -> the median, over every model and signature, of its cost per row relative
    to a lone row's."""
    curves = [{size: entry["ms_per_row"] / by_size[1]["ms_per_row"]
               for size, entry in by_size.items()}
              for signatures in latency.values() for by_size in signatures.values()]
    return {size: statistics.median(curve[size] for curve in curves) for size in BATCH_SIZES}


def closed_loop(call, rows: list[Row], clients: int, seconds: float) -> dict[str, float]:
    """`clients` threads, each sending one row and waiting for its answer, for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        row = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            call(rows[(index + row) % len(rows)])
            latencies[index].append(1000 * (time.perf_counter() - started))
            row += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    every = sorted(x for per_client in latencies for x in per_client)
    return {"requests": len(every), "throughput_rps": round(len(every) / elapsed, 1),
            "p50_ms": round(float(np.percentile(every, 50)), 3),
            "p99_ms": round(float(np.percentile(every, 99)), 3)}


def effect(backend: InProcessBackend, rows: list[Row], clients: list[int], seconds: float,
           max_batch: int, timeouts_us: list[int], threads: int) -> list[dict]:
    """Closed-loop rows: unbatched, then batched with each candidate timeout."""
    def direct(row: Row) -> None:
        backend.call(DEFAULT_SIGNATURE, _batch([row], 1))

    results = []
    for mode, timeout in [("unbatched", None)] + [("batched", t) for t in timeouts_us]:
        batcher = None if timeout is None else Batcher(
            backend, DEFAULT_SIGNATURE, max_batch=max_batch, max_wait_s=timeout / 1e6,
            threads=threads)
        call = direct if batcher is None else (lambda row, b=batcher: _wait(b.submit(row)))
        try:
            for count in clients:
                load = os.getloadavg()[0]
                results.append({"mode": mode, "batch_timeout_micros": timeout,
                                "clients": count, "load_average": round(load, 2),
                                **closed_loop(call, rows, count, seconds)})
        finally:
            if batcher is not None:
                batcher.close()
    return results


def _wait(future: Future) -> None:
    future.result(timeout=60)


def choose(model: str, size: int, runs: list[dict]) -> dict[str, Any]:
    """The batching parameters, by the module docstring's rules, from the execution batch size
    (`knee`) and the closed-loop runs of `effect` on `model`."""
    unbatched_one_client_p99 = next(run["p99_ms"] for run in runs
                                    if run["mode"] == "unbatched" and run["clients"] == 1)
    most = max(run["clients"] for run in runs)
    allowed = [run for run in runs if run["mode"] == "batched" and run["clients"] == 1
               and run["p99_ms"] <= P99_TOLERANCE * unbatched_one_client_p99]
    timeouts = {run["batch_timeout_micros"] for run in allowed} or {0}
    best = max((run for run in runs if run["mode"] == "batched" and run["clients"] == most
                and run["batch_timeout_micros"] in timeouts),
               key=lambda run: run["throughput_rps"])
    return {"model": model, "max_execution_batch_size": size,
            "batch_timeout_micros": best["batch_timeout_micros"],
            "max_batch_size": keys.MAX_REQUEST_ROWS,
            "queue_batches_per_largest_request": math.ceil(keys.MAX_REQUEST_ROWS / size)}


def batching_parameters(choice: dict[str, Any], threads: int) -> str:
    """TF Serving's BatchingParameters text for a pod with `threads` cores."""
    return (f"max_batch_size {{ value: {choice['max_batch_size']} }}\n"
            "enable_large_batch_splitting { value: true }\n"
            f"max_execution_batch_size {{ value: {choice['max_execution_batch_size']} }}\n"
            f"batch_timeout_micros {{ value: {choice['batch_timeout_micros']} }}\n"
            f"num_batch_threads {{ value: {threads} }}\n"
            f"max_enqueued_batches {{ value: "
            f"{choice['queue_batches_per_largest_request'] + threads} }}\n"
            "pad_variable_length_inputs: false\n")


def run(models_dir: str, clients: list[int], seconds: float, threads: int) -> dict[str, Any]:
    """(1), (2) and (3) of the module docstring on every model's latest version."""
    models = {}
    for name, version, path in latest_versions(models_dir):
        backend = InProcessBackend(path)
        rows = warmup_rows(path)
        models[name] = {"version": version, "backend": backend, "rows": rows,
                        "latency": {signature: latency_by_batch(backend, signature,
                                                                rows[signature], seconds / 4)
                                    for signature in sorted(rows)}}
    if not models:
        raise ValueError(f"{models_dir}: no model versions (expected <model>/<version>/)")
    size = knee(typical_per_row({name: m["latency"] for name, m in models.items()}))
    # The effect is measured on the model whose lone serving_default call is slowest.
    defaults = {name: model["latency"][DEFAULT_SIGNATURE] for name, model in models.items()}
    slowest = max(defaults, key=lambda name: defaults[name][1]["p50_ms"])
    model = models[slowest]
    timeouts = [0, int(1000 * defaults[slowest][1]["p50_ms"])]
    runs = effect(model["backend"], model["rows"][DEFAULT_SIGNATURE], clients, seconds,
                  size, timeouts, threads)
    choice = choose(slowest, size, runs)
    return {"threads": threads, "cpu_count": os.cpu_count(),
            "latency": {name: {"version": m["version"], "signatures": m["latency"]}
                        for name, m in models.items()},
            "typical_per_row": typical_per_row({n: m["latency"] for n, m in models.items()}),
            "effect": {"model": slowest, "signature": DEFAULT_SIGNATURE, "runs": runs},
            "choice": choice, "batching_parameters": batching_parameters(choice, threads)}


def write(results: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)


def table(results: dict) -> str:
    lines = ["latency (ms, median) by batch size, per model and signature:",
             f"{'model':<12}{'signature':<20}" + "".join(f"{size:>9}" for size in BATCH_SIZES)]
    for name, model in results["latency"].items():
        for signature, by_size in model["signatures"].items():
            lines.append(f"{name:<12}{signature:<20}" + "".join(
                f"{by_size[size]['p50_ms']:>9.2f}" for size in BATCH_SIZES))
    lines.append(f"{'typical cost per row (x a lone row)':<32}" + "".join(
        f"{results['typical_per_row'][size]:>9.3f}" for size in BATCH_SIZES))
    effect = results["effect"]
    lines += ["", f"one-row {effect['signature']} requests of {effect['model']}, "
                  f"{results['threads']} batch thread(s):",
              f"{'mode':<10}{'timeout us':>11}{'clients':>8}{'req/s':>9}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'load':>7}"]
    for run_ in effect["runs"]:
        timeout = "" if run_["batch_timeout_micros"] is None else run_["batch_timeout_micros"]
        lines.append(f"{run_['mode']:<10}{timeout:>11}{run_['clients']:>8}"
                     f"{run_['throughput_rps']:>9.1f}{run_['p50_ms']:>9.2f}"
                     f"{run_['p99_ms']:>9.2f}{run_['load_average']:>7.2f}")
    lines += ["", "chosen (batching_parameters.txt, num_batch_threads = the pod's cores):",
              results["batching_parameters"]]
    return "\n".join(lines)
