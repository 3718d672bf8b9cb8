"""Pipeline-level settings shared by every runner; model hyper-parameters live in
trainer/config.py and feature names in recsys/features.py."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

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
