"""A real GCS JSON API on loopback (gcp-storage-emulator, in memory) and a tiny SavedModel
with the `item_embeddings` signature and `movie_id_vocab` asset of trainer/export.py."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tensorflow as tf
from gcp_storage_emulator.server import create_server
from google.cloud import storage

from tests.pusher.helpers import MOVIES, PushRun, TinyRecommender


@pytest.fixture(scope="session")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Model artifact directory: the SavedModel lives in <uri>/Format-Serving."""
    root = tmp_path_factory.mktemp("trainer_model")
    vocab = root / "movie_id_vocab"  # the Transform asset's name
    vocab.write_text("".join(f"{m}\n" for m in MOVIES))
    module = TinyRecommender(str(vocab))
    tf.saved_model.save(module, str(root / "Format-Serving"),
                        signatures={"item_embeddings": module.item_embeddings})
    vocab.unlink()  # the SavedModel must carry its own copy in assets/
    return str(root)


@pytest.fixture(scope="session")
def model_files(model_uri: str) -> set[str]:
    """The SavedModel's files, relative to its directory."""
    saved_model = Path(model_uri, "Format-Serving")
    return {str(p.relative_to(saved_model)) for p in saved_model.rglob("*") if p.is_file()}


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """STORAGE_EMULATOR_HOST of an in-memory emulator on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
def bucket(gcs_emulator: str) -> storage.Bucket:
    client = storage.Client(project="test-project")
    return client.create_bucket(f"models-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def make_run(model_uri: str, tmp_path: Path):
    """make_run(destination, blessed=True) -> a PushRun of the tiny model."""
    def make(destination: str, blessed: bool = True) -> PushRun:
        return PushRun(model_uri, blessed, destination, tmp_path)
    return make
