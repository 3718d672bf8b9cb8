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


# Test modules on the shared run of all models (fixture `run_output`, 8 minutes). Under
# pytest-xdist (make test: --dist loadscope) they form one work unit, so the run is made once;
# every other module is a unit of its own, so its module fixtures are built once. Paths, because
# the scheduler sees node ids only; pytest_collection_modifyitems keeps the list complete.
SHARED_RUN = ("tests/e2e/serving/", "tests/e2e/test_pipeline.py", "tests/e2e/test_report.py",
              "tests/e2e/test_tensorboard.py")


def _work_unit(nodeid: str) -> str:
    module = nodeid.split("::")[0]
    return "run_output" if module.startswith(SHARED_RUN) else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's loadscope with SHARED_RUN as one scope. Hand-written because xdist 3.8's own
    grouping (`--dist loadgroup`, xdist_group marks) renames node ids through an attribute
    pytest 9 no longer reads, so under pytest 9 it groups nothing."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return SharedRunScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    stray = [item.nodeid for item in items if "run_output" in getattr(item, "fixturenames", ())
             and not item.nodeid.startswith(SHARED_RUN)]
    if stray:
        raise pytest.UsageError(f"{stray[0]} uses the shared run (run_output): add its module "
                                "to SHARED_RUN in tests/conftest.py")
