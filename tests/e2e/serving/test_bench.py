"""`recsys bench-serve` end to end on the tiny models: one short wrk run per endpoint."""

import shutil
import socket

import pytest

from benchmarks import serving as serving_bench

pytestmark = pytest.mark.e2e


def test_bench_serve_measures_both_endpoints(run_output, tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is required: apt-get install -y wrk")
    data_dir, output = run_output
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = serving_bench.run(str(output / "models"), str(data_dir), [2], 1, port)
    rows = {row["endpoint"]: row for row in results["http"]}
    assert set(rows) == {"/recommend", "/similar"}
    for row in rows.values():
        assert row["requests"] > 0 and row["errors"] == row["non_2xx"] == 0
        assert row["server_cpu_ms_per_request"] > 0 and row["load_average"] >= 0
    assert set(results["in_process"]) == {"hybrid", "mf", "ranking", "retrieval", "sequential"}
    serving_bench.write(results, str(tmp_path / "serving.json"))
    assert "/recommend" in serving_bench.table(results)
