"""Pipeline-level settings shared by every runner; model hyper-parameters live in
trainer/config.py and feature names in recsys/features.py."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

from recsys import protocols

PIPELINE_NAME = "movielens-recsys"
PREPROCESSING_FN = "transform.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
SERVING_DIR = "serving"  # under the output dir: <model>/<version>/ in TF Serving's layout
METADATA_FILE = "metadata.sqlite"
PIPELINE_ROOT_DIR = "pipeline_root"
# Source whose change must invalidate a step's cached results: TFX only fingerprints module
# *files*, and we reference installed functions by path.
TRANSFORM_CODE = ("transform", "recsys/features.py")
TRAINER_CODE = ("trainer", "recsys/features.py")


@dataclasses.dataclass(frozen=True)
class Gate:
    """The Evaluator's thresholds for one model; a model failing any is not blessed or pushed.

    Hit-Rate@10 follows protocol TOPK. With `min_hit_rate` None the model must do at least as
    well as the popularity baseline measured in the same run on the same eval examples.
    """

    min_hit_rate: float | None = None
    beat_popularity: bool = True
    max_hit_rate_drop: float = 0.02  # vs the latest blessed model of the same name
    max_mse: float | None = None  # rating models: MSE of the predicted rating
    max_mse_increase: float = 0.02  # vs the latest blessed model of the same name


# Rating models are trained for RMSE, not for top-K: they are gated on their rating error
# (1.21 = RMSE 1.1, about what predicting every user's mean rating gets on MovieLens).
DEFAULT_GATES = {
    "mf": Gate(beat_popularity=False, max_mse=1.21),
    "ranking": Gate(beat_popularity=False, max_mse=1.21),
    "retrieval": Gate(),
    "hybrid": Gate(),
    "sequential": Gate(),
}


# The Trainer's strategy switch (trainer.task.DISTRIBUTION_ENV; spelled here so that this module
# imports no TensorFlow, tests/deploy/test_vertex_training.py checks they agree).
DISTRIBUTION_ENV = "RECSYS_DISTRIBUTION"
MULTI_WORKER = "multi_worker"
# custom_config keys of tfx.extensions.google_cloud_ai_platform.Trainer (ENABLE_VERTEX_KEY,
# VERTEX_REGION_KEY, TRAINING_ARGS_KEY there; spelled here for the same reason, same check).
VERTEX_ENABLE_KEY = "ai_platform_enable_vertex"
VERTEX_REGION_KEY = "ai_platform_vertex_region"
VERTEX_TRAINING_ARGS_KEY = "ai_platform_training_args"
DEFAULT_TRAINER_MACHINE_TYPE = "n1-standard-8"
_PROJECT = re.compile(r"^[a-z][a-z0-9.:-]*[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


class InvalidVertexTraining(ValueError):
    """A VertexTraining field with a bad value; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
        if not _PROJECT.match(self.project or ""):
            raise InvalidVertexTraining("project", f"{self.project!r} is not a project id")
        if not _REGION.match(self.region or ""):
            raise InvalidVertexTraining("region", f"{self.region!r} is not a region, "
                                                  "e.g. us-central1")
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidVertexTraining("image", f"{self.image!r} is not an image")
        if type(self.replica_count) is not int or self.replica_count < 1:
            raise InvalidVertexTraining("replica_count", f"must be at least 1, got "
                                                         f"{self.replica_count!r}")
        if not _MACHINE_TYPE.match(self.machine_type or ""):
            raise InvalidVertexTraining("machine_type", f"{self.machine_type!r} is not a "
                                                        "machine type, e.g. n1-standard-8")
        if (self.accelerator_type is None) != (self.accelerator_count == 0):
            raise InvalidVertexTraining("accelerator", "give both a type and a count >= 1")
        if self.accelerator_type is not None:
            if self.accelerator_type not in gpu_accelerator_types():
                raise InvalidVertexTraining(
                    "accelerator", f"unknown GPU type {self.accelerator_type!r}; choose from "
                                   f"{', '.join(gpu_accelerator_types())}")
            if self.accelerator_count < 1:
                raise InvalidVertexTraining("accelerator", f"count must be at least 1, got "
                                                           f"{self.accelerator_count}")
        if self.service_account is not None and "@" not in self.service_account:
            raise InvalidVertexTraining("service_account", f"{self.service_account!r}: expected "
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

    def trainer_custom_config(self, model_name: str) -> dict[str, Any]:
        """The keys tfx.extensions.google_cloud_ai_platform.Trainer reads from custom_config
        (the run_fn gets them too, next to the model's own keys, and ignores them)."""
        job_spec: dict[str, Any] = {"worker_pool_specs": self.worker_pool_specs()}
        if self.service_account is not None:
            job_spec["service_account"] = self.service_account
        return {
            VERTEX_ENABLE_KEY: True,
            VERTEX_REGION_KEY: self.region,
            VERTEX_TRAINING_ARGS_KEY: {
                "project": self.project,  # popped by TFX: the CustomJob's parent
                "display_name": f"{PIPELINE_NAME}-trainer-{model_name}",
                "job_spec": job_spec,
            },
        }


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
    protocol: str = protocols.Protocol.TOPK.value
    train_file: str | None = None
    eval_file: str | None = None
    seed: int = protocols.DEFAULT_SEED
    hparams: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    gates: dict[str, Gate] = dataclasses.field(default_factory=lambda: dict(DEFAULT_GATES))
    # "vertex" restricts resolvers to the stock strategies KubeflowV2DagRunner can compile.
    orchestrator: str = "local"
    beam_args: tuple[str, ...] = ()
    # Data gate (components/data_gate, components/movielens_example_gen).
    quarantine_bad_rows: bool = False  # ExampleGen sets bad rows aside instead of failing
    max_bad_row_fraction: float = 0.01  # ... and fails only above this fraction
    drift_threshold: float | None = None  # None: the thresholds in the curated schema
    schema_file: str = "schema/schema.pbtxt"  # relative: to the project root / image copy
    # None: each Trainer trains inside its pipeline step (the stock Trainer); else a Vertex AI
    # training job per Trainer (orchestrator "vertex" only).
    vertex_training: VertexTraining | None = None


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
