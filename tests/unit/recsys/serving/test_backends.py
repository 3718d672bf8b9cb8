"""RestBackend speaks TF Serving's columnar REST format, to a model's default version or to
the one a version label names; a stand-in on loopback answers as TF Serving does."""

import numpy as np
import pytest

from recsys.serving.backends import BackendError, RestBackend
from tests.fixtures.json_server import json_server


@pytest.fixture
def tf_serving():
    """(base URL, requests seen); answers with the canned `outputs` put in `answers`."""
    seen, answers = [], []

    def answer(path: str, body: dict) -> tuple[int, dict]:
        seen.append((path, body))
        return 200, answers.pop(0)

    with json_server(answer) as url:
        yield url, seen, answers


def test_columnar_request_and_named_outputs(tf_serving):
    url, seen, answers = tf_serving
    answers.append({"outputs": {"scores": [[1.0] * 8, [2.0] * 8], "user_known": [True, False],
                                "movie_known": [True, False]}})
    backend = RestBackend(url, "hybrid", frozenset({"score_features"}))
    inputs = {"user_id": ["4", "x"], "user_reset": [[False] * 4] * 2, "movie_id": ["1", "x"],
              "history_keep": [[True] * 20] * 2}
    outputs = backend.call("score_features", inputs)
    assert seen == [("/v1/models/hybrid:predict",
                     {"signature_name": "score_features", "inputs": inputs})]
    assert outputs["scores"].shape == (2, 8)
    np.testing.assert_array_equal(outputs["movie_known"], [True, False])


def test_a_label_asks_for_the_version_that_carries_it(tf_serving):
    url, seen, answers = tf_serving
    answers.append({"outputs": {"movie_ids": [["1"]], "scores": [[0.5]]}})
    backend = RestBackend(url, "retrieval", frozenset({"recommend"}), label="stable")
    backend.call("recommend", {"user_id": ["4"], "history": [""], "exclude_movie_ids": [""]})
    assert seen[0][0] == "/v1/models/retrieval/labels/stable:predict"


def test_a_lone_output_gets_its_name_back(tf_serving):
    url, _, answers = tf_serving
    answers.append({"outputs": [3.5, 4.0]})
    backend = RestBackend(url, "mf", frozenset({"predict_rating"}))
    outputs = backend.call("predict_rating", {"user_id": ["1", "2"], "movie_id": ["5", "6"]})
    np.testing.assert_allclose(outputs["predicted_rating"], [3.5, 4.0])


def test_errors_are_backend_errors(tf_serving):
    url, _, answers = tf_serving
    answers.append({"error": "Servable not found"})
    backend = RestBackend(url, "mf", frozenset({"predict_rating"}))
    with pytest.raises(BackendError, match="Servable not found"):
        backend.call("predict_rating", {"user_id": ["1"], "movie_id": ["5"]})
    with pytest.raises(BackendError, match="cannot reach"):
        RestBackend("http://127.0.0.1:9", "mf", frozenset()).call("predict_rating", {})
