"""Faults: `recsys run` SIGKILLed during Transform, then the same command again; and the
one-line error when quarantine rejects too many rows."""

import os
import signal
import subprocess
import sys
import time

import pytest
from ml_metadata.proto import metadata_store_pb2

from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures.cli_output import run_error
from tests.fixtures.movielens_files import write_ml100k

pytestmark = pytest.mark.e2e
Artifact = metadata_store_pb2.Artifact
FINISHED = {"COMPLETE", "CACHED"}


def _command(data_dir, output_dir) -> list[str]:
    return [sys.executable, "-m", "recsys.cli", "run", "--data-dir", str(data_dir),
            "--output-dir", str(output_dir), "--models", "mf", "--hparam", "mf.sweeps=20"]


def _kill_when(command: list[str], marker: str, timeout: float = 300) -> str:
    """Starts `command`, SIGKILLs its process group once a stdout line holds `marker`."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, start_new_session=True, env=dict(os.environ))
    deadline, seen = time.monotonic() + timeout, []
    try:
        for line in process.stdout:
            seen.append(line)
            if marker in line or time.monotonic() > deadline:
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the run and its Beam workers, like an OOM kill
        process.wait()
    return "".join(seen)


def test_a_run_killed_during_transform_completes_when_rerun(tmp_path):
    data_dir = write_ml100k(tmp_path / "data", users=20, movies=15, ratings_per_user=8)
    command = _command(data_dir, tmp_path / "out")
    before = _kill_when(command, "Transform")
    assert "Transform" in before and "running" in before.splitlines()[-1]

    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    store = run_summary.open_store(str(tmp_path / "out" / "metadata.sqlite"))
    results = {r.node: r for r in run_summary.latest_run(store)}
    assert {"Transform", "Trainer.mf", "Pusher.mf"} <= set(results)
    assert {r.node: r.state for r in results.values() if r.state not in FINISHED} == {}
    # Finished work is re-used; the killed Transform ran again from scratch.
    for node in ("MovieLensExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator"):
        assert results[node].state == "CACHED", node
    assert results["Transform"].state == "COMPLETE"
    # Everything the re-run consumed is a published (LIVE) artifact, never the killed run's
    # half-written output.
    trainers = store.get_executions_by_type("tfx.components.trainer.component.Trainer")
    for event in store.get_events_by_execution_ids([e.id for e in trainers]):
        if event.type == metadata_store_pb2.Event.INPUT:
            artifact = store.get_artifacts_by_id([event.artifact_id])[0]
            assert artifact.state == Artifact.LIVE, artifact.uri


def test_too_many_quarantined_rows_stop_the_run_with_one_line(tmp_path, capsys):
    # 20 ratings + 6 movies + 4 users + 2 bad rows = 32 rows.
    data_dir = write_ml100k(tmp_path / "data", users=4, movies=6, ratings_per_user=5)
    with open(data_dir / "u.data", "a") as handle:
        handle.write("1\t2\tfive\t880000000\n9\t2\t4\t880000000\n")
    status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "out"),
                       "--models", "mf", "--quarantine-bad-rows"])
    error, _ = run_error(capsys.readouterr().err)
    assert status == 2 and "/quarantine/rows.jsonl: 2 of 32 rows" in error
    assert error.endswith(
        "(6.25%) were rejected, more than --max-bad-row-fraction 1.00%; first: "
        f"{data_dir / 'u.data'}:21: rating 'five' is not a number")
