import shutil

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def client(run_output):
    from recsys.serving.app import build_app

    data_dir, output = run_output
    app = build_app(str(output / "models"), str(data_dir), start_polling=False)
    return TestClient(app)


@pytest.fixture
def models_copy(run_output, tmp_path):
    """A private copy of the pushed models, for tests that add versions."""
    target = tmp_path / "serving"
    shutil.copytree(run_output[1] / "models", target)
    return target
