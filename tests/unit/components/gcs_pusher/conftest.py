"""A tiny SavedModel with the `item_embeddings` signature and `movie_id_vocab` asset of
trainer/export.py (the GCS emulator fixtures are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from tests.unit.components.gcs_pusher.helpers import MOVIES, PushRun, TinyRecommender
from trainer import serving_requests


@pytest.fixture(scope="session")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Model artifact directory: the SavedModel lives in <uri>/Format-Serving."""
    root = tmp_path_factory.mktemp("trainer_model")
    vocab = root / "movie_id_vocab"  # the Transform asset's name
    vocab.write_text("".join(f"{m}\n" for m in MOVIES))
    module = TinyRecommender(str(vocab))
    tf.saved_model.save(module, str(root / "Format-Serving"),
                        signatures={"item_embeddings": module.item_embeddings})
    serving_requests.write_warmup(str(root / "Format-Serving"), [
        serving_requests.predict_request("tiny", "item_embeddings", {"movie_id": MOVIES})])
    vocab.unlink()  # the SavedModel must carry its own copy in assets/
    return str(root)


@pytest.fixture(scope="session")
def model_files(model_uri: str) -> set[str]:
    """The SavedModel's files, relative to its directory."""
    saved_model = Path(model_uri, "Format-Serving")
    return {str(p.relative_to(saved_model)) for p in saved_model.rglob("*") if p.is_file()}


@pytest.fixture
def make_run(model_uri: str, tmp_path: Path):
    """make_run(destination, blessed=True) -> a PushRun of the tiny model."""
    def make(destination: str, blessed: bool = True) -> PushRun:
        return PushRun(model_uri, blessed, destination, tmp_path)
    return make
