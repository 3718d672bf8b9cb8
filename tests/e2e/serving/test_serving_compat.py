"""Every pushed model loads and answers under the TensorFlow of the TF Serving image that
k8s_serving/ deploys, in a virtualenv holding only that TensorFlow (and TF Serving's request
protos): the infra check's probe, run by that interpreter, serves each version the way the
model server would and replays its warm-up requests, batched too."""

import re
import subprocess

import pytest

from components.infra_check import executor
from contract.catalogue import MODEL_NAMES
from recsys.serving.registry import latest_versions
from tests.fixtures.paths import REPO_ROOT, SERVING_VENV

pytestmark = pytest.mark.e2e
PYTHON = SERVING_VENV / "bin" / "python"


def _image_version() -> str:
    text = (REPO_ROOT / "k8s_serving/base/deployment.yaml").read_text()
    return re.search(r"image: tensorflow/serving:(\S+)", text).group(1)


@pytest.fixture(scope="module")
def serving_tensorflow() -> str:
    if not PYTHON.exists():
        pytest.fail(f"no virtualenv with the serving image's TensorFlow at {SERVING_VENV}: "
                    "run scripts/serving-compat-venv.sh (make serving-compat)")
    version = subprocess.run(
        [str(PYTHON), "-c", "import tensorflow as tf; print(tf.__version__)"],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert version == _image_version(), (
        f"{SERVING_VENV} has TensorFlow {version}, the image is tensorflow/serving:"
        f"{_image_version()}: re-run scripts/serving-compat-venv.sh")
    return version


def test_every_pushed_model_is_served_by_the_images_tensorflow(run_output, serving_tensorflow):
    _, output = run_output
    pushed = latest_versions(str(output / "serving"))
    assert sorted(name for name, _, _ in pushed) == sorted(MODEL_NAMES)
    for name, _, path in pushed:
        report = executor.run_probe(path, latency_budget_ms=1000, timeout_seconds=600,
                                    python=str(PYTHON))
        assert report["tensorflow"] == serving_tensorflow
        assert report["blessed"], f"{name}: {report['reason']}"
        assert report["records"] > 0 and report["signatures"]
