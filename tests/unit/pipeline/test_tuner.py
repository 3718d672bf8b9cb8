"""`--tune`: a TFX Tuner node before each Trainer, searching on the validation split and
handing its best hyper-parameters to the Trainer; on Vertex AI, TFX's Vertex Tuner extension
(compiled, and its executor run up to the CustomJob request with the API faked)."""

import json
import math
import types

import keras_tuner
import pytest
from google.cloud.aiplatform_v1.types.custom_job import CustomJob
from tfx.extensions.google_cloud_ai_platform import training_clients
from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import name_utils

from contract import splits
from contract.keys import HPARAMS_KEY, MODEL_NAME_KEY, TUNER_TRIALS_KEY
from pipeline import configs, pipeline
from recsys import cli
from tests.fixtures import kfp_job, vertex_jobs
from trainer import tuning
from trainer.config import config_with_tuned, default_config, search_space


def _nodes(tmp_path, **fields) -> dict:
    settings = configs.PipelineSettings.local(
        str(tmp_path / "data"), str(tmp_path / "out"), models=("mf", "retrieval", "two_stage"),
        **fields)
    return {node.id: node for node in pipeline.create_pipeline(settings).components}


def test_tuners_search_on_the_validation_split_and_feed_the_trainers(tmp_path) -> None:
    nodes = _nodes(tmp_path, tune_trials=3, hparams={"retrieval": {"epochs": "2"}})
    # two_stage has nothing of its own to search: its stages are models of their own.
    assert {n for n in nodes if n.startswith("Tuner.")} == {"Tuner.mf", "Tuner.retrieval"}
    for name in ("mf", "retrieval"):
        tuner, trainer = nodes[f"Tuner.{name}"], nodes[f"Trainer.{name}"]
        assert json.loads(tuner.exec_properties["train_args"])["splits"] == [splits.TRAIN]
        assert json.loads(tuner.exec_properties["eval_args"])["splits"] == [  # never eval
            splits.VALIDATION]
        config = json.loads(tuner.exec_properties["custom_config"])
        assert config[MODEL_NAME_KEY] == name and config[TUNER_TRIALS_KEY] == 3
        assert tuner.exec_properties["tuner_fn"] == configs.TUNER_FN
        hyperparameters = trainer.inputs["hyperparameters"]
        assert hyperparameters.producer_component_id == f"Tuner.{name}"
    assert json.loads(nodes["Tuner.retrieval"].exec_properties["custom_config"])[HPARAMS_KEY] \
        == {"epochs": "2"}
    assert "hyperparameters" not in nodes["Trainer.two_stage"].inputs


def test_without_tune_there_is_no_tuner(tmp_path) -> None:
    nodes = _nodes(tmp_path)
    assert not [n for n in nodes if n.startswith("Tuner.")]
    assert "hyperparameters" not in nodes["Trainer.mf"].inputs


def test_tuner_fn_searches_the_space_minus_the_fixed_overrides(tmp_path) -> None:
    fn_args = types.SimpleNamespace(
        custom_config={MODEL_NAME_KEY: "retrieval", HPARAMS_KEY: {"epochs": "2"},
                       TUNER_TRIALS_KEY: 4},
        train_files=[str(tmp_path / "Split-train" / "*")],
        eval_files=[str(tmp_path / "Split-validation" / "*")],
        transform_graph_path=str(tmp_path / "graph"), data_accessor=None,
        working_dir=str(tmp_path / "work"))
    result = tuning.tuner_fn(fn_args)
    oracle = result.tuner.oracle
    assert oracle.max_trials == 4
    assert oracle.objective.name == "val_ndcg_at_10" and oracle.objective.direction == "max"
    searched = {hp.name for hp in oracle.hyperparameters.space}
    assert searched == set(search_space("retrieval")) - {"epochs"}
    assert tuning.objective("mf").name == "val_rmse" and tuning.objective("mf").direction == "min"
    # Without the validation split there is nothing honest to tune on.
    fn_args.eval_files = [str(tmp_path / "Split-eval" / "*")]
    with pytest.raises(ValueError, match="validation"):
        tuning.tuner_fn(fn_args)


@pytest.mark.parametrize("algorithm", tuning.ALGORITHMS)
def test_the_first_trial_is_the_models_defaults_then_the_search_moves_on(
        algorithm, tmp_path) -> None:
    """A few trials of a random start never see the defaults unless asked: the first trial is
    them, so tuning cannot pick something worse on validation than the defaults."""
    oracle = tuning.make_oracle("mf", algorithm, 3, fixed={"sweeps": "5"})
    oracle._set_project_dir(str(tmp_path), "tune_mf")  # what a Tuner does with its oracle
    defaults = default_config("mf")
    first = oracle.create_trial("tuner0")
    assert first.hyperparameters.values == {
        "embedding_dim": defaults.embedding_dim, "noise_precision": defaults.noise_precision}
    oracle.update_trial(first.trial_id, {"val_rmse": 0.9})
    oracle.end_trial(first)
    second = oracle.create_trial("tuner0")
    assert second.hyperparameters.values != first.hyperparameters.values
    assert set(second.hyperparameters.values) == {"embedding_dim", "noise_precision"}


@pytest.mark.parametrize("algorithm", tuning.ALGORITHMS)
def test_a_few_trials_cover_each_dimension_evenly(algorithm, tmp_path) -> None:
    """After the defaults, 8 trials (Bayesian optimisation's random start included) follow a
    Sobol sequence: half of them take movie_bias, and each quarter of the temperature's log
    range holds 2. Independent draws would clump (trainer.tuning._QuasiRandom)."""
    oracle = tuning.make_oracle("retrieval", algorithm, 9)
    oracle._set_project_dir(str(tmp_path), "tune_retrieval")
    temperature = search_space("retrieval")["temperature"]
    low, high = temperature.low, temperature.high
    drawn = []
    for index in range(9):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {tuning.TOPK_OBJECTIVE: 0.1 + index / 100})
        oracle.end_trial(trial)
        drawn.append(trial.hyperparameters.values)
    searched = drawn[1:]  # the first is the defaults
    assert sum(values["movie_bias"] for values in searched) == 4
    quarters = [int(4 * math.log(values["temperature"] / low) / math.log(high / low))
                for values in searched]
    assert sorted(quarters) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len({tuple(sorted(values.items())) for values in drawn}) == 9


def test_the_trainer_applies_tuned_values_over_defaults_and_overrides_over_both() -> None:
    space = keras_tuner.HyperParameters()
    space.Fixed("embedding_dim", 32)
    space.Fixed("learning_rate", 0.004)
    tuned = space.get_config()  # what the Tuner writes as best_hyperparameters
    config = config_with_tuned("retrieval", tuned, {"learning_rate": "0.01"})
    assert config.embedding_dim == 32 and config.learning_rate == 0.01
    assert config_with_tuned("retrieval", None).embedding_dim == 64  # the default


def test_a_yes_or_no_field_is_searched_as_a_boolean_and_reaches_the_config() -> None:
    """movie_bias: a KerasTuner Boolean (a Choice would hand the Trainer 0 and 1), defaulting
    to the config's; the tuned value reaches the Trainer's config."""
    space = tuning.hyperparameters("hybrid")
    (dimension,) = [hp for hp in space.space if hp.name == "movie_bias"]
    assert isinstance(dimension, keras_tuner.engine.hyperparameters.Boolean)
    assert space.values["movie_bias"] is default_config("hybrid").movie_bias
    space.values["movie_bias"] = True
    assert config_with_tuned("hybrid", space.get_config()).movie_bias is True


@pytest.fixture(scope="module")
def vertex_job(tmp_path_factory, target) -> dict:
    path = tmp_path_factory.mktemp("vertex_tuner") / "pipeline.json"
    assert cli.main(target.compile_args(path, "--models", "mf", "--tune", "--tune-trials", "2",
                                        "--trainer-workers", "2")) == 0
    return json.loads(path.read_text())


def _step(job: dict, step: str) -> tuple[str, dict]:
    spec = job["pipelineSpec"]
    label = spec["components"][spec["root"]["dag"]["tasks"][step]["componentRef"]["name"]][
        "executorLabel"]
    args = spec["deploymentSpec"]["executors"][label]["container"]["args"]
    parameters = kfp_job.parameter_values(job, step)
    return args[args.index("--executor_class_path") + 1], parameters


def test_vertex_tuner_sends_a_custom_job_with_the_pipeline_image(
        vertex_job, target, tmp_path, monkeypatch) -> None:
    executor_class, parameters = _step(vertex_job, "Tuner.mf")
    assert executor_class == name_utils.get_full_name(vertex_tuner.Executor)
    launched = []
    FakeVertex = vertex_jobs.recording_client(launched)

    monkeypatch.setattr(training_clients, "get_job_client",
                        lambda enable_vertex, region: FakeVertex(region))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(splits.SPLITS))
    graph, schema = standard_artifacts.TransformGraph(), standard_artifacts.Schema()
    graph.uri, schema.uri = str(tmp_path / "graph"), str(tmp_path / "schema")
    best, results = standard_artifacts.HyperParameters(), standard_artifacts.TunerResults()
    best.uri, results.uri = str(tmp_path / "best"), str(tmp_path / "results")
    vertex_tuner.Executor().Do(
        {keys.EXAMPLES_KEY: [examples], keys.TRANSFORM_GRAPH_KEY: [graph],
         keys.SCHEMA_KEY: [schema]},
        {keys.BEST_HYPERPARAMETERS_KEY: [best], keys.TUNER_RESULTS_KEY: [results]}, parameters)
    [(region, project, custom_job)] = launched
    assert (region, project) == ("us-central1", "my-project")
    CustomJob(custom_job)  # valid field and enum names: what the Vertex AI client sends
    [pool] = custom_job["job_spec"]["worker_pool_specs"]
    assert pool["replica_count"] == 1 and pool["container_spec"]["image_uri"] == target.image
    command = pool["container_spec"]["command"]
    assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]
    assert "env" not in pool["container_spec"]  # trials run in one process
    config = json.loads(parameters["custom_config"])
    assert config[MODEL_NAME_KEY] == "mf" and config[TUNER_TRIALS_KEY] == 2
    assert vertex_tuner.TUNING_ARGS_KEY in config
