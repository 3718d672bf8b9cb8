"""`recsys run --tune`: a real TFX Tuner searches on the validation split, its first trial is
the model's defaults, and the Trainer trains with the best trial's values (a --hparam value
stays fixed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys import cli
from recsys.inspection import run_summary
from tests.fixtures.movielens_files import write_ml100k
from trainer.config import default_config

pytestmark = pytest.mark.e2e


def test_the_tuner_feeds_the_trainer_its_best_trial(tmp_path):
    data_dir = write_ml100k(tmp_path / "data", users=40)
    output = tmp_path / "out"
    status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(output),
                       "--models", "mf", "--tune", "--tune-trials", "2",
                       "--hparam", "mf.sweeps=3", "--hparam", "mf.posterior_samples=2"])
    assert status == 0
    nodes = {result.node: result for result in run_summary.latest_run(
        run_summary.open_store(str(output / "metadata.sqlite")))}
    (best,) = nodes["Tuner.mf"].outputs["best_hyperparameters"]
    tuned = json.loads((Path(best.uri) / "best_hyperparameters.txt").read_text())["values"]
    assert set(tuned) == {"embedding_dim", "noise_precision"}  # sweeps was fixed

    # TFX's tuner_results: the completed trials, best first.
    (results,) = nodes["Tuner.mf"].outputs["tuner_results"]
    trials = json.loads((Path(results.uri) / "tuner_results.json").read_text())
    values = {trial["trial_id"]: {key: trial[key] for key in tuned} for trial in trials}
    defaults = default_config("mf")
    assert len(values) == 2 and values["0"] == {
        "embedding_dim": defaults.embedding_dim, "noise_precision": defaults.noise_precision}
    assert values["1"] != values["0"]
    assert tuned == values[trials[0]["trial_id"]]  # the best trial's

    config = run_summary.model_metrics(nodes["Trainer.mf"])["config"]
    assert config["sweeps"] == 3 and config["posterior_samples"] == 2
    assert {key: config[key] for key in tuned} == tuned
