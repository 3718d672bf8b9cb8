"""Pipeline-level settings, defined once and shared by every runner; model hyper-parameters
live in trainer/config.py, models and their gates in contract/catalogue.py."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from components.movielens_example_gen import rules
from contract import catalogue, splits
from contract.features import DEFAULT_HISTORY_LENGTH
from contract.gates import DEFAULT_LATENCY_BUDGET_MS, Gate
from contract.keys import (
    DISTRIBUTION_ENV,
    MULTI_WORKER,
    TENSORBOARD_EXPERIMENT,
    TENSORBOARD_RESOURCE,
)
from contract.schema import CURATED_SCHEMA

PIPELINE_NAME = "movielens-recsys"
PREPROCESSING_FN = "transform.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
TUNER_FN = "trainer.tuning.tuner_fn"
SERVING_DIR = "serving"  # under the output dir: <model>/<version>/ in TF Serving's layout
RECOMMENDATIONS_DIR = "recommendations"  # beside it: <model>/<version>/ batch recommendations
METADATA_FILE = "metadata.sqlite"
PIPELINE_ROOT_DIR = "pipeline_root"
# Source whose change must invalidate a step's cached results: TFX only fingerprints module
# *files*, and we reference installed functions by path.
TRANSFORM_CODE = ("transform", "contract")
TRAINER_CODE = ("trainer", "contract")
DEFAULT_TRAINER_MACHINE_TYPE = "n1-standard-8"
# Pipeline parameters of a compiled Vertex AI pipeline (KFP runtime parameters, set per run by
# `recsys submit --param NAME=VALUE`); the Trainers' configs are TRAINER_CONFIG_PARAM + model.
DATA_ROOT_PARAM = "data_root"
SERVING_ROOT_PARAM = "serving_root"
PROTOCOL_PARAM = "protocol"
TRAIN_FILE_PARAM = "train_file"
EVAL_FILE_PARAM = "eval_file"
WINDOW_PARAM = "window"  # spans per run (an int parameter; only with --window)
TRAINER_CONFIG_PARAM = "trainer_config_"
_PROJECT = re.compile(r"^[a-z][a-z0-9.:-]*[a-z0-9]$")
_TENSORBOARD = re.compile(r"^projects/[^/]+/locations/[a-z]+(-[a-z]+)+[0-9]+/tensorboards/[^/]+$")
_REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


class InvalidVertexSetting(ValueError):
    """A VertexTraining or VertexPipeline field with a bad value; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_project_and_region(project: str, region: str) -> None:
    if not _PROJECT.match(project or ""):
        raise InvalidVertexSetting("project", f"{project!r} is not a project id")
    if not _REGION.match(region or ""):
        raise InvalidVertexSetting("region", f"{region!r} is not a region, e.g. us-central1")


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Each Trainer as a Vertex AI CustomJob of `replica_count` machines (the chief included),
    all running `image` with RECSYS_DISTRIBUTION=multi_worker: trainer.task.run_fn then trains
    under MultiWorkerMirroredStrategy on the cluster Vertex AI describes in TF_CONFIG."""

    project: str
    region: str
    image: str
    replica_count: int = 1
    machine_type: str = DEFAULT_TRAINER_MACHINE_TYPE
    accelerator_type: str | None = None  # e.g. NVIDIA_TESLA_T4 (Vertex AI AcceleratorType)
    accelerator_count: int = 0
    # The identity the replicas run as (None: Vertex AI's Custom Code Service Agent).
    service_account: str | None = None

    def __post_init__(self) -> None:
        check_project_and_region(self.project, self.region)
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidVertexSetting("image", f"{self.image!r} is not an image")
        if type(self.replica_count) is not int or self.replica_count < 1:
            raise InvalidVertexSetting("replica_count", f"must be at least 1, got "
                                                         f"{self.replica_count!r}")
        if not _MACHINE_TYPE.match(self.machine_type or ""):
            raise InvalidVertexSetting("machine_type", f"{self.machine_type!r} is not a "
                                                        "machine type, e.g. n1-standard-8")
        if (self.accelerator_type is None) != (self.accelerator_count == 0):
            raise InvalidVertexSetting("accelerator", "give both a type and a count >= 1")
        if self.accelerator_type is not None:
            if self.accelerator_type not in gpu_accelerator_types():
                raise InvalidVertexSetting(
                    "accelerator", f"unknown GPU type {self.accelerator_type!r}; choose from "
                                   f"{', '.join(gpu_accelerator_types())}")
            if self.accelerator_count < 1:
                raise InvalidVertexSetting("accelerator", f"count must be at least 1, got "
                                                           f"{self.accelerator_count}")
        if self.service_account is not None and "@" not in self.service_account:
            raise InvalidVertexSetting("service_account", f"{self.service_account!r}: expected "
                                        "an email, e.g. NAME@PROJECT.iam.gserviceaccount.com")

    def worker_pool_specs(self) -> list[dict[str, Any]]:
        """Pool 0: the chief (one replica); pool 1: the other replica_count - 1 workers."""
        counts = [1] + ([self.replica_count - 1] if self.replica_count > 1 else [])
        return [self._worker_pool(count) for count in counts]

    def _worker_pool(self, replica_count: int) -> dict[str, Any]:
        machine: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_type is not None:
            machine.update(accelerator_type=self.accelerator_type,
                           accelerator_count=self.accelerator_count)
        # No command: TFX's training client sets it (python -m tfx.scripts.run_executor ...)
        # and keeps the rest of the container spec, env included.
        return {"machine_spec": machine, "replica_count": replica_count,
                "container_spec": {"image_uri": self.image,
                                   "env": [{"name": DISTRIBUTION_ENV, "value": MULTI_WORKER}]}}

    def tuner_custom_config(self, model_name: str) -> dict[str, Any]:
        """The keys tfx.extensions.google_cloud_ai_platform.Tuner reads from custom_config: the
        search runs as one Vertex AI CustomJob on the chief's machine (trials in sequence)."""
        from tfx.extensions.google_cloud_ai_platform import constants
        from tfx.extensions.google_cloud_ai_platform.tuner import executor

        pool = {**self._worker_pool(1)}
        # Trials run one after another in one process: no multi-worker environment.
        pool["container_spec"] = {"image_uri": self.image}
        job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
        if self.service_account is not None:
            job_spec["service_account"] = self.service_account
        return {
            constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: self.region,
            executor.TUNING_ARGS_KEY: {
                "project": self.project,
                "display_name": f"{PIPELINE_NAME}-tuner-{model_name}",
                "job_spec": job_spec,
            },
        }

    def trainer_custom_config(self, model_name: str) -> dict[str, Any]:
        """The keys tfx.extensions.google_cloud_ai_platform.Trainer reads from custom_config
        (the run_fn gets them too, next to the model's own keys, and ignores them)."""
        from tfx.extensions.google_cloud_ai_platform import constants
        from tfx.extensions.google_cloud_ai_platform.trainer import executor

        job_spec: dict[str, Any] = {"worker_pool_specs": self.worker_pool_specs()}
        if self.service_account is not None:
            job_spec["service_account"] = self.service_account
        return {
            constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: self.region,
            executor.TRAINING_ARGS_KEY: {
                "project": self.project,  # popped by TFX: the CustomJob's parent
                "display_name": f"{PIPELINE_NAME}-trainer-{model_name}",
                "job_spec": job_spec,
            },
        }


@dataclasses.dataclass(frozen=True)
class VertexPipeline:
    """What only a run on Vertex AI Pipelines has: its project and region, a Vertex AI
    TensorBoard for the Trainers' logs, and the Model Registry upload of pushed models."""

    project: str
    region: str
    # projects/P/locations/R/tensorboards/ID: each Trainer uploads its logs there.
    tensorboard: str | None = None
    # Each pushed model becomes a version of registry model `registry_model(<model>)`.
    model_registry: bool = False
    # The registry versions' serving container (None: Vertex AI's prebuilt TF image).
    serving_image: str | None = None

    def __post_init__(self) -> None:
        check_project_and_region(self.project, self.region)
        if self.tensorboard is not None and not _TENSORBOARD.match(self.tensorboard):
            raise InvalidVertexSetting("tensorboard", f"{self.tensorboard!r}: expected "
                                        "projects/PROJECT/locations/REGION/tensorboards/ID")
        if self.serving_image is not None and not self.model_registry:
            raise InvalidVertexSetting("serving_image", "only applies with the Model Registry")

    def tensorboard_config(self, model_name: str) -> dict[str, str] | None:
        """The Trainer's custom_config entry for its TensorBoard upload (contract.keys)."""
        if self.tensorboard is None:
            return None
        return {TENSORBOARD_RESOURCE: self.tensorboard,
                TENSORBOARD_EXPERIMENT: f"{PIPELINE_NAME}-{model_name}"}

    def registry_model(self, model_name: str) -> str:
        return f"{PIPELINE_NAME}-{model_name}"


def gpu_accelerator_types() -> tuple[str, ...]:
    """Vertex AI's GPU AcceleratorType names (in the installed client library)."""
    from google.cloud.aiplatform_v1.types.accelerator_type import AcceleratorType

    return tuple(name for name in AcceleratorType.__members__
                 if name != "ACCELERATOR_TYPE_UNSPECIFIED" and not name.startswith("TPU"))


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    """What one run is asked to do (the CLI builds it; runners consume it)."""

    data_dir: str
    pipeline_root: str
    serving_dir: str
    models: tuple[str, ...]
    protocol: str = splits.Protocol.TOPK.value
    train_file: str | None = None
    eval_file: str | None = None
    seed: int = splits.DEFAULT_SEED
    # Previous movies each example carries (ExampleGen) and history_index's width (Transform);
    # the Trainer, export and serving read it from the data.
    history_length: int = DEFAULT_HISTORY_LENGTH
    hparams: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    gates: dict[str, Gate] = dataclasses.field(default_factory=catalogue.default_gates)
    # "vertex" restricts resolvers to the stock strategies KubeflowV2DagRunner can compile.
    orchestrator: str = "local"
    beam_args: tuple[str, ...] = ()
    # Data gate (components/data_gate, components/movielens_example_gen).
    quarantine_bad_rows: bool = False  # ExampleGen sets bad rows aside instead of failing
    max_bad_row_fraction: float = 0.01  # ... and fails only above this fraction
    # Accepted rating times, seconds since the epoch (None: one day after the run) and what a
    # user's repeated rating of a movie does (components/movielens_example_gen/rules.py).
    min_timestamp: int = rules.EARLIEST_TIMESTAMP
    max_timestamp: int | None = None
    duplicate_ratings: str = rules.DuplicatePolicy.KEEP_LATEST.value
    drift_threshold: float | None = None  # None: the thresholds in the curated schema
    # Relative: inside the installed contract package (contract/schema.py).
    schema_file: str = CURATED_SCHEMA
    # The infra check's budget: the median latency allowed for any warm-up request.
    latency_budget_ms: float = DEFAULT_LATENCY_BUDGET_MS
    # None: each Trainer trains inside its pipeline step (the stock Trainer); else a Vertex AI
    # training job per Trainer (orchestrator "vertex" only).
    vertex_training: VertexTraining | None = None
    # A Tuner node before each Trainer (trainer/tuning.py) with this many trials; 0: none, the
    # defaults of trainer/config.py train.
    tune_trials: int = 0
    # A Vertex AI Pipelines run: pipeline parameters, gate metrics for Vertex AI Experiments,
    # TensorBoard and the Model Registry (None: a local run).
    vertex: VertexPipeline | None = None
    # Local runs: the ML Metadata store (SQLite); None on Vertex AI, which keeps its own.
    metadata_path: str | None = None
    # Spans (components/movielens_example_gen/spans.py): None reads data_dir as one MovieLens
    # directory; N trains on the latest N spans (0: all), ending at `span` (None: the latest
    # complete one).
    window: int | None = None
    span: int | None = None
    # Each Trainer starts from the last blessed model of its name (trainer/warm_start.py).
    warm_start: bool = False
    # Where each pushed version's batch recommendations go, as <model>/<version>/ (None: none).
    recommendations_dir: str | None = None

    @classmethod
    def local(cls, data_dir: str, output_dir: str, *, serving_dir: str | None = None,
              beam_workers: int = 1, **fields: Any) -> PipelineSettings:
        """A run on this machine with everything under `output_dir`: the pipeline root, ML
        Metadata and (unless `serving_dir` says otherwise) the pushed models."""
        output_dir = os.path.abspath(output_dir)
        return cls(
            data_dir=os.path.abspath(data_dir),
            pipeline_root=os.path.join(output_dir, PIPELINE_ROOT_DIR),
            serving_dir=serving_dir or os.path.join(output_dir, SERVING_DIR),
            metadata_path=os.path.join(output_dir, METADATA_FILE),
            recommendations_dir=os.path.join(output_dir, RECOMMENDATIONS_DIR),
            beam_args=local_beam_args(beam_workers) if beam_workers > 1 else (), **fields)

    @property
    def output_dir(self) -> str | None:
        """A local run's output directory (what `local` was given), None on Vertex AI."""
        return os.path.dirname(self.metadata_path) if self.metadata_path else None


def code_version(paths: tuple[str, ...]) -> str:
    """A digest of the Python source under `paths` (packages or files, repo-relative)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for entry in paths:
        files = [root / entry] if entry.endswith(".py") else (root / entry).rglob("*.py")
        for path in sorted(files):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# Imported by every Beam worker process before it unpickles a DoFn: `tfx` stubs tfx_bsl's
# missing sql_util, without which TFDV 1.16 (StatisticsGen) and TFMA do not import under
# tfx-bsl 1.21. In-process runs get it from the runner's own `import tfx`.
WORKER_PLUGINS = ("--beam_plugins=tfx",)


def local_beam_args(workers: int = 2) -> tuple[str, ...]:
    """Beam args for `workers` local worker processes (0: one per core), DirectRunner."""
    return ("--direct_running_mode=multi_processing", f"--direct_num_workers={workers}",
            *WORKER_PLUGINS)
