"""Tiny real models for the serving and report tests: one `recsys run` per test session.

Cached at module level (not a pytest fixture) so tests/serving and tests/report share the
one run (~3-4 min on 2 cores) instead of running the pipeline twice.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from tests.movielens_files import write_ml100k

MODELS = ("retrieval", "mf", "hybrid", "sequential", "ranking")


@functools.cache
def pipeline_output() -> tuple[Path, Path]:
    """(raw data dir, run output dir): the output has metadata.sqlite and `models/<model>/1`,
    every Trainer's SavedModel (on data this tiny the Evaluator blesses, and so the Pusher
    pushes, only some models; the serving tests need all five)."""
    from recsys import cli

    root = Path(tempfile.mkdtemp(prefix="recsys-serving-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    data_dir = write_ml100k(root / "data")
    hparams = [arg for model in MODELS for arg in ("--hparam", f"{model}.epochs=1")]
    status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir", str(root / "out"),
                       "--models", ",".join(MODELS), *hparams])
    assert status == 0, "recsys run failed: the serving tests need its models"
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
