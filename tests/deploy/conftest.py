"""Shared fixtures: one pipeline compiled for Vertex AI through `recsys compile`."""

import json
from types import SimpleNamespace

import pytest

from recsys import cli

IMAGE = "us-central1-docker.pkg.dev/my-project/recsys/pipeline:1.2.3"
ROOT = "gs://my-bucket/recsys/pipeline_root"
DATA = "gs://my-bucket/movielens/ml-100k"
SERVING = "gs://my-bucket/recsys/serving"
TEMP = "gs://my-bucket/tmp"
DATAFLOW_ARGS = ("--beam-runner", "dataflow", "--temp_location", TEMP,
                 "--machine_type", "n2-standard-8", "--max_num_workers", "7")


def compile_args(output, *extra: str) -> list[str]:
    return ["compile", "--project", "my-project", "--region", "us-central1",
            "--pipeline-root", ROOT, "--data-dir", DATA, "--serving-dir", SERVING,
            "--image", IMAGE, "--output", str(output), *extra]


@pytest.fixture(scope="session")
def target() -> SimpleNamespace:
    """Where the compiled pipeline is told to run, and how to ask `recsys compile` for it."""
    return SimpleNamespace(image=IMAGE, root=ROOT, data=DATA, serving=SERVING, temp=TEMP,
                           compile_args=compile_args)


@pytest.fixture(scope="session")
def dataflow_job_path(tmp_path_factory):
    """All five models, Beam on Dataflow."""
    path = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    assert cli.main(compile_args(path, *DATAFLOW_ARGS)) == 0
    return path


@pytest.fixture(scope="session")
def dataflow_job(dataflow_job_path):
    return json.loads(dataflow_job_path.read_text())
