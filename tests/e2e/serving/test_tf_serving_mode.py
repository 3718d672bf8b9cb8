"""`recsys serve --tf-serving URL --tf-serving-config FILE`, as k8s_serving runs it: every
model call goes over TF Serving's REST API (to a stand-in on loopback that serves the pushed
SavedModels and, like TF Serving with the batching of k8s_serving, refuses a request of more
than keys.MAX_REQUEST_ROWS rows), a labelled model is asked for its `stable` version, and the
answers are those of the service with the models in process."""

import re

import numpy as np
import pytest
import tensorflow as tf
from fastapi.testclient import TestClient

from contract import keys
from recsys.cli import deploy
from recsys.serving.app import build_app
from recsys.serving.backends import decode_strings
from tests.fixtures.json_server import json_server

pytestmark = pytest.mark.e2e
PREDICT = re.compile(r"^/v1/models/(?P<model>[\w-]+)(/labels/(?P<label>\w+))?:predict$")


@pytest.fixture(scope="module")
def tf_serving(run_output):
    """(URL, [(model, label, signature, rows)] of every request): the pushed models' latest
    versions, and version 1 of `retrieval` under the label `stable`."""
    _, output = run_output
    models = output / "models"  # <model>/1: the Trainers' SavedModels
    loaded = {path.name: tf.saved_model.load(str(path / "1")) for path in models.iterdir()}
    seen = []

    def answer(path: str, body: dict) -> tuple[int, dict]:
        match = PREDICT.match(path)
        model, label = match["model"], match["label"]
        function = loaded[model].signatures[body["signature_name"]]
        rows = len(next(iter(body["inputs"].values())))
        seen.append((model, label, body["signature_name"], rows))
        if rows > keys.MAX_REQUEST_ROWS:
            return 400, {"error": f"Task size {rows} is larger than maximum input batch size"}
        specs = function.structured_input_signature[1]
        outputs = function(**{name: tf.constant(value, specs[name].dtype)
                              for name, value in body["inputs"].items()})
        return 200, {"outputs": {name: decode_strings(value.numpy()).tolist()
                                 for name, value in outputs.items()}}

    with json_server(answer) as url:
        yield url, seen


@pytest.fixture(scope="module")
def remote(run_output, tf_serving, tmp_path_factory):
    data_dir, output = run_output
    config = tmp_path_factory.mktemp("tf_serving") / "models.config"
    names = tuple(sorted(p.name for p in (output / "models").iterdir()))
    config.write_text(deploy.models_config(names, "gs://b/serving", stable={"retrieval": 1}))
    app = build_app(str(output / "models"), str(data_dir), tf_serving=tf_serving[0],
                    start_polling=False, tf_serving_config=str(config))
    return TestClient(app)


def test_model_calls_go_to_tf_serving_and_answer_as_in_process(remote, client, tf_serving):
    _, seen = tf_serving
    for model in ("retrieval", "hybrid"):
        params = {"user_id": "3", "k": 15, "model": model, "exclude_seen": "true"}
        over_rest = remote.get("/recommend", params=params).json()
        in_process = client.get("/recommend", params=params).json()
        assert [i["movie_id"] for i in over_rest["items"]] == [
            i["movie_id"] for i in in_process["items"]]
        np.testing.assert_allclose([i["score"] for i in over_rest["items"]],
                                   [i["score"] for i in in_process["items"]], atol=1e-5)
    labels = {model: label for model, label, _, _ in seen}
    assert labels["retrieval"] == "stable" and labels["hybrid"] is None
    assert all(rows <= keys.MAX_REQUEST_ROWS for _, _, _, rows in seen)


def test_similar_and_explain_through_tf_serving(remote, client):
    similar = remote.get("/similar", params={"movie_id": "9", "model": "hybrid"}).json()
    assert similar["items"] == client.get(
        "/similar", params={"movie_id": "9", "model": "hybrid"}).json()["items"]
    over_rest = remote.get("/explain", params={"user_id": "4", "movie_id": "9",
                                               "model": "hybrid"}).json()
    in_process = client.get("/explain", params={"user_id": "4", "movie_id": "9",
                                                "model": "hybrid"}).json()
    assert over_rest["score"] == pytest.approx(in_process["score"], abs=1e-5)
    assert [c["feature"] for c in over_rest["contributions"]] == [
        c["feature"] for c in in_process["contributions"]]
