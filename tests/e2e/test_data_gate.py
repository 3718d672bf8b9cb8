"""The data gate in LocalDagRunner runs: ExampleGen -> StatisticsGen -> the pipeline's own
validation nodes (components/data_gate.validation_nodes), with ML Metadata on SQLite.

One sequence of runs in one pipeline root: a first run, a re-run on slightly changed data
(one more rating, one bad row quarantined) that passes the drift check against the first, a
run with every rating shifted to 5 that fails it, the same command again (still fails: the
baseline is the last *accepted* statistics), and that run with a threshold that accepts the
shift. Checked in ML Metadata: the baseline the gate received really is the previous accepted
run's (ML Metadata 1.17 under TFX 1.21 warns it ignores property predicates).
"""

import json
import os

import pytest
from tfx import v1 as tfx

from components.data_gate.component import validation_nodes
from components.movielens_example_gen.component import MovieLensExampleGen
from contract import schema
from recsys.cli import common
from recsys.inspection import run_summary
from tests.fixtures.documented import assert_documented, documented_errors
from tests.fixtures.mlmd import latest_run_io
from tests.fixtures.movielens_files import write_ml100k

pytestmark = pytest.mark.e2e


def _run(data_dir, root, quarantine=False, drift_threshold=None):
    example_gen = MovieLensExampleGen(
        input_base=str(data_dir), quarantine_bad_rows=quarantine)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    nodes, _, _ = validation_nodes(
        statistics.outputs["statistics"], drift_threshold=drift_threshold)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="gate-test", pipeline_root=str(root / "pipeline_root"),
        components=[example_gen, statistics, *nodes], enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite"))))


def _outcome(*args, **kwargs) -> str | None:
    """None when the run passed, else the one line `recsys run` would print."""
    try:
        _run(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the CLI's view of any failure
        return common.user_error_message(error) or repr(error)
    return None


def _latest_io(root) -> dict[str, dict[str, list[int]]]:
    return latest_run_io(str(root / "metadata.sqlite"))


def _rewrite_ratings(data_dir, transform) -> None:
    path = data_dir / "u.data"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(transform(lines)) + "\n")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    data = write_ml100k(root / "data", users=30)
    runs = {"first": (_outcome(data, root), _latest_io(root))}
    runs["bad_line"] = len((data / "u.data").read_text().splitlines()) + 2
    # One more rating and one bad row: ExampleGen runs again (new fingerprint), the row is
    # quarantined (1 of 400 rows is under the 1 % default) and the distributions barely move.
    _rewrite_ratings(data, lambda lines: [*lines, "1\t2\t5\t880099999", "1\t2\tfive\t1"])
    runs["changed"] = (_outcome(data, root, quarantine=True), _latest_io(root))
    _rewrite_ratings(data, lambda lines: [
        "\t".join([*line.split("\t")[:2], "5", line.split("\t")[3]]) for line in lines
        if "five" not in line])
    runs["shifted"] = (_outcome(data, root), _latest_io(root))
    runs["retried"] = (_outcome(data, root), _latest_io(root))
    runs["accepted"] = (_outcome(data, root, drift_threshold=1.0), _latest_io(root))
    return root, runs


def test_first_run_passes_without_a_previous_run(history):
    _, runs = history
    outcome, io = runs["first"]
    assert outcome is None
    assert "in:previous_statistics" not in io["DataValidationGate"]  # nothing earlier
    assert io["DataValidationGate"]["out:accepted_statistics"]


def test_rerun_on_similar_data_compares_with_the_previous_runs_statistics(history):
    root, runs = history
    outcome, io = runs["changed"]
    assert outcome is None
    first = runs["first"][1]
    assert io["StatisticsGen"]["out:statistics"] != first["StatisticsGen"]["out:statistics"]
    assert io["DataValidationGate"]["in:previous_statistics"] == (
        first["DataValidationGate"]["out:accepted_statistics"])
    examples = _artifact_uri(root, io["MovieLensExampleGen"]["out:examples"][0])
    with open(os.path.join(examples, "quarantine", "rows.jsonl")) as handle:
        rows = [json.loads(line) for line in handle]
    assert rows == [{"file": str(root / "data" / "u.data"), "line": runs["bad_line"],
                     "reason": "rating 'five' is not a number"}]


def test_shifted_ratings_fail_the_run_naming_feature_and_distance(history):
    _, runs = history
    outcome, io = runs["shifted"]
    assert outcome.startswith("data drift since the previous run: feature 'rating': ")
    assert "Jensen-Shannon divergence" in outcome and "above the threshold 0.1" in outcome
    assert "\n" not in outcome and "--drift-threshold" in outcome
    assert_documented(outcome, next(line for line in documented_errors()
                                    if line.startswith("data drift since the previous run")))
    accepted = runs["changed"][1]["DataValidationGate"]["out:accepted_statistics"]
    assert io["DataValidationGate"]["in:previous_statistics"] == accepted
    assert "out:accepted_statistics" not in io["DataValidationGate"]  # nothing published


def test_retrying_the_drifted_data_fails_again(history):
    _, runs = history
    outcome, io = runs["retried"]
    # Same verdict; only the report's artifact path differs.
    assert outcome.split(" (previous statistics")[0] == (
        runs["shifted"][0].split(" (previous statistics")[0])
    accepted = runs["changed"][1]["DataValidationGate"]["out:accepted_statistics"]
    assert io["DataValidationGate"]["in:previous_statistics"] == accepted


def test_a_higher_threshold_accepts_the_shift(history):
    _, runs = history
    outcome, io = runs["accepted"]
    assert outcome is None and io["DataValidationGate"]["out:accepted_statistics"]


def test_values_outside_the_curated_schema_stop_the_run(tmp_path):
    data = write_ml100k(tmp_path / "data", users=6, movies=6, ratings_per_user=4)
    users = (data / "u.user").read_text().replace("|M|", "|X|")
    (data / "u.user").write_text(users)
    outcome = _outcome(data, tmp_path)
    assert outcome.startswith("data validation failed: split 'train': feature 'gender': "
                              "Unexpected string values (")
    assert "X" in outcome and f"curated schema {schema.resolve()}" in outcome
    assert "split 'eval': feature 'gender'" in outcome
    assert_documented(outcome, next(line for line in documented_errors()
                                    if line.startswith("data validation failed")))


def _artifact_uri(root, artifact_id: int) -> str:
    store = run_summary.open_store(str(root / "metadata.sqlite"))
    return store.get_artifacts_by_id([artifact_id])[0].uri
