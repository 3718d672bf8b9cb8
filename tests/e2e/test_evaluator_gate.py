"""The Evaluator gate, end to end: a good model is blessed and pushed, a degraded one is not
(and the pushed version stays as it was), the next good run is compared with the last
blessed model, resolved from ML Metadata, and a one-user dataset pushes nothing."""

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from google.cloud import storage

from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures.browser import browser as open_browser
from tests.fixtures.documented import OPERATING
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
    degraded_report = shutil.copytree(output_dir / "report", root / "report-degraded")
    after = _tree_digest(pushed)
    again = _run(data_dir, output_dir, "--hparam", "retrieval.epochs=31")
    bucket = storage.Client(project="test").create_bucket("models")
    to_gcs = _run(data_dir, output_dir, "--hparam", "retrieval.epochs=31",
                  "--push-to", "gs://models/prod")
    return {"good": good, "degraded": degraded, "again": again, "pushed": pushed,
            "unchanged": before == after, "to_gcs": to_gcs, "bucket": bucket,
            "degraded_report": degraded_report, "data_dir": data_dir, "output_dir": output_dir}


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


def _one_user_data(directory: Path) -> Path:
    """One user's 30 ratings, one of them repeated later and one with a timestamp beyond 64
    bits: what a hostile but realistic first try looks like."""
    data_dir = write_ml100k(directory, users=1, movies=60, ratings_per_user=30)
    first = (data_dir / "u.data").read_text().splitlines()[0].split("\t")
    with open(data_dir / "u.data", "a") as handle:
        handle.write("\t".join([*first[:2], "2", "880099999"]) + "\n")
        handle.write("1\t5\t4\t99999999999999999999\n")
    return data_dir


def test_nothing_is_pushed_from_a_one_user_dataset(tmp_path, capsys):
    data_dir = _one_user_data(tmp_path / "data")
    output_dir = tmp_path / "out"
    status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(output_dir),
                       "--models", "retrieval,mf", "--hparam", "retrieval.epochs=2",
                       "--hparam", "mf.sweeps=2", "--quarantine-bad-rows",
                       "--max-bad-row-fraction", "0.05"])
    printed = capsys.readouterr()
    assert status == 0 and printed.err == ""
    store = run_summary.open_store(str(output_dir / "metadata.sqlite"))
    results = {result.node: result for result in run_summary.latest_run(store)}
    for model in ("retrieval", "mf"):
        assert run_summary.blessed(results[f"Evaluator.{model}"]) is False
        assert run_summary.pushed_destination(results[f"Pusher.{model}"]) is None
    assert not (output_dir / "serving").exists() or not any((output_dir / "serving").rglob("*"))
    lines = printed.out.splitlines()
    # The repeated rating is counted, the bad timestamp quarantined, both said once.
    assert [line.split(": /")[0] for line in lines if line.startswith("data: ")] == [
        "data: dropped 1 repeated (user, movie) rating, kept the latest of each",
        "data: quarantined 1 of 93 rows (1.08%)"]
    # Each refusal says why, as docs/operating.md shows it.
    too_few = ("example_count = 1, needs >= 30 (too few evaluated examples, see "
               "--min-eval-examples)")
    retrieval_line = (f"retrieval not blessed: {too_few}; hit_rate_lift_at_10 = 0.0000, needs "
                      ">= 0.01 (must beat the popularity baseline by this margin)")
    assert retrieval_line in lines
    assert OPERATING.read_text().count(retrieval_line) == 1
    (mf_line,) = [line for line in lines if line.startswith("mf not blessed: ")]
    assert mf_line.startswith(f"mf not blessed: {too_few}; ")
    assert re.search(r"; rating_error_reduction = -[0-9.]+, needs >= 0\.01 \(must predict "
                     r"ratings better than a constant by this margin\)$", mf_line), mf_line


def test_the_report_says_why_the_degraded_model_was_refused(runs):
    """`recsys run`'s report of the degraded run, in headless Chromium: the verdict names the
    thresholds that failed, with the values TFMA measured, beside the last blessed model."""
    from selenium.webdriver.common.by import By

    metrics = run_summary.evaluation_metrics(runs["degraded"]["Evaluator.retrieval"])
    browser = open_browser()
    try:
        browser.get((runs["degraded_report"] / "report.html").as_uri())
        section = browser.find_element(By.ID, "model-retrieval")
        assert section.find_element(By.TAG_NAME, "h2").text == "retrieval not blessed"
        verdict = section.find_element(By.CSS_SELECTOR, "p.verdict").text
        lift = metrics["hit_rate_lift_at_10"]
        assert verdict.startswith("Not blessed: ")
        assert f"hit_rate_lift_at_10 = {lift:.4f}, needs >= 0.01" in verdict
        assert re.search(r"change in hit_rate_at_10 vs the last blessed model = -0\.\d{4}, "
                         r"needs >= -0\.02", verdict)
        failed = [row.text for row in section.find_elements(By.CSS_SELECTOR, "table.gate tr")
                  if row.text.endswith("FAILED")]
        assert len(failed) == 2
        assert section.find_element(By.CSS_SELECTOR, "p.push").text == "Not pushed."
        table = section.find_element(By.CSS_SELECTOR, "table.metrics")
        header = [cell.text for cell in table.find_elements(By.TAG_NAME, "th")][:4]
        assert header[1:] == ["this model", "last blessed model", "popularity"]
        hit_rates = table.find_element(By.XPATH, ".//tr[th='HR@10']").text.split()
        assert float(hit_rates[1]) == pytest.approx(metrics["hit_rate_at_10"], abs=1e-4)
        assert float(hit_rates[2]) > float(hit_rates[1])  # the good model it did not replace
    finally:
        browser.quit()


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
