"""Pipeline parameters: a compiled job declares the data root, serving root, protocol (with its
files) and each Trainer's config as parameters, holds the compiled settings as their values,
and its steps read what a run sets (checked through TFX's KFP v2 entrypoint parsing and the
components' own readers). Local runs have none."""

import json

import pytest

from components.gcs_pusher import executor as pusher
from contract.catalogue import MODEL_NAMES
from contract.keys import HPARAMS_KEY, MODEL_NAME_KEY
from pipeline import configs
from pipeline.pipeline import create_pipeline, runtime_parameters
from recsys import cli
from tests.fixtures import kfp_job
from trainer.config import config_with_overrides

PARAMETERS = {configs.DATA_ROOT_PARAM, configs.SERVING_ROOT_PARAM, configs.PROTOCOL_PARAM,
              configs.TRAIN_FILE_PARAM, configs.EVAL_FILE_PARAM,
              *(configs.TRAINER_CONFIG_PARAM + m for m in MODEL_NAMES)}


def test_the_job_declares_its_parameters_with_the_compiled_values(dataflow_job, target):
    declared = dataflow_job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert set(declared) == PARAMETERS
    assert all(spec["parameterType"] == "STRING" for spec in declared.values())
    values = dataflow_job["runtimeConfig"]["parameterValues"]
    assert set(values) == PARAMETERS
    assert values[configs.DATA_ROOT_PARAM] == target.data
    assert values[configs.SERVING_ROOT_PARAM] == target.serving
    assert values[configs.PROTOCOL_PARAM] == "topk"
    assert values[configs.TRAIN_FILE_PARAM] == values[configs.EVAL_FILE_PARAM] == ""
    assert json.loads(values[configs.TRAINER_CONFIG_PARAM + "mf"])[MODEL_NAME_KEY] == "mf"


def test_the_steps_read_the_compiled_values(dataflow_job, target):
    example_gen = kfp_job.exec_properties(dataflow_job, "MovieLensExampleGen")
    assert example_gen["input_base"] == target.data and example_gen["protocol"] == "topk"
    for name in MODEL_NAMES:
        pusher_step = kfp_job.exec_properties(dataflow_job, f"Pusher.{name}")
        assert pusher.base_directory(pusher_step) == f"{target.serving}/{name}"
        trainer = json.loads(kfp_job.exec_properties(
            dataflow_job, f"Trainer.{name}")["custom_config"])
        assert trainer[MODEL_NAME_KEY] == name and trainer[HPARAMS_KEY] == {}


def test_a_run_with_other_values_needs_no_recompiling(dataflow_job_path, dataflow_job, capsys):
    """What `recsys submit` sends is what each step reads."""
    assert cli.main([
        "submit", "--project", "p", "--region", "us-central1", "--dry-run",
        "--pipeline-spec", str(dataflow_job_path),
        "--param", "data_root=gs://other/ml-1m", "--param", "serving_root=gs://other/serving",
        "--param", "protocol=presplit", "--param", "train_file=u1.base",
        "--param", "eval_file=u1.test", "--hparam", "mf.sweeps=3",
        "--hparam", "retrieval.embedding_dim=16"]) == 0
    values = json.loads(capsys.readouterr().out)["parameter_values"]
    example_gen = kfp_job.exec_properties(dataflow_job, "MovieLensExampleGen", values)
    assert (example_gen["input_base"], example_gen["protocol"], example_gen["train_file"],
            example_gen["eval_file"]) == ("gs://other/ml-1m", "presplit", "u1.base", "u1.test")
    assert pusher.base_directory(kfp_job.exec_properties(
        dataflow_job, "Pusher.ranking", values)) == "gs://other/serving/ranking"
    for name, field, value in (("mf", "sweeps", 3), ("retrieval", "embedding_dim", 16)):
        custom_config = json.loads(kfp_job.exec_properties(
            dataflow_job, f"Trainer.{name}", values)["custom_config"])
        config = config_with_overrides(name, custom_config[HPARAMS_KEY])
        assert getattr(config, field) == value
    untouched = kfp_job.exec_properties(dataflow_job, "Trainer.hybrid", values)
    assert json.loads(untouched["custom_config"])[HPARAMS_KEY] == {}


def test_compiled_hparams_are_the_default_and_submit_adds_to_them(tmp_path, target, capsys):
    path = tmp_path / "job.json"
    assert cli.main(target.compile_args(path, "--models", "mf", "--hparam", "mf.sweeps=7",
                                        "--hparam", "mf.noise_precision=2")) == 0
    capsys.readouterr()
    assert cli.main(["submit", "--project", "p", "--region", "us-central1", "--dry-run",
                     "--pipeline-spec", str(path), "--hparam", "mf.sweeps=9"]) == 0
    values = json.loads(capsys.readouterr().out)["parameter_values"]
    hparams = json.loads(values[configs.TRAINER_CONFIG_PARAM + "mf"])[HPARAMS_KEY]
    assert hparams == {"sweeps": "9", "noise_precision": "2"}


def test_the_spans_window_is_an_integer_parameter(tmp_path, target, capsys):
    path = tmp_path / "spans.json"
    assert cli.main(target.compile_args(path, "--models", "mf", "--window", "3")) == 0
    submit = ["submit", "--project", "p", "--region", "us-central1", "--dry-run",
              "--pipeline-spec", str(path)]
    capsys.readouterr()
    assert cli.main([*submit, "--param", "window=4"]) == 0
    assert json.loads(capsys.readouterr().out)["parameter_values"]["window"] == 4  # a number
    assert cli.main([*submit, "--param", "window=x"]) == 2
    assert capsys.readouterr().err.strip() == (
        "recsys: error: --param 'window=x': expected an integer")


@pytest.mark.parametrize(("extra", "message"), [
    (("--param", "data_root=/local/data"), "--param data_root: expected a gs://"),
    (("--param", "serving_root=gs://"), "--param serving_root: expected a gs://"),
    (("--param", "protocol=leave-one-out"), "--param protocol=leave-one-out: expected one of"),
    (("--param", "protocol=presplit"), "go together with protocol=presplit"),
    (("--param", "seed=3"), "NAME one of the pipeline's parameters: data_root"),
    (("--param", "trainer_config_mf={"), "--param trainer_config_mf: not JSON"),
    (("--param", 'trainer_config_mf={"model_name": "mf", "hparams": {"epochs": "-1"}}'),
     "--param trainer_config_mf: invalid mf hyper-parameters"),
    (("--hparam", "mf.nope=1"), "--hparam: unknown hyper-parameter mf.nope"),
])
def test_bad_parameter_values_are_one_line_errors(dataflow_job_path, capsys, extra, message):
    assert cli.main(["submit", "--project", "p", "--region", "us-central1", "--dry-run",
                     "--pipeline-spec", str(dataflow_job_path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsys: error: ") and message in err and err.count("\n") == 1


def test_an_hparam_of_a_model_not_compiled_is_refused(tmp_path, target, capsys):
    path = tmp_path / "job.json"
    assert cli.main(target.compile_args(path, "--models", "mf")) == 0
    capsys.readouterr()
    assert cli.main(["submit", "--project", "p", "--region", "us-central1", "--dry-run",
                     "--pipeline-spec", str(path), "--hparam", "ranking.epochs=2"]) == 2
    assert "ranking is not in this pipeline" in capsys.readouterr().err


def test_local_runs_have_no_parameters(tmp_path):
    settings = configs.PipelineSettings.local(str(tmp_path / "data"), str(tmp_path / "out"),
                                              models=("mf",))
    pipeline = create_pipeline(settings)
    assert runtime_parameters(pipeline) == {}
    [trainer] = [node for node in pipeline.components if node.id == "Trainer.mf"]
    assert json.loads(trainer.exec_properties["custom_config"])[MODEL_NAME_KEY] == "mf"
