"""`recsys bench-serve`: the service on loopback under wrk at 1, 8 and 32 connections.

wrk (Debian package `wrk`) drives GET requests over random users / movies from a Lua list
(SAMPLE distinct ids per endpoint, drawn uniformly per request); its `done` hook prints
p50/p95/p99 and counts as one JSON line. The server runs in a subprocess (`recsys serve`), so
the load generator and the service share the machine's cores exactly as they would in
production on one box. The service caches no answers: every /recommend is a `recommend` call
(batched with the requests in flight), every /similar a product with the item embeddings read
once per model version. Each row also records the 1-minute load average before it and the
server's CPU time per request (user + system, all its threads), which other jobs on a shared
machine distort far less than the latencies.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from recsys.serving import catalogue
from recsys.serving.backends import InProcessBackend
from recsys.serving.registry import latest_versions

SAMPLE = 300  # distinct ids per endpoint, so no answer is trivially repeated
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
    .. '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000))
end
"""


def endpoints(data_dir: str) -> dict[str, list[str]]:
    data = catalogue.load(data_dir)
    rng = random.Random(0)
    users = rng.sample(sorted(data.users), min(SAMPLE, len(data.users)))
    movies = rng.sample(sorted(data.movies), min(SAMPLE, len(data.movies)))
    return {"/recommend": [f"/recommend?user_id={u}&k=10&exclude_seen=true" for u in users],
            "/similar": [f"/similar?movie_id={m}&k=10" for m in movies]}


def run(models_dir: str, data_dir: str, clients: list[int], duration: int,
        port: int) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("recsys bench-serve needs wrk: apt-get install -y wrk")
    server = _start_server(models_dir, data_dir, port)
    try:
        results = {"in_process": _in_process(models_dir), "http": []}
        for endpoint, paths in endpoints(data_dir).items():
            _wrk(port, paths, 4, 2)  # warm-up: first calls trace nothing but fill caches
            for count in clients:
                load, cpu = os.getloadavg()[0], _cpu_seconds(server.pid)
                row = _wrk(port, paths, count, duration)
                row["server_cpu_ms_per_request"] = round(
                    1000 * (_cpu_seconds(server.pid) - cpu) / max(row["requests"], 1), 3)
                results["http"].append({"endpoint": endpoint, "clients": count,
                                        "load_average": round(load, 2), **row})
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def _start_server(models_dir: str, data_dir: str, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "recsys.cli", "serve", "--models-dir", models_dir,
               "--data-dir", data_dir, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit("the service did not become ready in 300 s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, paths: list[str], clients: int, duration: int) -> dict:
    script = "paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
    script += ("request = function() return wrk.format('GET', paths[math.random(#paths)]) "
               "end\n") + _DONE
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{duration}s", "--timeout", "5s",
             "-s", handle.name, f"http://127.0.0.1:{port}"],
            check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(handle.name)
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["throughput_rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return result


def _in_process(models_dir: str, calls: int = 300) -> dict:
    """Latency of one serving_default call per model, in this process, batch of one."""
    timings = {}
    for name, _version, path in latest_versions(models_dir):
        backend = InProcessBackend(path)
        inputs = _default_inputs(backend)
        backend.call("serving_default", inputs)
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            backend.call("serving_default", inputs)
            seconds.append(time.perf_counter() - started)
        seconds.sort()
        timings[name] = {"p50_ms": round(1000 * seconds[len(seconds) // 2], 3),
                         "p99_ms": round(1000 * seconds[int(len(seconds) * 0.99)], 3)}
    return timings


def _default_inputs(backend) -> dict:
    import tensorflow as tf  # noqa: F401  (loaded by the backend already)

    names = set(backend._functions["serving_default"].structured_input_signature[1])
    if "movie_id" in names:
        return {"user_id": ["1"], "movie_id": ["50"]}
    return {"user_id": ["1"], "history": [""], "exclude_movie_ids": [""]}


def write(results: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)


def table(results: dict) -> str:
    lines = [f"{'endpoint':<12}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
             f"{'p99 ms':>9}{'errors':>8}{'cpu ms/req':>12}{'load':>7}"]
    for row in results["http"]:
        lines.append(f"{row['endpoint']:<12}{row['clients']:>8}{row['throughput_rps']:>10.1f}"
                     f"{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                     f"{row['errors'] + row['non_2xx']:>8}"
                     f"{row['server_cpu_ms_per_request']:>12.3f}{row['load_average']:>7.2f}")
    lines.append("in-process serving_default, batch 1:")
    for name, timing in results["in_process"].items():
        lines.append(f"  {name:<11} p50 {timing['p50_ms']:.2f} ms  p99 {timing['p99_ms']:.2f} ms")
    return "\n".join(lines)
