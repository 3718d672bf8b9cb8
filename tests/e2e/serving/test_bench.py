"""`recsys bench-serve` end to end on the tiny models: one short wrk run per endpoint."""

import json
import shutil
import socket

import pytest

from benchmarks import serving as serving_bench
from contract.catalogue import MODEL_NAMES

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
    assert set(results["in_process"]) == set(MODEL_NAMES)  # every catalogue model
    serving_bench.write(results, str(tmp_path / "serving.json"))
    assert "/recommend" in serving_bench.table(results)


def test_bench_serve_batching_chooses_valid_batching_parameters(run_output, tmp_path, capsys):
    """The --batching mode end to end (CLI, tables, JSON): latency by batch size for every
    served signature of every model, the effect runs, and a BatchingParameters text TF Serving
    parses, within the sizes measured."""
    from google.protobuf import text_format

    from benchmarks import serving_batching
    from recsys import cli
    from tests.fixtures.tf_serving_protos import compile_protos

    _, output = run_output
    path = tmp_path / "batching.json"
    assert cli.main(["bench-serve", "--batching", "--models-dir", str(output / "models"),
                     "--duration", "1", "--clients", "1,4", "--threads", "2",
                     "--output", str(path)]) == 0
    results = json.loads(path.read_text())
    assert set(results["latency"]) == set(MODEL_NAMES)
    for model in results["latency"].values():
        assert "serving_default" in model["signatures"]
        for by_size in model["signatures"].values():
            assert [int(size) for size in by_size] == list(serving_batching.BATCH_SIZES)
    runs = results["effect"]["runs"]
    assert {run["mode"] for run in runs} == {"unbatched", "batched"}
    assert all(run["requests"] > 0 for run in runs)
    params = text_format.Parse(results["batching_parameters"],
                               compile_protos()["batching_parameters"].BatchingParameters())
    assert params.max_execution_batch_size.value in serving_batching.BATCH_SIZES
    assert params.enable_large_batch_splitting.value and params.num_batch_threads.value == 2
    assert "chosen (batching_parameters.txt" in capsys.readouterr().out
