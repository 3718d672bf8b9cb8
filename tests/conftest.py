"""Test-wide set-up: Keras 2 for TensorFlow Recommenders, quiet TensorFlow logs, a real GCS
JSON API on loopback (gcp-storage-emulator, in memory) and the Vertex AI fixtures.

Layout: tests/unit/ mirrors the packages, tests/e2e/ runs the pipeline (marked e2e),
tests/fixtures/ holds shared helpers and data."""

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ["tests.fixtures.vertex", "tests.fixtures.vertex_api"]


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """STORAGE_EMULATOR_HOST of an in-memory emulator on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def bucket(gcs_emulator: str):
    from google.cloud import storage

    client = storage.Client(project="test-project")
    return client.create_bucket(f"models-{uuid.uuid4().hex[:12]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's `--dist loadgroup` (make test): a module's tests run on one
    worker, so a module-scoped fixture (most end-to-end tests share one pipeline run per module)
    is built once; every test on the shared run of all models (`run_output`, 8 minutes) joins one
    group, so that run too is made once. Without xdist the marks change nothing."""
    for item in items:
        shared_run = "run_output" in getattr(item, "fixturenames", ())
        group = "run_output" if shared_run else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
