"""The Evaluator gate, end to end: a good model is blessed and pushed, a degraded one is not
(and the pushed version stays as it was), and the next good run is compared with the last
blessed model, resolved from ML Metadata."""

import hashlib
from pathlib import Path

import pytest
from google.cloud import storage

from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures.movielens_files import write_ml100k

pytestmark = pytest.mark.e2e

# Enough steps on the small generated data to learn each user's genre.
TRAINING = ["--hparam", "retrieval.batch_size=128", "--hparam", "retrieval.epochs=30"]
DEGRADED = ["--hparam", "retrieval.learning_rate=1e-9"]  # stays at its random initialisation


def _run(data_dir: Path, output_dir: Path, *extra: str) -> dict:
    assert cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(output_dir),
                     "--models", "retrieval", *TRAINING, *extra]) == 0
    store = run_summary.open_store(str(output_dir / "metadata.sqlite"))
    return {result.node: result for result in run_summary.latest_run(store)}


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, gcs_emulator):
    root = tmp_path_factory.mktemp("gate")
    data_dir = write_ml100k(root / "data")
    output_dir = root / "out"
    good = _run(data_dir, output_dir)
    pushed = output_dir / "serving" / "retrieval"
    before = _tree_digest(pushed)
    degraded = _run(data_dir, output_dir, *DEGRADED)
    after = _tree_digest(pushed)
    again = _run(data_dir, output_dir, "--hparam", "retrieval.epochs=31")
    bucket = storage.Client(project="test").create_bucket("models")
    to_gcs = _run(data_dir, output_dir, "--hparam", "retrieval.epochs=31",
                  "--push-to", "gs://models/prod")
    return {"good": good, "degraded": degraded, "again": again, "pushed": pushed,
            "unchanged": before == after, "to_gcs": to_gcs, "bucket": bucket,
            "data_dir": data_dir, "output_dir": output_dir}


def test_a_good_model_beats_popularity_and_is_blessed_and_pushed(runs):
    good = runs["good"]
    metrics = run_summary.evaluation_metrics(good["Evaluator.retrieval"])
    assert metrics["hit_rate_at_10"] > metrics["popularity_hit_rate_at_10"]
    assert run_summary.blessed(good["Evaluator.retrieval"]) is True
    assert run_summary.pushed_destination(good["Pusher.retrieval"])
    assert run_summary.baseline_model_id(good["Evaluator.retrieval"]) is None  # first run


def test_a_degraded_model_is_not_blessed_and_the_pushed_version_is_untouched(runs):
    degraded = runs["degraded"]
    metrics = run_summary.evaluation_metrics(degraded["Evaluator.retrieval"])
    assert metrics["hit_rate_at_10"] < metrics["popularity_hit_rate_at_10"]
    assert run_summary.blessed(degraded["Evaluator.retrieval"]) is False
    assert run_summary.pushed_destination(degraded["Pusher.retrieval"]) is None
    assert runs["unchanged"]
    assert len([p for p in runs["pushed"].iterdir() if p.name.isdigit()]) == 2  # good + again


def test_the_next_good_run_is_compared_with_the_last_blessed_model(runs):
    first_model = runs["good"]["Trainer.retrieval"].outputs["model"][0]
    resolved = runs["again"]["LatestBlessedModel.retrieval"].outputs["model"]
    assert [artifact.id for artifact in resolved] == [first_model.id]  # not the degraded one
    assert run_summary.baseline_model_id(runs["again"]["Evaluator.retrieval"]) == first_model.id
    assert run_summary.blessed(runs["again"]["Evaluator.retrieval"]) is True


def test_push_to_gcs_reuses_the_blessed_model_and_writes_tf_serving_layout(runs):
    to_gcs = runs["to_gcs"]
    assert to_gcs["Trainer.retrieval"].state == "CACHED"  # only the destination changed
    version = run_summary.pushed_destination(to_gcs["Pusher.retrieval"]).rsplit("/", 1)[-1]
    names = {blob.name for blob in runs["bucket"].list_blobs(prefix="prod/")}
    assert f"prod/retrieval/{version}/saved_model.pb" in names
    assert f"prod/retrieval/{version}/assets.extra/item_embeddings.npz" in names
    assert all(name.startswith(f"prod/retrieval/{version}/") for name in names)
    assert f"prod/retrieval/{version}/assets.extra/tf_serving_warmup_requests" in names


def test_a_model_the_infra_check_refuses_is_not_pushed_and_the_run_says_why(runs, capsys):
    """The same blessed model under an impossible latency budget: the infra check (served in a
    fresh process) refuses it, the Pusher pushes nothing, and the summary says why."""
    versions = sorted(p.name for p in runs["pushed"].iterdir())
    capsys.readouterr()
    refused = _run(runs["data_dir"], runs["output_dir"], "--hparam", "retrieval.epochs=31",
                   "--latency-budget-ms", "0.000001")
    assert run_summary.blessed(refused["Evaluator.retrieval"]) is True
    serves, reason = run_summary.infra_verdict(refused["InfraCheck.retrieval"])
    assert serves is False and "over the budget of 1e-06 ms" in reason
    assert run_summary.pushed_destination(refused["Pusher.retrieval"]) is None
    assert sorted(p.name for p in runs["pushed"].iterdir()) == versions
    lines = [line for line in capsys.readouterr().out.splitlines() if "not pushed" in line]
    assert lines == [f"retrieval: not pushed, the infra check refused it: {reason}"]
