"""One real `recsys run` of all five models on generated data, shared by the end-to-end,
serving and report tests (cached at module level, not a fixture, so every test directory gets
the same run: ~2 min on 2 cores)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from tests.movielens_files import write_ml100k

MODELS = ("retrieval", "mf", "hybrid", "sequential", "ranking")
# Enough steps on the small generated data for every model to pass its Evaluator gate (the
# rating models, with their cosine-decayed rate, need a higher one); the order of a user's
# ratings is random there, so the sequential model pools its history (bow).
TINY_TRAINING = [
    *(arg for model in MODELS for arg in ("--hparam", f"{model}.batch_size=128")),
    *(arg for model in MODELS for arg in ("--hparam", f"{model}.epochs=10")),
    "--hparam", "mf.epochs=30", "--hparam", "sequential.history_encoder=bow",
    "--hparam", "mf.learning_rate=0.01", "--hparam", "ranking.learning_rate=0.01",
]


@functools.cache
def pipeline_output() -> tuple[Path, Path]:
    """(raw data dir, run output dir): the output has metadata.sqlite, the pushed models in
    `serving/` and, for tests that need a fixed layout, every Trainer's SavedModel as
    `models/<model>/1`."""
    from recsys import cli

    root = Path(tempfile.mkdtemp(prefix="recsys-serving-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    data_dir = write_ml100k(root / "data")
    status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(root / "out"),
                       "--models", ",".join(MODELS), *TINY_TRAINING])
    assert status == 0, "recsys run failed: the end-to-end tests need its models"
    _collect_trained_models(root / "out")
    return data_dir, root / "out"


def _collect_trained_models(output: Path) -> None:
    from recsys import run_summary

    store = run_summary.open_store(str(output / "metadata.sqlite"))
    for result in run_summary.latest_run(store):
        if result.node.startswith("Trainer."):
            name = result.node.split(".", 1)[1]
            (artifact,) = result.outputs["model"]
            shutil.copytree(Path(artifact.uri) / "Format-Serving", output / "models" / name / "1")
