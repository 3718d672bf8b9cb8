"""What the Trainer leaves for TensorBoard (trainer/tensorboard.py): per-epoch training and
validation curves from `task.fit`, early stopping on the validation loss, the Embedding
Projector's files, and the upload to a Vertex AI TensorBoard (the real aiplatform uploader,
up to its HTTP requests)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins import projector

from contract import features as F
from tests.fixtures.model_inputs import VOCAB
from tests.fixtures.model_inputs import make_features as _make_features
from trainer import data, task, tensorboard
from trainer.config import config_with_overrides

EPOCHS = 3
TENSORBOARD = "projects/my-project/locations/us-central1/tensorboards/42"
API = f"/{TENSORBOARD}"


def _batches(seed: int, n: int = 192) -> tf.data.Dataset:
    features = dict(_make_features(n, seed=seed, pattern="user"))
    features[F.TITLE] = tf.constant([f"movie {i}" for i in features[F.MOVIE_INDEX].numpy()])
    return tf.data.Dataset.from_tensor_slices(features).batch(64)


@pytest.fixture(scope="module", params=["gibbs", "adam"])
def trained(tmp_path_factory, request):
    """`mf` fitted by the Trainer's `fit` with the TensorBoard callbacks, on batches that carry
    the passed-through title like the transformed examples do: by Keras' fit (adam, EPOCHS
    epochs) and by the Gibbs sampler, whose sweeps are the epochs."""
    log_dir = str(tmp_path_factory.mktemp("model_run"))
    length = {"adam": {"epochs": str(EPOCHS), "lr_schedule": "constant"},
              "gibbs": {"sweeps": str(EPOCHS)}}[request.param]
    config = config_with_overrides("mf", {"solver": request.param, **length})
    train, validation = _batches(1), _batches(2, 64)
    tables = data.training_tables(train, VOCAB, validation)
    model, curves = task.fit("mf", VOCAB, config, tables, train, None, validation,
                             tensorboard.callbacks(log_dir))
    return log_dir, model, curves, tables


def _scalars(run_dir: str, tag: str) -> list[float]:
    accumulator = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return [float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]


def test_training_and_validation_curves_per_epoch(trained):
    log_dir, _, curves, _ = trained
    for run, prefix in (("train", ""), ("validation", "val_")):
        for metric in ("loss", "rmse"):
            logged = _scalars(f"{log_dir}/{run}", f"epoch_{metric}")
            np.testing.assert_allclose(logged, curves[prefix + metric], rtol=1e-5)
            assert len(logged) == EPOCHS


def test_titles_ride_along_for_the_projector(trained):
    *_, tables = trained
    assert len(tables.titles) == VOCAB.movies
    assert all(title == f"movie {i}" for i, title in enumerate(tables.titles) if title)


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    """A fit whose validation loss only grows after the first epoch stops after `patience`
    more and ends with the first epoch's weights."""
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, kernel_initializer="zeros",
                                                       use_bias=False)])
    model.compile(tf.keras.optimizers.SGD(0.5), "mse")
    weights = []
    remember = tf.keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()[0].copy()))
    history = model.fit(x, x, validation_data=(x, -x), epochs=10, verbose=0, callbacks=[
        remember, *tensorboard.callbacks(str(tmp_path), 2)])
    assert len(history.history["val_loss"]) == 3  # the best (1st) epoch + 2 worse ones
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])


def test_early_stopping_needs_a_validation_split(tmp_path):
    with pytest.raises(ValueError, match="validation split"):
        tensorboard.callbacks(str(tmp_path), 2, has_validation=False)
    assert len(tensorboard.callbacks(str(tmp_path), 0, has_validation=False)) == 1


def test_projector_files(trained, tmp_path):
    _, model, _, tables = trained
    vectors = model.item_embeddings(tables.catalogue).numpy()
    genres = [["Drama", "War"]] + [[] for _ in range(VOCAB.movies - 1)]
    run_dir = tensorboard.write_projector(str(tmp_path), vectors, [f"m{i}" for i in range(
        VOCAB.movies)], ["Tab\there"] + tables.titles[1:], genres)
    config = text_format.Parse((tmp_path / "embeddings" / "projector_config.pbtxt").read_text(),
                               projector.ProjectorConfig())
    [embedding] = config.embeddings
    reader = tf.train.load_checkpoint(run_dir)
    np.testing.assert_array_equal(reader.get_tensor(embedding.tensor_name), vectors)
    rows = (tmp_path / "embeddings" / embedding.metadata_path).read_text().splitlines()
    assert rows[0] == "movie_id\ttitle\tgenres" and len(rows) == VOCAB.movies + 1
    assert rows[1] == "m0\tTab here\tDrama|War"
    assert all(row.count("\t") == 2 for row in rows)
    # An event file makes the directory a run, where TensorBoard looks for projector configs.
    events = [p for p in (tmp_path / "embeddings").iterdir() if p.name.startswith("events.out")]
    assert events


# One upload per process: the aiplatform SDK remembers the experiment it created.
@pytest.mark.parametrize("trained", ["gibbs"], indirect=True)
def test_curves_are_uploaded_to_the_vertex_tensorboard(trained, vertex_api):
    log_dir, _, curves, _ = trained
    vertex_api.add(TENSORBOARD, blobStoragePathPrefix="tensorboard-bucket/42")
    vertex_api.add("projects/my-project/locations/us-central1/metadataStores/default")
    tensorboard.upload({"resource": TENSORBOARD, "experiment": "movielens-recsys-mf"},
                       log_dir, "run-7")
    experiment = f"{API}/experiments/movielens-recsys-mf"
    [created] = vertex_api.calls("POST", f"{API}/experiments")
    assert created.query["tensorboardExperimentId"] == ["movielens-recsys-mf"]
    runs = {r.query["tensorboardRunId"][0] for r in vertex_api.calls("POST", f"{experiment}/runs")}
    assert runs == {"run-7-train", "run-7-validation"}
    written = {}
    for request in vertex_api.calls("POST", f"{experiment}:write"):
        for run in request.body["writeRunDataRequests"]:
            for series in run["timeSeriesData"]:
                [resource] = [r for name, r in vertex_api.resources.items()
                              if name.endswith(f"/timeSeries/{series['tensorboardTimeSeriesId']}")]
                written[(run["tensorboardRun"].rsplit("/", 1)[1], resource["displayName"])] = [
                    point["scalar"]["value"] for point in series["values"]]
    for run, curve in (("run-7-train", "loss"), ("run-7-validation", "val_loss")):
        np.testing.assert_allclose(written[(run, "epoch_loss")], curves[curve], rtol=1e-5)


def test_a_failed_upload_is_logged_not_raised(trained, vertex_api, caplog):
    vertex_api.add("projects/my-project/locations/us-central1/metadataStores/default")
    vertex_api.route("GET", API, lambda r: (403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED", "message": "no access"}}))
    tensorboard.upload({"resource": TENSORBOARD, "experiment": "e"}, trained[0], "run-1")
    assert "Uploading" in caplog.text and "no access" in caplog.text


def test_no_tensorboard_no_upload(trained, vertex_api):
    tensorboard.upload(None, trained[0], "run-1")
    assert vertex_api.requests == []


def test_tensorboard_names_are_checked():
    with pytest.raises(ValueError, match="not a Vertex AI TensorBoard"):
        tensorboard.parse_tensorboard("tensorboards/42")
