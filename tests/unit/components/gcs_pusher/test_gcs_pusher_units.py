"""The pure parts of the GcsPusher: versions, upload order, vocabulary, checksum, component."""

from __future__ import annotations

import base64

import google_crc32c
import pytest
from tfx import types
from tfx.orchestration import data_types
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs

from components.gcs_pusher import executor
from components.gcs_pusher.component import GcsPusher
from components.gcs_pusher.executor import (
    PushError,
    crc32c_b64,
    next_version,
    read_movie_vocab,
    upload_order,
)


def test_next_version_is_above_existing_and_at_least_now():
    assert next_version([], now=1_700_000_000.7) == "1700000000"
    assert next_version([5, 1_700_000_000], now=1_700_000_000) == "1700000001"
    assert next_version([1_800_000_000], now=1_700_000_000) == "1800000001"


def test_upload_order_puts_the_root_saved_model_pb_last():
    files = {"saved_model.pb": "a", "variables/variables.index": "b", "assets/x": "c",
             "assets.extra/saved_model.pb": "d", "fingerprint.pb": "e"}
    order = [name for name, _ in upload_order(files)]
    assert order[-1] == "saved_model.pb" and sorted(order) == sorted(files)


def test_movie_vocab_is_read_from_the_assets(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "movie_id_vocab").write_bytes(b"m 1\nm2\n")
    (tmp_path / "assets" / "user_id_vocab").write_bytes(b"u1\n")
    assert read_movie_vocab(str(tmp_path)) == ["m 1", "m2"]


def test_missing_movie_vocab_is_an_error(tmp_path):
    (tmp_path / "assets").mkdir()
    with pytest.raises(PushError, match="movie_id_vocab"):
        read_movie_vocab(str(tmp_path))


def test_crc32c_is_in_gcs_format(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    expected = base64.b64encode(google_crc32c.Checksum(b"hello").digest()).decode()
    assert crc32c_b64(str(path)) == expected


def test_component_uses_the_gcs_executor_and_pushes_under_the_serving_root():
    pusher = GcsPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        serving_root="gs://bucket/recsys/serving/", model_name="mf")
    assert pusher.executor_spec.executor_class is executor.Executor
    assert executor.base_directory(pusher.exec_properties) == "gs://bucket/recsys/serving/mf"
    assert set(pusher.outputs) == {standard_component_specs.PUSHED_MODEL_KEY}


def test_the_tfx_push_destination_still_works():
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory="/models/mf"))
    pusher = GcsPusher(model=types.Channel(type=standard_artifacts.Model),
                       push_destination=destination)
    assert executor.base_directory(pusher.exec_properties) == "/models/mf"


def test_a_runtime_parameter_root_is_checked_when_the_step_runs():
    root = data_types.RuntimeParameter(name="serving_root", ptype=str, default="gs://b/s")
    pusher = GcsPusher(model=types.Channel(type=standard_artifacts.Model),
                       serving_root=root, model_name="mf")
    assert pusher.exec_properties[executor.SERVING_ROOT_KEY] is root
    with pytest.raises(ValueError, match="s3://bucket"):  # the value Vertex AI passes in
        executor.base_directory({executor.SERVING_ROOT_KEY: "s3://bucket",
                                 executor.MODEL_NAME_KEY: "mf"})


def test_component_needs_a_gcs_or_local_destination():
    model = types.Channel(type=standard_artifacts.Model)
    with pytest.raises(ValueError, match="serving_root or push_destination"):
        GcsPusher(model=model)
    with pytest.raises(ValueError, match="s3://bucket"):
        GcsPusher(model=model, serving_root="s3://bucket", model_name="mf")
    with pytest.raises(ValueError, match="model_name"):
        GcsPusher(model=model, serving_root="gs://bucket/serving")
