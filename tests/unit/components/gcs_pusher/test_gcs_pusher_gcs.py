"""GcsPusher executor against a real GCS JSON API (gcp-storage-emulator on loopback)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from gcp_storage_emulator.server import RequestHandler
from google.api_core import exceptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from components.gcs_pusher.executor import (
    EMBEDDINGS_FILE,
    SOURCE_FILE,
    Executor,
    PushError,
)
from tests.unit.components.gcs_pusher.helpers import EMBEDDINGS, MOVIES, objects

PREFIX = "recsys/serving/mf"


def _push(make_run, bucket: storage.Bucket, blessed: bool = True):
    run = make_run(f"gs://{bucket.name}/{PREFIX}", blessed)
    Executor().Do(run.input_dict, run.output_dict, run.exec_properties)
    return run


def _spy_uploads(monkeypatch, on_upload=None) -> list[tuple[str, dict]]:
    """Records (object name, kwargs) of every upload; on_upload(blob, original, *a, **kw)
    replaces the real upload when given."""
    calls: list[tuple[str, dict]] = []
    original = storage.Blob.upload_from_filename

    def upload(blob, *args, **kwargs):
        calls.append((blob.name, kwargs))
        if on_upload is None:
            return original(blob, *args, **kwargs)
        return on_upload(blob, original, len(calls), *args, **kwargs)

    monkeypatch.setattr(storage.Blob, "upload_from_filename", upload)
    return calls


def test_blessed_model_lands_in_tf_serving_layout(bucket, make_run, model_files, monkeypatch):
    assert {"saved_model.pb", "variables/variables.index", "assets/movie_id_vocab"} <= (
        model_files)
    uploads = _spy_uploads(monkeypatch)
    before = int(time.time())
    run = _push(make_run, bucket)

    version = run.version
    assert int(version) >= before
    version_dir = f"{PREFIX}/{version}"
    expected = {f"{version_dir}/{name}" for name in model_files | {EMBEDDINGS_FILE, SOURCE_FILE}}
    assert set(objects(bucket)) == expected
    # saved_model.pb, the marker of a complete version, goes last; nothing is overwritten.
    assert uploads[-1][0] == f"{version_dir}/saved_model.pb"
    assert all(kw["if_generation_match"] == 0 and kw["retry"] is DEFAULT_RETRY
               for _, kw in uploads)
    local_pb = Path(run.model.uri, "Format-Serving", "saved_model.pb").read_bytes()
    assert bucket.blob(f"{version_dir}/saved_model.pb").download_as_bytes() == local_pb

    npz = np.load(io.BytesIO(bucket.blob(f"{version_dir}/{EMBEDDINGS_FILE}").download_as_bytes()))
    assert npz["movie_ids"].tolist() == MOVIES
    assert npz["embeddings"].dtype == np.float32
    np.testing.assert_array_equal(npz["embeddings"], EMBEDDINGS[:len(MOVIES)])

    assert run.pushed.get_int_custom_property("pushed") == 1
    assert run.pushed.get_string_custom_property("pushed_destination") == (
        f"gs://{bucket.name}/{version_dir}")


def test_large_files_go_through_resumable_uploads(bucket, make_run, model_files, monkeypatch):
    """Files over 8 MiB (real variables) use the resumable protocol: same checks apply."""
    monkeypatch.setattr(storage.blob, "_MAX_MULTIPART_SIZE", 1)
    resumable: list[str] = []
    original = storage.Blob._do_resumable_upload

    def spy(blob, *args, **kwargs):
        resumable.append(blob.name)
        return original(blob, *args, **kwargs)

    monkeypatch.setattr(storage.Blob, "_do_resumable_upload", spy)
    run = _push(make_run, bucket)

    assert set(resumable) >= {f"{PREFIX}/{run.version}/{name}" for name in model_files}
    assert len(objects(bucket, f"{PREFIX}/{run.version}/")) == len(model_files) + 2


def test_versions_strictly_increase_and_existing_ones_are_untouched(bucket, make_run):
    first = _push(make_run, bucket).version
    second = _push(make_run, bucket).version  # same second: still a new version
    assert int(second) > int(first)

    future = int(time.time()) + 1000  # e.g. pushed from a machine whose clock runs ahead
    bucket.blob(f"{PREFIX}/{future}/saved_model.pb").upload_from_string(b"pb")
    bucket.blob(f"{PREFIX}/latest/saved_model.pb").upload_from_string(b"not a version")
    existing = objects(bucket)
    third = _push(make_run, bucket).version

    assert int(third) == future + 1
    after = objects(bucket)
    assert {name: after[name] for name in existing} == existing


def test_unblessed_model_is_not_pushed(bucket, make_run):
    _push(make_run, bucket)
    existing = objects(bucket)

    run = _push(make_run, bucket, blessed=False)

    assert run.pushed.get_int_custom_property("pushed") == 0
    assert objects(bucket) == existing


def test_interrupted_upload_leaves_no_partial_version(bucket, make_run, monkeypatch):
    previous = _push(make_run, bucket).version
    existing = objects(bucket)

    def fail_third(blob, original, n, *args, **kwargs):
        if n == 3:
            raise exceptions.Forbidden("permission revoked mid-push")
        return original(blob, *args, **kwargs)

    uploads = _spy_uploads(monkeypatch, fail_third)
    with pytest.raises(PushError, match="permission revoked mid-push"):
        _push(make_run, bucket)

    assert len(uploads) == 3  # two objects were stored before the failure...
    assert objects(bucket) == existing  # ...and removed; the previous version is intact
    assert f"{PREFIX}/{previous}/saved_model.pb" in existing


def test_failure_reported_after_saved_model_pb_was_stored_removes_it(
        bucket, make_run, monkeypatch):
    """The response to the last upload is lost: the server has saved_model.pb (the version is
    loadable) but the push failed, so cleanup must delete it too, and first."""
    deleted: list[str] = []
    original_delete = storage.Blob.delete

    def delete(blob, *args, **kwargs):
        deleted.append(blob.name.rsplit("/", 1)[-1])
        return original_delete(blob, *args, **kwargs)

    def lose_pb_response(blob, original, n, *args, **kwargs):
        original(blob, *args, **kwargs)
        if blob.name.endswith("/saved_model.pb"):
            raise exceptions.ServiceUnavailable("connection reset")

    monkeypatch.setattr(storage.Blob, "delete", delete)
    _spy_uploads(monkeypatch, lose_pb_response)
    with pytest.raises(PushError, match="saved_model.pb"):
        _push(make_run, bucket)

    assert objects(bucket) == {}
    assert deleted[0] == "saved_model.pb"


def test_crc32c_mismatch_is_detected(bucket, make_run, monkeypatch):
    def corrupt_index(blob, original, n, filename, **kwargs):
        if not blob.name.endswith("variables/variables.index"):
            return original(blob, filename, **kwargs)
        data = bytearray(Path(filename).read_bytes())
        data[0] ^= 0xFF  # same size: only the checksum can tell
        blob.upload_from_string(bytes(data), if_generation_match=0)

    _spy_uploads(monkeypatch, corrupt_index)
    with pytest.raises(PushError, match=r"variables\.index was stored with .*crc32c"):
        _push(make_run, bucket)
    assert objects(bucket) == {}


def test_transient_server_error_is_retried(bucket, make_run, monkeypatch):
    failed: list[str] = []
    original = RequestHandler.do_POST

    def unavailable_once(handler):
        if "/upload/" not in handler.path or failed:
            return original(handler)
        failed.append(handler.path)
        handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    monkeypatch.setattr(RequestHandler, "do_POST", unavailable_once)
    run = _push(make_run, bucket)

    assert len(failed) == 1
    assert f"{PREFIX}/{run.version}/saved_model.pb" in objects(bucket)


def test_the_same_model_artifact_is_pushed_once(bucket, make_run):
    """An identical pipeline re-run re-evaluates the cached model and blesses it again: the
    push must point at the version already there, not publish a copy."""
    first = make_run(f"gs://{bucket.name}/{PREFIX}")
    first.model.id = 7
    Executor().Do(first.input_dict, first.output_dict, first.exec_properties)
    before = objects(bucket)
    again = make_run(f"gs://{bucket.name}/{PREFIX}")
    again.model.id = 7
    Executor().Do(again.input_dict, again.output_dict, again.exec_properties)
    assert again.version == first.version and objects(bucket) == before
    assert again.pushed.get_int_custom_property("pushed") == 1
    other = make_run(f"gs://{bucket.name}/{PREFIX}")
    other.model.id = 8
    Executor().Do(other.input_dict, other.output_dict, other.exec_properties)
    assert int(other.version) > int(first.version)
