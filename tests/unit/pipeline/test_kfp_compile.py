"""`recsys compile`: the DAG compiled by KubeflowV2DagRunner is a valid KFP v2 PipelineJob."""

import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tensorflow_model_analysis.proto import config_pb2 as tfma

from components.gcs_pusher import executor as pusher
from contract.catalogue import MODEL_NAMES
from contract.gates import DEFAULT_LATENCY_BUDGET_MS
from recsys import cli
from tests.fixtures import kfp_job

KFP_COMMAND = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
SHARED_STEPS = {"MovieLensExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                "DataValidationGate", "Transform"}
BEAM_STEPS = {"MovieLensExampleGen", "StatisticsGen", "Transform", "Evaluator.mf",
              "BatchRecommender.mf"}


def _steps(models) -> set[str]:
    per_model = {f"{step}.{m}" for m in models
                 for step in ("Trainer", "Evaluator", "InfraCheck", "Pusher",
                              "ExperimentMetrics", "BatchRecommender")}
    return SHARED_STEPS | per_model


def _component_tasks(job: dict) -> set[str]:
    """The DAG's tasks less the resolvers, which compile to metadata queries, not containers
    (LatestBlessedModel.<m> -> "<node>-<input>-resolver" tasks, PreviousStatistics -> itself)."""
    return {task for task in job["pipelineSpec"]["root"]["dag"]["tasks"]
            if not task.endswith("-resolver") and task != "PreviousStatistics"}


def _executor_args(job: dict, step: str) -> list[str]:
    spec = job["pipelineSpec"]
    executor = spec["root"]["dag"]["tasks"][step]["componentRef"]["name"]
    executor_label = spec["components"][executor]["executorLabel"]
    return spec["deploymentSpec"]["executors"][executor_label]["container"]["args"]


def test_is_a_pipeline_job_that_round_trips(dataflow_job, target):
    job = json_format.ParseDict(dataflow_job, pipeline_spec_pb2.PipelineJob())
    spec = json_format.ParseDict(dataflow_job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "movielens-recsys"
    assert job.runtime_config.gcs_output_directory == target.root
    again = json_format.ParseDict(json_format.MessageToDict(job), pipeline_spec_pb2.PipelineJob())
    assert again == job
    spec_again = json_format.ParseDict(json_format.MessageToDict(spec),
                                       pipeline_spec_pb2.PipelineSpec())
    assert spec_again == spec


def test_every_step_runs_the_pipeline_image(dataflow_job, target):
    spec = dataflow_job["pipelineSpec"]
    tasks = set(spec["root"]["dag"]["tasks"])
    assert _component_tasks(dataflow_job) == _steps(MODEL_NAMES)
    assert {task.split("-", 1)[0] for task in tasks - _steps(MODEL_NAMES)} == {
        "PreviousStatistics"} | {f"LatestBlessedModel.{m}" for m in MODEL_NAMES}
    executors = [e for e in spec["deploymentSpec"]["executors"].values() if "container" in e]
    assert len(executors) == len(_steps(MODEL_NAMES))
    for executor in executors:
        assert executor["container"]["image"] == target.image
        assert executor["container"]["command"] == KFP_COMMAND


def test_dataflow_beam_args_reach_beam_steps(dataflow_job, target):
    for step in BEAM_STEPS:
        args = _executor_args(dataflow_job, step)
        for expected in ("--runner=DataflowRunner", "--project=my-project",
                         "--region=us-central1", f"--temp_location={target.temp}",
                         "--machine_type=n2-standard-8", "--max_num_workers=7",
                         f"--sdk_container_image={target.image}"):
            assert expected in args, (step, expected)


def test_the_infra_check_gates_every_push(dataflow_job):
    """Each Pusher takes its model's InfraBlessing; each InfraCheck the Evaluator's blessing,
    and runs the infra check's executor with its latency budget."""
    spec = dataflow_job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    for name in MODEL_NAMES:
        pusher = tasks[f"Pusher.{name}"]["inputs"]["artifacts"]
        assert pusher["infra_blessing"]["taskOutputArtifact"] == {
            "producerTask": f"InfraCheck.{name}", "outputArtifactKey": "blessing"}
        check = tasks[f"InfraCheck.{name}"]
        assert check["inputs"]["artifacts"]["model_blessing"]["taskOutputArtifact"][
            "producerTask"] == f"Evaluator.{name}"
        args = _executor_args(dataflow_job, f"InfraCheck.{name}")
        assert args[args.index("--executor_class_path") + 1] == (
            "components.infra_check.executor.Executor")
        budget = kfp_job.exec_properties(dataflow_job, f"InfraCheck.{name}")["latency_budget_ms"]
        assert budget == DEFAULT_LATENCY_BUDGET_MS


def test_inputs_and_push_destinations(dataflow_job, target):
    assert kfp_job.exec_properties(dataflow_job, "MovieLensExampleGen")["input_base"] == (
        target.data)
    for name in MODEL_NAMES:  # where k8s_serving's models.config looks
        assert pusher.base_directory(kfp_job.exec_properties(
            dataflow_job, f"Pusher.{name}")) == f"{target.serving}/{name}"
        recommender = kfp_job.exec_properties(dataflow_job, f"BatchRecommender.{name}")
        assert recommender["destination"] == f"{target.root}/recommendations/{name}"


def test_direct_runner_and_model_subset(tmp_path, target):
    path = tmp_path / "direct.json"
    assert cli.main(target.compile_args(path, "--models", "mf,retrieval",
                                        "--latency-budget-ms", "25")) == 0
    job = json.loads(path.read_text())
    assert _component_tasks(job) == _steps(("mf", "retrieval"))
    assert kfp_job.exec_properties(job, "InfraCheck.mf")["latency_budget_ms"] == 25.0
    args = _executor_args(job, "Transform")
    assert "--direct_running_mode=multi_processing" in args
    assert not any(a.startswith("--runner=") for a in args)


def _parameter(job: dict, step: str, name: str):
    """A step's parameter as its executor gets it, None when unset."""
    return kfp_job.exec_properties(job, step).get(name)


def test_the_history_length_reaches_example_gen_schema_and_transform(tmp_path, target,
                                                                     dataflow_job):
    path = tmp_path / "long.json"
    assert cli.main(target.compile_args(path, "--models", "sequential",
                                        "--history-length", "50")) == 0
    job = json.loads(path.read_text())
    assert _parameter(job, "MovieLensExampleGen", "history_length") == 50
    assert _parameter(job, "ImportSchemaGen", "history_length") == 50
    custom_config = json.loads(_parameter(job, "Transform", "custom_config"))
    assert custom_config["history_length"] == 50
    # the default: the ExampleGen and Transform are given it, the curated schema holds it
    assert _parameter(dataflow_job, "MovieLensExampleGen", "history_length") == 20
    assert _parameter(dataflow_job, "ImportSchemaGen", "history_length") is None
    assert json.loads(_parameter(dataflow_job, "Transform", "custom_config"))[
        "history_length"] == 20


@pytest.mark.parametrize(("change", "message"), [
    ({"--pipeline-root": "/tmp/root"}, "--pipeline-root: expected a gs://"),
    ({"--data-dir": "data"}, "--data-dir: expected a gs://"),
    ({"--image": "gcr.io/p/pipeline"}, "give a tag or @sha256 digest"),
    ({"--models": "mf,nope"}, "--models: unknown model 'nope'"),
    ({"--beam-runner": "dataflow"}, "--temp-location (needed by --beam-runner dataflow)"),
    ({"--temp-location": "gs://b/tmp"}, "--temp-location only applies"),
    ({"--latency-budget-ms": "0"}, "--latency-budget-ms must be positive, got 0.0"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, target, change, message):
    args = target.compile_args(tmp_path / "never.json")
    for flag, value in change.items():
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsys: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "never.json").exists()


def test_example_gen_runs_the_file_fingerprinting_driver_before_the_cache_check(dataflow_job):
    spec = dataflow_job["pipelineSpec"]
    executor = spec["root"]["dag"]["tasks"]["MovieLensExampleGen"]["componentRef"]["name"]
    label = spec["components"][executor]["executorLabel"]
    hook = spec["deploymentSpec"]["executors"][label]["container"]["lifecycle"]["preCacheCheck"]
    assert "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver" in " ".join(
        hook["command"])


def test_every_data_and_gate_flag_of_run_reaches_the_compiled_job(tmp_path, target):
    """The flags `recsys compile` shares with `recsys run` (common.add_pipeline_arguments)
    land in the steps that read them, as each step's executor gets them."""
    path = tmp_path / "flags.json"
    assert cli.main(target.compile_args(
        path, "--models", "retrieval,mf", "--protocol", "presplit", "--train-file", "u1.base",
        "--eval-file", "u1.test", "--hparam", "mf.sweeps=3", "--min-hit-rate",
        "retrieval=0.3", "--quarantine-bad-rows", "--max-bad-row-fraction", "0.05",
        "--drift-threshold", "0.25")) == 0
    job = json.loads(path.read_text())
    example_gen = kfp_job.exec_properties(job, "MovieLensExampleGen")
    assert (example_gen["protocol"], example_gen["train_file"], example_gen["eval_file"]) == (
        "presplit", "u1.base", "u1.test")
    assert example_gen["quarantine_bad_rows"] == 1
    assert example_gen["max_bad_row_fraction"] == pytest.approx(0.05)
    assert kfp_job.exec_properties(job, "DataValidationGate")["drift_threshold"] == (
        pytest.approx(0.25))
    trainer = json.loads(kfp_job.exec_properties(job, "Trainer.mf")["custom_config"])
    assert trainer["hparams"] == {"sweeps": "3"}
    eval_config = json_format.Parse(
        kfp_job.exec_properties(job, "Evaluator.retrieval")["eval_config"], tfma.EvalConfig())
    [hit_rate] = [m for spec in eval_config.metrics_specs for m in spec.metrics
                  if m.class_name == "HitRateAtK"]
    assert hit_rate.threshold.value_threshold.lower_bound.value == pytest.approx(0.3)
    [lift] = [m for spec in eval_config.metrics_specs for m in spec.metrics
              if m.class_name == "HitRateLiftAtK"]
    assert not lift.HasField("threshold")  # a fixed floor instead of beating popularity


def test_spans_window_and_warm_start_compile(tmp_path, target):
    path = tmp_path / "spans.json"
    assert cli.main(target.compile_args(path, "--models", "retrieval", "--window", "3")) == 0
    job = json.loads(path.read_text())
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    example_gen = kfp_job.exec_properties(job, "MovieLensExampleGen")
    assert example_gen["window"] == 3  # the parameter's default, set per run at submit
    assert job["runtimeConfig"]["parameterValues"]["window"] == 3
    assert kfp_job.exec_properties(job, "MovieLensExampleGen", {"window": 5})["window"] == 5
    assert "span-{SPAN}/_SUCCESS" in example_gen["input_config"]
    # Warm start: the Trainer's base model is the Evaluator's baseline resolver's output.
    base = tasks["Trainer.retrieval"]["inputs"]["artifacts"]["base_model"]
    baseline = tasks["Evaluator.retrieval"]["inputs"]["artifacts"]["baseline_model"]
    assert base["taskOutputArtifact"] == baseline["taskOutputArtifact"]
