"""`recsys compile --trainer-workers N`: each Trainer becomes a Vertex AI training job of N
machines (TFX's Vertex Training extension) whose replicas run trainer.task.run_fn under
MultiWorkerMirroredStrategy; without the flag the stock Trainer trains in its step."""

import json

import pytest
from google.cloud.aiplatform_v1.types.custom_job import CustomJob
from tfx import v1 as tfx
from tfx.components.trainer import executor as stock_trainer
from tfx.extensions.google_cloud_ai_platform import training_clients
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_trainer
from tfx.scripts import run_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import name_utils

from contract import splits
from contract.catalogue import MODEL_NAMES
from contract.keys import MULTI_WORKER
from pipeline import configs
from recsys import cli
from tests.fixtures import kfp_job, vertex_jobs
from trainer import task

MODELS = ("mf", "retrieval")
MACHINE = "n1-highmem-16"
GPUS = ("NVIDIA_TESLA_T4", 2)
VERTEX_EXECUTOR = name_utils.get_full_name(vertex_trainer.GenericExecutor)
STOCK_EXECUTOR = name_utils.get_full_name(stock_trainer.GenericExecutor)
RUN_FN_KEYS = {task.MODEL_NAME_KEY, task.HPARAMS_KEY, "code_version"}
TRAINING_ARGS = tfx.extensions.google_cloud_ai_platform.TRAINING_ARGS_KEY
REPLICA_RUN_FN = "tests.unit.pipeline.vertex_replica.run_fn"


@pytest.fixture(scope="module")
def vertex_job(tmp_path_factory, target) -> dict:
    path = tmp_path_factory.mktemp("vertex") / "pipeline.json"
    assert cli.main(target.compile_args(
        path, "--models", ",".join(MODELS), "--trainer-workers", "3",
        "--trainer-machine-type", MACHINE, "--trainer-accelerator", "{}:{}".format(*GPUS))) == 0
    return json.loads(path.read_text())


def _executor(job: dict, step: str) -> dict:
    spec = job["pipelineSpec"]
    label = spec["components"][spec["root"]["dag"]["tasks"][step]["componentRef"]["name"]][
        "executorLabel"]
    return spec["deploymentSpec"]["executors"][label]["container"]


def _executor_class(job: dict, step: str) -> str:
    args = _executor(job, step)["args"]
    return args[args.index("--executor_class_path") + 1]


def _custom_config(job: dict, step: str) -> dict:
    """The step's custom_config, as the KFP v2 entrypoint hands it to the executor."""
    return json.loads(kfp_job.exec_properties(job, step)["custom_config"])


def test_the_multi_worker_switch_makes_the_trainer_use_multi_worker_mirrored():
    assert task.STRATEGIES[MULTI_WORKER] is task.tf.distribute.MultiWorkerMirroredStrategy


def test_trainers_run_the_vertex_training_executor(vertex_job, target):
    for name in MODELS:
        assert _executor_class(vertex_job, f"Trainer.{name}") == VERTEX_EXECUTOR
        assert _executor(vertex_job, f"Trainer.{name}")["image"] == target.image
        # Everything else is as without the flag.
        assert _executor_class(vertex_job, f"Evaluator.{name}") == name_utils.get_full_name(
            tfx.components.Evaluator.EXECUTOR_SPEC.executor_class)


def test_worker_pools_chief_and_workers_with_the_pipeline_image(vertex_job, target):
    for name in MODELS:
        config = _custom_config(vertex_job, f"Trainer.{name}")
        assert config[task.MODEL_NAME_KEY] == name and set(config) >= RUN_FN_KEYS
        assert config[tfx.extensions.google_cloud_ai_platform.ENABLE_VERTEX_KEY] is True
        assert config[tfx.extensions.google_cloud_ai_platform.VERTEX_REGION_KEY] == "us-central1"
        training_args = config[TRAINING_ARGS]
        assert training_args["project"] == "my-project"
        pools = training_args["job_spec"]["worker_pool_specs"]
        assert [pool["replica_count"] for pool in pools] == [1, 2]
        for pool in pools:
            assert pool["machine_spec"] == {"machine_type": MACHINE,
                                            "accelerator_type": GPUS[0],
                                            "accelerator_count": GPUS[1]}
            assert pool["container_spec"]["image_uri"] == target.image
            assert {"name": task.DISTRIBUTION_ENV, "value": "multi_worker"} in pool[
                "container_spec"]["env"]
            assert "command" not in pool["container_spec"]  # TFX's training client sets it


def test_without_the_flag_the_stock_trainer_trains_in_its_step(dataflow_job):
    for name in MODEL_NAMES:
        assert _executor_class(dataflow_job, f"Trainer.{name}") == STOCK_EXECUTOR
        config = _custom_config(dataflow_job, f"Trainer.{name}")
        assert set(config) == RUN_FN_KEYS and config[task.MODEL_NAME_KEY] == name


@pytest.mark.parametrize(("workers", "counts"), [(1, [1]), (2, [1, 1]), (8, [1, 7])])
def test_pool_zero_is_the_chief_pool_one_the_other_workers(workers, counts):
    training = configs.VertexTraining(project="p-123456", region="europe-west4",
                                      image="gcr.io/p/i:1", replica_count=workers)
    pools = training.worker_pool_specs()
    assert [pool["replica_count"] for pool in pools] == counts
    assert all(pool["machine_spec"] == {"machine_type": "n1-standard-8"} for pool in pools)
    job_spec = training.trainer_custom_config("mf")[TRAINING_ARGS]["job_spec"]
    assert "service_account" not in job_spec
    CustomJob({"display_name": "x", "job_spec": job_spec})  # valid CustomJob fields


@pytest.mark.parametrize(("extra", "message"), [
    (["--trainer-workers", "0"], "--trainer-workers: must be at least 1, got 0"),
    (["--trainer-workers", "-2"], "--trainer-workers: must be at least 1"),
    (["--trainer-workers", "two"], "--trainer-workers: expected a number of machines"),
    (["--trainer-workers", "2", "--trainer-accelerator", "NVIDIA_TESLA_T4"],
     "--trainer-accelerator 'NVIDIA_TESLA_T4': expected TYPE:COUNT"),
    (["--trainer-workers", "2", "--trainer-accelerator", "T4:1"],
     "--trainer-accelerator: unknown GPU type 'T4'"),
    (["--trainer-workers", "2", "--trainer-accelerator", "TPU_V3:8"],
     "--trainer-accelerator: unknown GPU type 'TPU_V3'"),
    (["--trainer-workers", "2", "--trainer-accelerator", "NVIDIA_TESLA_T4:0"],
     "--trainer-accelerator: "),
    (["--trainer-workers", "2", "--trainer-machine-type", "N1 standard"],
     "--trainer-machine-type: 'N1 standard' is not a machine type"),
    (["--trainer-workers", "2", "--trainer-machine-type", ""], "--trainer-machine-type: "),
    (["--trainer-workers", "2", "--trainer-service-account", "trainer"],
     "--trainer-service-account: 'trainer': expected an email"),
    (["--trainer-workers", "2", "--project", ""], "--project: '' is not a project id"),
    (["--trainer-workers", "2", "--region", "moon"], "--region: 'moon' is not a region"),
    (["--trainer-machine-type", MACHINE], "--trainer-machine-type only applies with "
                                          "--trainer-workers"),
    (["--trainer-accelerator", "NVIDIA_TESLA_T4:1"], "--trainer-accelerator only applies"),
])
def test_bad_training_flags_are_one_line_errors(tmp_path, capsys, target, extra, message):
    args = target.compile_args(tmp_path / "never.json")
    for flag in ("--project", "--region"):
        if flag in extra:  # replace, not repeat
            at = extra.index(flag)
            args[args.index(flag) + 1] = extra[at + 1]
            extra = extra[:at] + extra[at + 2:]
    assert cli.main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsys: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "never.json").exists()


# -- what the replicas get ---------------------------------------------------------------------
def _trainer_artifacts(root) -> tuple[dict, dict]:
    """Trainer inputs and outputs as local directories (gs:// URIs on Vertex AI)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(splits.SPLITS))
    for split in splits.SPLITS:
        (root / "examples" / f"Split-{split}").mkdir(parents=True)
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(root / "transform_graph")
    schema = standard_artifacts.Schema()
    schema.uri = str(root / "schema")
    (root / "schema").mkdir()
    (root / "schema" / "schema.pbtxt").write_text("")
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(root / "model"), str(root / "model_run")
    return ({keys.EXAMPLES_KEY: [examples], keys.TRANSFORM_GRAPH_KEY: [graph],
             keys.SCHEMA_KEY: [schema]},
            {keys.MODEL_KEY: [model], keys.MODEL_RUN_KEY: [model_run]})


def test_every_replica_runs_the_run_fn_with_the_model_config_and_multi_worker(
        vertex_job, target, tmp_path, monkeypatch):
    """The compiled Trainer step's executor, run as the KFP v2 entrypoint would, with the Vertex
    AI API faked: the CustomJob TFX builds is checked, then each replica's container command is
    run as Vertex AI would (its env, a TF_CONFIG) with a stand-in run_fn that records its
    arguments."""
    launched = []
    FakeVertex = vertex_jobs.recording_client(launched)

    def job_client(enable_vertex, vertex_region):
        assert enable_vertex, "AI Platform (CAIP) training, not Vertex AI"
        return FakeVertex(vertex_region)

    monkeypatch.setattr(training_clients, "get_job_client", job_client)
    inputs, outputs = _trainer_artifacts(tmp_path)
    exec_properties = dict(kfp_job.exec_properties(vertex_job, "Trainer.retrieval"),
                           run_fn=REPLICA_RUN_FN)
    vertex_trainer.GenericExecutor().Do(inputs, outputs, exec_properties)

    [(region, project, custom_job)] = launched
    assert (region, project) == ("us-central1", "my-project")
    CustomJob(custom_job)  # what the Vertex AI client sends: field and enum names are valid
    pools = custom_job["job_spec"]["worker_pool_specs"]
    assert [pool["replica_count"] for pool in pools] == [1, 2]
    cluster = {"chief": ["chief-0:2222"], "worker": ["worker-0:2222", "worker-1:2222"]}
    for task_type, pool in zip(("chief", "worker"), pools, strict=True):
        container = pool["container_spec"]
        assert container["image_uri"] == target.image
        assert container["command"][:3] == ["python", "-m", "tfx.scripts.run_executor"]
        for index in range(pool["replica_count"]):
            with monkeypatch.context() as replica:
                for variable in container["env"]:
                    replica.setenv(variable["name"], variable["value"])
                replica.setenv("TF_CONFIG", json.dumps(
                    {"cluster": cluster, "task": {"type": task_type, "index": index},
                     "environment": "cloud"}))
                run_executor.main(run_executor.parse_flags(container["command"][3:]))

    records = {path.stem: json.loads(path.read_text())
               for path in (tmp_path / "model_run").glob("*.json")}
    assert sorted(records) == ["chief-0", "worker-0", "worker-1"]
    for record in records.values():
        assert record["distribution"] == "multi_worker"
        assert record["custom_config"][task.MODEL_NAME_KEY] == "retrieval"
        assert set(record["custom_config"]) >= RUN_FN_KEYS
        assert record["train_files"] == [str(tmp_path / "examples" / "Split-train" / "*")]
