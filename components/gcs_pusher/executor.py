"""GcsPusher executor: the TFX Pusher, publishing to `gs://BUCKET/PREFIX/<model>` or a local
directory in TF Serving's layout `<dest>/<version>/`, never exposing a partial version.

Differences from the TFX Pusher executor (everything else, the blessing check, the model path
and the PushedModel properties, is inherited):

* the version is `max(existing numeric version + 1, unix time)`, so versions strictly increase
  even with clock skew or two pushes in one second; an existing version is never written to;
* GCS uploads go through `google-cloud-storage` with retries, `if_generation_match=0` (create
  only) and a size + CRC32C check of every object; a failed push deletes what it uploaded;
* `<version>/assets.extra/item_embeddings.npz` (movie_ids [M] str, embeddings [M, D] float32)
  is added for similar-item lookups outside TF Serving, which ignores assets.extra;
* a model without TF Serving's warm-up requests (`assets.extra/tf_serving_warmup_requests`,
  written by the Trainer's export) is refused: its first requests would pay for its loading.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

import google_crc32c
import numpy as np
import tensorflow as tf
from absl import logging
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from contract.features import MOVIE_VOCAB
from contract.keys import ITEM_EMBEDDINGS, WARMUP_FILE

SAVED_MODEL_PB = "saved_model.pb"
EMBEDDINGS_FILE = "assets.extra/item_embeddings.npz"
# Which Model artifact (ML Metadata id) a version was pushed from: an identical re-run (cached
# Trainer, re-evaluated against itself as baseline) must not publish the same model again.
SOURCE_FILE = "assets.extra/source_model_id.txt"
# Marks every object of one push so that cleanup deletes exactly those, even the one whose
# upload reported an error after the server had stored it.
PUSH_ID_METADATA_KEY = "recsys-push-id"
_EMBEDDING_BATCH = 4096
# Execution properties of GcsPusher beside the TFX Pusher's: the destination is
# SERVING_ROOT/MODEL_NAME when they are set.
SERVING_ROOT_KEY = "serving_root"
MODEL_NAME_KEY = "model_name"

Files = dict[str, str]  # path relative to the version directory -> local file


class PushError(RuntimeError):
    """A push failed; what it had written of the new version was removed (best-effort)."""


class Executor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to GCS or a local directory; see the module docstring."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination_root = base_directory(exec_properties)
        target = GcsTarget(destination_root) if destination_root.startswith("gs://") else (
            LocalTarget(destination_root))
        model_id = input_dict[standard_component_specs.MODEL_KEY][0].id
        version = _version_from(target, model_id)
        if version is None:
            with tempfile.TemporaryDirectory(prefix="gcs_pusher_") as scratch:
                version = target.push(_version_files(model_path, scratch, model_id))
        else:
            logging.info("Model artifact %d is already version %s: not pushed again.",
                         model_id, version)
        # Archive the model in the PushedModel artifact, as the TFX Pusher does.
        io_utils.copy_dir(model_path, model_push.uri)
        destination = f"{destination_root.rstrip('/')}/{version}"
        self._MarkPushed(model_push, pushed_destination=destination, pushed_version=version)
        logging.info("Model pushed to %s.", destination)


def base_directory(exec_properties: dict[str, Any]) -> str:
    """Where the model's versions go: SERVING_ROOT/MODEL_NAME, or else the filesystem
    base_directory of push_destination (only timestamp versioning exists)."""
    serving_root = exec_properties.get(SERVING_ROOT_KEY)
    if serving_root is not None:
        check_destination(serving_root)
        return f"{serving_root.rstrip('/')}/{exec_properties[MODEL_NAME_KEY]}"
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
    if destination.WhichOneof("destination") != "filesystem":
        raise NotImplementedError("GcsPusher needs push_destination.filesystem")
    versioning = destination.filesystem.versioning
    if versioning not in (pusher_pb2.Versioning.AUTO, pusher_pb2.Versioning.UNIX_TIMESTAMP):
        raise NotImplementedError(f"Invalid Versioning {versioning}")
    return check_destination(destination.filesystem.base_directory)


def check_destination(base: str) -> str:
    """`gs://BUCKET[/PREFIX]` or a local path; other file systems are not supported."""
    if not base or ("://" in base and not base.startswith("gs://")) or base == "gs://":
        raise ValueError(f"GcsPusher pushes to gs://BUCKET/PREFIX or a local path, not {base!r}")
    return base


def next_version(existing: list[int], now: float | None = None) -> str:
    """Strictly above every existing version, the unix time when that is larger."""
    now_s = int(time.time() if now is None else now)
    return str(max(now_s, max(existing, default=-1) + 1))


def _version_from(target: LocalTarget | GcsTarget, model_id: int) -> str | None:
    """The latest version if it holds this Model artifact (ids are > 0 in ML Metadata)."""
    versions = target.existing_versions()
    if not model_id or not versions:
        return None
    latest = str(max(versions))
    return latest if target.read_text(f"{latest}/{SOURCE_FILE}") == str(model_id) else None


def _numeric(names: list[str]) -> list[int]:
    return [int(name) for name in names if name.isdigit()]


# -- what one version holds ------------------------------------------------------------------
def _version_files(model_path: str, scratch: str, model_id: int) -> Files:
    """The SavedModel's files plus assets.extra/ (item embeddings, source model id), all on
    local disk."""
    if not os.path.isdir(model_path):  # a remote pipeline root: read it once, locally
        local = os.path.join(scratch, "model")
        io_utils.copy_dir(model_path, local)
        model_path = local
    files = {
        os.path.relpath(os.path.join(root, name), model_path): os.path.join(root, name)
        for root, _, names in os.walk(model_path) for name in names}
    if WARMUP_FILE not in files:
        raise PushError(f"{model_path} has no {WARMUP_FILE}: TF Serving would load it without "
                        "warm-up requests (the Trainer's export writes them)")
    embeddings = os.path.join(scratch, "item_embeddings.npz")
    write_item_embeddings(model_path, embeddings)
    files[EMBEDDINGS_FILE] = embeddings
    source = os.path.join(scratch, "source_model_id.txt")
    with open(source, "w") as handle:
        handle.write(str(model_id))
    files[SOURCE_FILE] = source
    return files


def upload_order(files: Files) -> list[tuple[str, str]]:
    """saved_model.pb last: TF Serving (like TF's own saver) treats a version as complete once
    saved_model.pb exists, so every other file must be in place before it appears."""
    return sorted(files.items(), key=lambda item: (item[0] == SAVED_MODEL_PB, item[0]))


def read_movie_vocab(model_dir: str) -> list[str]:
    """The Transform's movie vocabulary as copied into the SavedModel's assets/."""
    assets = os.path.join(model_dir, "assets")
    names = sorted(n for n in os.listdir(assets) if n.startswith(MOVIE_VOCAB)) if (
        os.path.isdir(assets)) else []
    if MOVIE_VOCAB in names:
        names = [MOVIE_VOCAB]
    if len(names) != 1:
        raise PushError(f"expected one {MOVIE_VOCAB}* asset in {assets}, found {names}")
    with open(os.path.join(assets, names[0]), "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.decode("utf-8") for line in lines]


def write_item_embeddings(model_dir: str, out_path: str) -> None:
    """Calls the SavedModel's item_embeddings signature on its own movie vocabulary."""
    movie_ids = read_movie_vocab(model_dir)
    signature = tf.saved_model.load(model_dir).signatures[ITEM_EMBEDDINGS]
    embeddings, known = [], []
    for start in range(0, len(movie_ids), _EMBEDDING_BATCH):
        out = signature(movie_id=tf.constant(movie_ids[start:start + _EMBEDDING_BATCH]))
        embeddings.append(out["embedding"].numpy().astype(np.float32))
        known.append(out["known"].numpy())
    if not movie_ids or not np.concatenate(known).all():
        # The model does not know its own vocabulary: the asset is not the one it looks up.
        raise PushError(f"item_embeddings does not know the movies of {MOVIE_VOCAB}")
    np.savez(out_path, movie_ids=np.array(movie_ids, dtype=np.str_),
             embeddings=np.concatenate(embeddings))


# -- local destination -----------------------------------------------------------------------
class LocalTarget:
    """Copies into `<dest>/.staging-<version>` then renames it to `<dest>/<version>`: a rename
    within one directory is atomic, and TF Serving ignores the non-numeric staging name."""

    def __init__(self, base_directory: str):
        self.base = base_directory

    def existing_versions(self) -> list[int]:
        return _numeric(os.listdir(self.base)) if os.path.isdir(self.base) else []

    def read_text(self, relative: str) -> str | None:
        path = os.path.join(self.base, relative)
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return handle.read()

    def push(self, files: Files) -> str:
        os.makedirs(self.base, exist_ok=True)
        version = next_version(self.existing_versions())
        staging = os.path.join(self.base, f".staging-{version}")
        final = os.path.join(self.base, version)
        os.mkdir(staging)  # fails if another push is staging the same version
        try:
            for relative, local in upload_order(files):
                os.makedirs(os.path.dirname(os.path.join(staging, relative)), exist_ok=True)
                shutil.copyfile(local, os.path.join(staging, relative))
            if os.path.exists(final):  # os.rename would replace an empty directory
                raise PushError(f"{final} appeared during the push")
            os.rename(staging, final)
        except Exception as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise PushError(f"push of version {version} to {self.base} failed, "
                            f"removed {staging}: {e}") from e
        return version


# -- Google Cloud Storage --------------------------------------------------------------------
def storage_client() -> storage.Client:
    """Credentials and project from the environment, as every Google library finds them; the
    client itself switches to STORAGE_EMULATOR_HOST, and anonymous access is only allowed
    against an emulator."""
    try:
        return storage.Client()
    except DefaultCredentialsError:
        if not os.environ.get("STORAGE_EMULATOR_HOST"):
            raise
        return storage.Client.create_anonymous_client()


def crc32c_b64(path: str) -> str:
    """CRC32C of a file as GCS reports it: base64 of the big-endian 4 bytes."""
    checksum = google_crc32c.Checksum()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            checksum.update(chunk)
    return base64.b64encode(checksum.digest()).decode("ascii")


class GcsTarget:
    """Uploads every object of `<prefix>/<version>/`, saved_model.pb last.

    Not staged under another prefix and copied: GCS has no rename, a copy is one request per
    object too, so staging would double the traffic and still need saved_model.pb copied last
    to be safe. Uploading it last gives the same guarantee directly.
    """

    def __init__(self, base_directory: str, client: storage.Client | None = None):
        bucket, _, prefix = base_directory[len("gs://"):].partition("/")
        self.client = client or storage_client()
        self.bucket = self.client.bucket(bucket)
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.url = f"gs://{bucket}/{self.prefix}"

    def existing_versions(self) -> list[int]:
        blobs = self.client.list_blobs(
            self.bucket, prefix=self.prefix, delimiter="/", retry=DEFAULT_RETRY)
        for _ in blobs.pages:  # the "directories" are only known once every page is read
            pass
        return _numeric([p[len(self.prefix):].rstrip("/") for p in blobs.prefixes])

    def read_text(self, relative: str) -> str | None:
        blob = self.bucket.blob(f"{self.prefix}{relative}")
        if not blob.exists(retry=DEFAULT_RETRY):
            return None
        return blob.download_as_text(retry=DEFAULT_RETRY)

    def push(self, files: Files) -> str:
        version = next_version(self.existing_versions())
        push_id = uuid.uuid4().hex
        relative = ""
        try:
            for relative, local in upload_order(files):
                self._upload(f"{self.prefix}{version}/{relative}", local, push_id)
        except Exception as e:
            self._delete_version(version, push_id)
            raise PushError(f"push of version {version} to {self.url} failed at {relative}, "
                            f"removed what was uploaded: {e}") from e
        return version

    def _upload(self, name: str, local: str, push_id: str) -> None:
        blob = self.bucket.blob(name)
        blob.metadata = {PUSH_ID_METADATA_KEY: push_id}
        # if_generation_match=0: create only, never overwrite; it also makes the upload
        # idempotent, hence safe to retry on transient errors (DEFAULT_RETRY).
        blob.upload_from_filename(
            local, if_generation_match=0, retry=DEFAULT_RETRY, checksum="crc32c")
        expected_size, expected_crc = os.path.getsize(local), crc32c_b64(local)
        if blob.size != expected_size or blob.crc32c != expected_crc:
            raise PushError(
                f"gs://{self.bucket.name}/{name} was stored with size {blob.size} and crc32c "
                f"{blob.crc32c}, expected {expected_size} and {expected_crc}")

    def _delete_version(self, version: str, push_id: str) -> None:
        """Best-effort: deletes this push's objects, saved_model.pb first so that the version
        stops being loadable before anything else disappears."""
        prefix = f"{self.prefix}{version}/"
        try:
            blobs = [b for b in self.client.list_blobs(
                self.bucket, prefix=prefix, retry=DEFAULT_RETRY)
                if (b.metadata or {}).get(PUSH_ID_METADATA_KEY) == push_id]
        except Exception:  # the push error matters more than the leftovers
            logging.exception("could not list the partial version %s%s", self.url, version)
            return
        blobs.sort(key=lambda b: b.name != f"{prefix}{SAVED_MODEL_PB}")
        for blob in blobs:
            try:
                blob.delete(if_generation_match=blob.generation, retry=DEFAULT_RETRY)
            except Exception:
                logging.exception("could not delete gs://%s/%s", self.bucket.name, blob.name)
