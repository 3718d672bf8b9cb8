"""End to end: `recsys run` on a generated dataset with LocalDagRunner, checked in ML Metadata,
on disk and by calling the pushed SavedModels; then a cached re-run and bad-input runs."""

import glob
import os

import pytest
import tensorflow as tf

from contract import catalogue
from contract.keys import WARMUP_FILE
from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures.cli_output import run_error
from tests.fixtures.movielens_files import RATINGS_PER_USER, USERS, write_ml100k
from tests.fixtures.pipeline_run import MODELS, TINY_TRAINING

pytestmark = pytest.mark.e2e

NODES = {"MovieLensExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
         "PreviousStatistics", "DataValidationGate", "Transform"} | {
    f"{kind}.{model}" for kind in ("Trainer", "LatestBlessedModel", "Evaluator", "InfraCheck",
                                   "Pusher", "BatchRecommender")
    for model in MODELS}


# Nodes that run again on an identical re-run: resolvers are never cached; the data gate's
# baseline is the statistics it accepted last, a new artifact each run; the Evaluators now have
# a baseline (the blessed model of the first run: the same model), the infra checks and the
# Pushers a new blessing, but push nothing new; the BatchRecommenders find that version's
# recommendations.
RERUN = {"PreviousStatistics", "DataValidationGate"} | {
    f"{kind}.{model}" for kind in ("LatestBlessedModel", "Evaluator", "InfraCheck", "Pusher",
                                   "BatchRecommender")
    for model in MODELS}


def _run(data_dir, output_dir, *extra):
    return cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(output_dir),
                     "--models", ",".join(MODELS), *TINY_TRAINING, *extra])


def _latest(output_dir):
    store = run_summary.open_store(str(output_dir / "metadata.sqlite"))
    return {result.node: result for result in run_summary.latest_run(store)}


def test_every_component_completes_and_is_recorded_in_mlmd(run_output):
    _, output_dir = run_output
    results = _latest(output_dir)
    assert set(results) == NODES
    assert {r.state for r in results.values()} == {"COMPLETE"}


def test_example_gen_writes_leave_last_out_splits(run_output):
    _, output_dir = run_output
    examples = _latest(output_dir)["MovieLensExampleGen"].outputs["examples"][0]

    def count(split):
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))

    # One held-out event per user, and one validation event: the latest training one.
    assert count("eval") == count("validation") == USERS
    assert count("train") == USERS * (RATINGS_PER_USER - 2)


def test_each_model_is_pushed_with_metrics_and_callable_signatures(run_output):
    _, output_dir = run_output
    results = _latest(output_dir)
    for model in MODELS:
        destination = run_summary.pushed_destination(results[f"Pusher.{model}"])
        assert destination and destination.startswith(str(output_dir / "serving" / model))
        trainer = run_summary.model_metrics(results[f"Trainer.{model}"])
        metrics = trainer["eval"]
        assert 0.0 <= metrics["hit_rate_at_10"] <= 1.0 and metrics["eval_examples"] == USERS
        assert os.path.isfile(os.path.join(destination, WARMUP_FILE))  # TF Serving replays it
        serves, reason = run_summary.infra_verdict(results[f"InfraCheck.{model}"])
        assert serves, reason
        curves = trainer["training_curves"]  # per epoch, on the train and validation splits,
        stages = catalogue.entry(model).stages  # then refitted on both
        if stages:  # a cascade: each stage's curves, named after it
            assert all({f"{stage}_loss", f"{stage}_val_loss", f"refit_{stage}_loss"} <= set(curves)
                       for stage in stages), sorted(curves)
        else:
            config = trainer["config"]  # a Gibbs-sampled mf's epochs are its sweeps
            epochs = config["sweeps"] if config.get("solver") == "gibbs" else config["epochs"]
            assert len(curves["loss"]) == len(curves["val_loss"]) == epochs
            assert len(curves["refit_loss"]) == epochs and "refit_val_loss" not in curves
        loaded = tf.saved_model.load(destination)
        top = loaded.signatures["recommend"](
            user_id=tf.constant(["1", "no-such-user"]), history=tf.constant(["", "3"]),
            exclude_movie_ids=tf.constant(["1", ""]))
        assert top["movie_ids"].shape == (2, 10)
        assert b"1" not in top["movie_ids"][0].numpy().tolist()  # excluded movie stays out


def test_second_identical_run_reuses_every_component(run_output, capsys):
    data_dir, output_dir = run_output
    versions = sorted(p.relative_to(output_dir) for p in (output_dir / "serving").glob("*/*"))
    assert _run(data_dir, output_dir) == 0
    results = _latest(output_dir)
    states = {node: result.state for node, result in results.items()}
    assert {states[node] for node in NODES - RERUN} == {"CACHED"}, states
    assert {states[node] for node in RERUN} == {"COMPLETE"}, states
    assert "cached" in capsys.readouterr().out
    assert sorted(p.relative_to(output_dir)
                  for p in (output_dir / "serving").glob("*/*")) == versions  # no new version
    for model in MODELS:
        assert run_summary.pushed_destination(results[f"Pusher.{model}"]).startswith(
            str(output_dir / "serving" / model))


def test_a_bad_row_stops_the_run_with_file_and_line(tmp_path, capsys):
    data_dir = write_ml100k(tmp_path / "data", users=3, movies=6, ratings_per_user=4)
    with open(data_dir / "u.data", "a") as handle:
        handle.write("1\t2\tfive\t880000000\n")
    assert _run(data_dir, tmp_path / "out", "--models", "mf") == 2
    message, log = run_error(capsys.readouterr().err)
    assert message == f"{data_dir / 'u.data'}:13: rating 'five' is not a number"
    assert log.parent == tmp_path / "out" / "logs" and "Traceback" in log.read_text()


def test_unknown_format_and_missing_file_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "ratings.txt").write_text("1 2 3\n")
    assert _run(tmp_path, tmp_path / "out", "--models", "mf") == 2
    assert "unknown MovieLens format" in run_error(capsys.readouterr().err)[0]
    data_dir = write_ml100k(tmp_path / "data", users=3, movies=6, ratings_per_user=4)
    os.remove(data_dir / "u.user")
    assert _run(data_dir, tmp_path / "out2", "--models", "mf") == 2
    assert run_error(capsys.readouterr().err)[0].endswith(
        "u.user: missing: a ml-100k dataset needs it beside u.data")
