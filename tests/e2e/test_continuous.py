"""Continuous training end to end: spans arrive one after another in a watched directory and
`recsys watch --once` runs each, as a scheduler would.

Span 1 bootstraps (window 2, nothing to warm-start from); spans 2 and 3 each train on the
window ending at them, warm-started from the model the run before blessed, both resolved from
ML Metadata; a span still being copied (no _SUCCESS) starts nothing; a drifted span stops
before Transform and pushes nothing. Asserted in ML Metadata (artifact ids and spans), on disk
(serving versions, batch recommendations) and in what the command prints.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures import mlmd
from tests.fixtures.cli_output import run_error
from tests.fixtures.movielens_files import write_ml100k_spans

pytestmark = pytest.mark.e2e

MODEL = "retrieval"
USERS, SPANS, PER_SPAN = 60, 4, 4
TRAINING = ["--models", MODEL, "--window", "2", "--hparam", f"{MODEL}.batch_size=64",
            "--hparam", f"{MODEL}.epochs=8", "--hparam", f"{MODEL}.warm_start_fraction=0.5",
            "--min-hit-rate", f"{MODEL}=0.05"]


def _watch(data_dir, output_dir) -> tuple[int, str]:
    """(exit status, what it printed on stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli.main(["watch", "--data-dir", str(data_dir), "--output-dir",
                           str(output_dir), "--once", *TRAINING])
    return status, stderr.getvalue()


def _deliver(staging, watched, span: int) -> None:
    """A span arrives whole: its directory renamed into the watched one (marker included)."""
    shutil.move(str(staging / f"span-{span}"), str(watched / f"span-{span}"))


def _run_record(metadata: str) -> dict:
    run_io = mlmd.latest_run_io(metadata)
    examples = mlmd.artifact(metadata, run_io["MovieLensExampleGen"]["out:examples"][0])
    trainer = run_io.get(f"Trainer.{MODEL}", {})
    metrics = {}
    for run_dir in trainer.get("out:model_run", []):
        with open(os.path.join(mlmd.artifact(metadata, run_dir).uri, "metrics.json")) as handle:
            metrics = json.load(handle)
    return {
        "io": run_io, "examples": examples.id, "metrics": metrics,
        "span": examples.custom_properties["span"].int_value,
        "window": examples.custom_properties["window_spans"].string_value,
        "base_model": trainer.get("in:base_model", []),
        "model": trainer.get("out:model", []),
        "transformed": "Transform" in run_io,
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("continuous")
    staging = write_ml100k_spans(root / "staging", spans=SPANS, users=USERS, movies=40,
                                 ratings_per_user=SPANS * PER_SPAN)
    watched, output = root / "watched", root / "out"
    watched.mkdir()
    for name in ("u.item", "u.user"):
        shutil.copy(staging / name, watched / name)
    metadata = str(output / "metadata.sqlite")
    runs = {}
    for span in (1, 2, 3):
        _deliver(staging, watched, span)
        runs[span] = (_watch(watched, output)[0], _run_record(metadata))
    # Span 4 half copied: its ratings, no marker yet.
    partial = watched / "span-4"
    partial.mkdir()
    shutil.copy(staging / "span-4" / "u.data", partial / "u.data")
    executions = len(run_summary.open_store(metadata).get_executions())
    status = _watch(watched, output)[0]
    runs["partial"] = (status, executions, len(run_summary.open_store(metadata).get_executions()))
    # Span 4 complete, but every rating is 5: the data gate stops it.
    lines = (partial / "u.data").read_text().splitlines()
    (partial / "u.data").write_text("".join(
        "\t".join([*line.split("\t")[:2], "5", line.split("\t")[3]]) + "\n" for line in lines))
    versions = sorted(p.name for p in (output / "serving" / MODEL).iterdir())
    (partial / "_SUCCESS").write_text("")
    runs["drifted"] = (*_watch(watched, output), _run_record(metadata), versions)
    return output, metadata, runs


def test_every_span_runs_on_its_window_with_the_spans_recorded(history):
    _, _, runs = history
    assert [runs[span][0] for span in (1, 2, 3)] == [0, 0, 0]
    assert [(runs[s][1]["span"], runs[s][1]["window"]) for s in (1, 2, 3)] == [
        (1, "1"), (2, "1,2"), (3, "2,3")]
    assert len({runs[span][1]["examples"] for span in (1, 2, 3)}) == 3


def test_later_runs_warm_start_from_the_model_the_previous_run_blessed(history):
    output, _, runs = history
    first = runs[1][1]
    assert first["base_model"] == [] and first["metrics"]["warm_start"] is None
    assert first["metrics"]["config"]["epochs"] == 8
    for span in (2, 3):
        previous, this = runs[span - 1][1], runs[span][1]
        assert this["base_model"] == previous["model"]  # the resolver's pick, by artifact id
        assert this["io"][f"Evaluator.{MODEL}"]["in:baseline_model"] == previous["model"]
        warm = this["metrics"]["warm_start"]
        assert warm["epochs"] == 4 == this["metrics"]["config"]["epochs"]
        assert warm["kept_rows"]["user"] == USERS and warm["new_rows"]["user"] == 0
    assert len(list((output / "serving" / MODEL).iterdir())) == 3


def test_each_pushed_version_has_batch_recommendations_for_every_user(history):
    output, _, _ = history
    for version in (output / "serving" / MODEL).iterdir():
        target = output / "recommendations" / MODEL / version.name
        index = json.loads((target / "index.json").read_text())
        assert index["users"] == USERS and index["version"] == version.name
        users = pq.read_table(target / index["files"]["users"][0]).to_pylist()
        assert len({row["user_id"] for row in users}) == USERS
        assert all(len(row["movie_ids"]) == 10 for row in users)


def test_a_span_without_its_marker_starts_nothing(history):
    _, metadata, runs = history
    status, executions_before, executions_after = runs["partial"]
    assert status == 0 and executions_after == executions_before


def test_a_drifted_span_is_stopped_before_transform_and_pushes_nothing(history):
    output, _, runs = history
    status, stderr, record, versions_before = runs["drifted"]
    assert status == 2
    message, _ = run_error(stderr)
    assert message.startswith("data drift in span 4: feature 'rating': ")
    assert record["span"] == 4 and record["window"] == "3,4"
    assert not record["transformed"] and not record["model"]
    assert sorted(p.name for p in (output / "serving" / MODEL).iterdir()) == versions_before
