"""`recsys bench-scale` at a tiny size: a real pipeline run with two Beam worker processes
(direct_running_mode=multi_processing) on synthetic ml-latest data, and its JSON figures."""

from __future__ import annotations

import glob
import json
import os

import pytest
import tensorflow as tf

from recsys import cli
from recsys.inspection import run_summary

pytestmark = pytest.mark.e2e

SIZE = 3_000
BEAM_COMPONENTS = ("MovieLensExampleGen", "StatisticsGen", "Transform", "Evaluator.retrieval")
TINY = ["--hparam", "retrieval.epochs=1", "--hparam", "retrieval.batch_size=256"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-scale")
    status = cli.main(["bench-scale", "--sizes", str(SIZE), "--skip-ann", "--models",
                       "retrieval", "--work-dir", str(root / "work"),
                       "--output", str(root / "scale.json"), *TINY])
    return status, json.loads((root / "scale.json").read_text()), root / "work" / str(SIZE)


def test_the_run_completes_with_two_beam_worker_processes(bench) -> None:
    status, results, _ = bench
    entry = results["sizes"][str(SIZE)]
    assert status == 0 and "error" not in entry
    assert results["options"]["beam_workers"] == 2
    # The runner plus two SDK worker processes (plus their own helpers) at the peak.
    assert entry["max_processes"] >= 3
    assert {figures["state"] for figures in entry["components"].values()} == {"COMPLETE"}


def test_per_component_seconds_throughput_and_peak_memory(bench) -> None:
    _, results, _ = bench
    entry = results["sizes"][str(SIZE)]
    components = entry["components"]
    for node in (*BEAM_COMPONENTS, "Trainer.retrieval", "Pusher.retrieval"):
        assert components[node]["seconds"] > 0 and components[node]["peak_rss_mb"] > 100, node
    for node in ("MovieLensExampleGen", "StatisticsGen", "Transform"):
        assert components[node]["examples"] == SIZE
        assert components[node]["examples_per_second"] > 0
    assert components["Evaluator.retrieval"]["examples"] == entry["users"]
    assert components["Trainer.retrieval"]["examples"] == SIZE - entry["users"]  # 1 epoch
    assert entry["pipeline_seconds"] >= sum(c["seconds"] for c in components.values())
    assert entry["peak_rss_mb"] >= max(c["peak_rss_mb"] for c in components.values())
    assert (entry["time_ratio"], entry["size_ratio"], entry["at_most_linear"]) == (1.0, 1.0,
                                                                                 True)
    assert results["ann"] == {"skipped": "--skip-ann"}


def test_example_gen_splits_every_synthetic_rating_leave_last_out(bench) -> None:
    _, results, directory = bench
    store = run_summary.open_store(str(directory / "run" / "metadata.sqlite"))
    examples = next(r for r in run_summary.latest_run(store)
                    if r.node == "MovieLensExampleGen").outputs["examples"][0]

    def count(split: str) -> int:
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))

    users = results["sizes"][str(SIZE)]["users"]
    assert count("eval") == count("validation") == users
    assert count("train") == SIZE - 2 * users
