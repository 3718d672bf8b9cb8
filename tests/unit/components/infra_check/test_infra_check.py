"""The infra check refuses what TF Serving would fail to serve (and nothing is pushed), blesses
what it serves, and does no work for a model the Evaluator did not bless.

Each model here is a small SavedModel with warm-up requests; `probe.py` serves it in a fresh
interpreter, as the pipeline step does (the real exports are served in
tests/unit/trainer/test_export.py and, through the pipeline, in tests/e2e/test_pipeline.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import channel, standard_artifacts, standard_component_specs

from components.gcs_pusher import executor as pusher
from components.infra_check import executor
from components.infra_check.component import InfraCheck
from contract.keys import INFRA_CHECKED, INFRA_REASON
from trainer.serving_requests import predict_request, write_warmup

BUDGET_MS = 1000.0
STRING_BATCH = tf.TensorSpec([None], tf.string)


class Healthy(tf.Module):
    @tf.function(input_signature=[STRING_BATCH])
    def score(self, movie_id):
        return {"score": tf.cast(tf.strings.length(movie_id), tf.float32)}


class WrongBatch(tf.Module):
    """Answers one row whatever the batch: TF Serving's batching could not split it."""

    @tf.function(input_signature=[STRING_BATCH])
    def score(self, movie_id):
        return {"score": tf.reduce_sum(tf.cast(tf.strings.length(movie_id), tf.float32))[None]}


class NeedsPython(tf.Module):
    """Calls back into Python, which a model server (or a fresh process) does not have."""

    @tf.function(input_signature=[STRING_BATCH])
    def score(self, movie_id):
        lengths = tf.py_function(lambda ids: tf.strings.length(ids), [movie_id], tf.int32)
        return {"score": tf.cast(lengths, tf.float32)}


class TwoBatchAxes(tf.Module):
    """Users x movies, as score_features was: inputs of different lengths cannot be batched."""

    @tf.function(input_signature=[STRING_BATCH, STRING_BATCH])
    def score(self, user_id, movie_id):
        grid = tf.strings.length(user_id)[:, None] + tf.strings.length(movie_id)[None, :]
        return {"score": tf.cast(grid, tf.float32)}


class CrossRow(tf.Module):
    """Each answer depends on the other rows of the batch: batching would change it."""

    @tf.function(input_signature=[STRING_BATCH])
    def score(self, movie_id):
        lengths = tf.cast(tf.strings.length(movie_id), tf.float32)
        return {"score": lengths - tf.reduce_mean(lengths)}


def _save(module: tf.Module, path: Path, requests: list[dict] | None = None) -> str:
    """The SavedModel with signature `score` and one warm-up request per input dict."""
    tf.saved_model.save(module, str(path), signatures={"score": module.score})
    if requests is not None:
        write_warmup(str(path), [predict_request("m", "score", inputs) for inputs in requests])
    return str(path)


ONE_INPUT = [{"movie_id": ["a"]}, {"movie_id": ["bb", "ccc", "d"]}]


def _probe(path: str, budget_ms: float = BUDGET_MS) -> dict:
    return executor.run_probe(path, budget_ms, timeout_seconds=300)


def test_a_model_it_can_serve_is_blessed_by_a_process_without_project_code(tmp_path):
    report = _probe(_save(Healthy(), tmp_path / "m", ONE_INPUT))
    assert report["blessed"], report["reason"]
    assert report["records"] == 2 and report["signatures"]["score"]["requests"] == 2
    assert report["tensorflow"] == tf.__version__
    assert "tensorflow" in report["modules"]
    assert not {"contract", "components", "trainer", "recsys", "pipeline"} & set(
        report["modules"])


@pytest.mark.parametrize(("module", "requests", "reason"), [
    (Healthy(), None, "no warm-up requests"),
    (Healthy(), [{"movie_id": [["a", "b"]]}], "input movie_id has shape [1, 2]"),
    (Healthy(), [{"user_id": ["1"]}], "the signature takes ['movie_id']"),
    (WrongBatch(), ONE_INPUT, "not the request's batch of 3 first"),
    (NeedsPython(), ONE_INPUT, "fails"),
    (TwoBatchAxes(), [{"user_id": ["1"], "movie_id": ["a", "b"]}], "do not share a batch"),
    (CrossRow(), ONE_INPUT, "batching would return wrong answers"),
], ids=["no-warmup", "wrong-rank", "wrong-input", "wrong-batch", "needs-python",
        "two-batch-axes", "cross-row"])
def test_what_tf_serving_would_fail_is_refused(tmp_path, module, requests, reason):
    report = _probe(_save(module, tmp_path / "m", requests))
    assert not report["blessed"] and reason in report["reason"], report["reason"]


def test_a_model_over_the_latency_budget_is_refused(tmp_path):
    report = _probe(_save(Healthy(), tmp_path / "m", ONE_INPUT), budget_ms=1e-6)
    assert not report["blessed"]
    assert "signature score: median latency" in report["reason"]
    assert "over the budget of 1e-06 ms" in report["reason"]


def test_a_model_that_does_not_load_is_refused(tmp_path):
    path = Path(_save(Healthy(), tmp_path / "m", ONE_INPUT))
    (path / "saved_model.pb").write_bytes(b"not a SavedModel")
    report = _probe(str(path))
    assert not report["blessed"] and "does not load" in report["reason"]


# -- the pipeline step: InfraBlessing in, Pusher out ------------------------------------------
def _step(tmp_path: Path, model_dir: str, evaluator_blessed: bool):
    """Runs the InfraCheck executor on a Model artifact holding `model_dir`; returns the
    InfraBlessing and the inputs a Pusher gets."""
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    os.makedirs(model.uri)
    os.rename(model_dir, os.path.join(model.uri, "Format-Serving"))  # the Trainer's layout
    model_blessing = standard_artifacts.ModelBlessing()
    model_blessing.set_int_custom_property("blessed", int(evaluator_blessed))
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "infra_blessing")
    os.makedirs(blessing.uri)
    executor.Executor().Do(
        {executor.MODEL_KEY: [model], executor.MODEL_BLESSING_KEY: [model_blessing]},
        {executor.BLESSING_KEY: [blessing]}, {executor.LATENCY_BUDGET_KEY: BUDGET_MS})
    inputs = {standard_component_specs.MODEL_KEY: [model],
              standard_component_specs.MODEL_BLESSING_KEY: [model_blessing],
              standard_component_specs.INFRA_BLESSING_KEY: [blessing]}
    return blessing, inputs


def _push(tmp_path: Path, inputs: dict) -> standard_artifacts.PushedModel:
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    os.makedirs(pushed.uri)
    destination = json.dumps({"filesystem": {"base_directory": str(tmp_path / "serving")}})
    pusher.Executor().Do(inputs, {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
                         {standard_component_specs.PUSH_DESTINATION_KEY: destination})
    return pushed


def test_a_refused_model_is_recorded_with_its_reason_and_never_pushed(tmp_path):
    broken = _save(WrongBatch(), tmp_path / "candidate", ONE_INPUT)
    blessing, inputs = _step(tmp_path, broken, evaluator_blessed=True)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property(INFRA_CHECKED) == 1
    assert "not the request's batch" in blessing.get_string_custom_property(INFRA_REASON)
    assert os.path.exists(os.path.join(blessing.uri, executor.NOT_BLESSED_FILE))
    report = json.loads(Path(blessing.uri, executor.REPORT_FILE).read_text())
    assert report["reason"] == blessing.get_string_custom_property(INFRA_REASON)
    assert _push(tmp_path, inputs).get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists()


def test_a_model_the_evaluator_refused_is_not_served_at_all(tmp_path, monkeypatch):
    def no_server(*args, **kwargs):
        raise AssertionError("the model server was started for an unblessed model")

    monkeypatch.setattr(executor.subprocess, "run", no_server)
    healthy = _save(Healthy(), tmp_path / "candidate", ONE_INPUT)
    blessing, _ = _step(tmp_path, healthy, evaluator_blessed=False)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property(INFRA_CHECKED) == 0
    assert os.path.exists(os.path.join(blessing.uri, executor.NOT_BLESSED_FILE))


def test_the_component_takes_a_positive_budget():
    model = channel.Channel(type=standard_artifacts.Model)
    with pytest.raises(ValueError, match="latency_budget_ms must be positive"):
        InfraCheck(model=model, latency_budget_ms=0)
    check = InfraCheck(model=model, latency_budget_ms=20)
    assert check.exec_properties[executor.LATENCY_BUDGET_KEY] == 20
    assert check.outputs[executor.BLESSING_KEY].type == standard_artifacts.InfraBlessing
