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
# Source whose change must invalidate Transform's and the Trainers' cached results: TFX only
# fingerprints module *files*, and we reference installed functions by path.
_CODE_PACKAGES = ("transform", "trainer", "recsys")


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
    beam_args: tuple[str, ...] = ()


def code_version() -> str:
    """A digest of the Python source the Transform and Trainer steps run."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in _CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def local_beam_args(workers: int = 2) -> tuple[str, ...]:
    return ("--direct_running_mode=multi_processing", f"--direct_num_workers={workers}")
