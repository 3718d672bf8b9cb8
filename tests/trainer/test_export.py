"""Every serving signature of all five models, on a tiny real Transform output; and the
sequential model's TFLite top-K against its SavedModel."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from recsys import features as F
from tests.raw_features import RAW_SPEC
from trainer import data, tflite
from trainer.config import config_with_overrides
from trainer.export import ServingModule, export
from trainer.models.base import RATING
from trainer.models.registry import MODEL_NAMES, build_model

TOP_K = 10
NUM_MOVIES = 14
GENRES = ("Drama", "Comedy", "Action")


def _raw_rows() -> list[dict]:
    """6 users x 10 events over NUM_MOVIES movies; each event carries the user's history."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(6):
        movies = rng.choice(NUM_MOVIES, 10, replace=False)
        for step, movie in enumerate(movies):
            rows.append({
                F.USER_ID: [f"u{user}"], F.MOVIE_ID: [f"m{movie}"],
                F.RATING: [float(1 + (user + movie) % 5)], F.TIMESTAMP: [1000 * user + step],
                F.TITLE: [f"title {movie}"], F.YEAR: [1980 + movie], F.GENRES: [
                    GENRES[movie % 3]], F.GENDER: ["MF"[user % 2]], F.AGE: [20 + 5 * user],
                F.OCCUPATION: ["writer"], F.HISTORY: [f"m{m}" for m in movies[:step]],
            })
    return rows


def _batch(rows: list[dict]) -> dict[str, tf.Tensor]:
    """Transformed instance dicts -> {name: [N, ...]}, floats as float32 as in the pipeline."""
    columns = {name: np.stack([np.asarray(r[name]) for r in rows]) for name in rows[0]}
    return {name: tf.constant(v.astype(np.float32) if v.dtype == np.float64 else v)
            for name, v in columns.items()}


@pytest.fixture(scope="module")
def transformed() -> tuple[tf.data.Dataset, tft.TFTransformOutput]:
    """(batches of transformed training features, the TFTransformOutput)."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    out = tempfile.mkdtemp()
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        from transform.preprocessing import preprocessing_fn

        (rows, _), transform_fn = (_raw_rows(), metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The Transform component also writes the raw schema: serving parses raw features with it.
    metadata_io.write_metadata(metadata, os.path.join(out, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tf.data.Dataset.from_tensor_slices(_batch(rows)).batch(16), tft.TFTransformOutput(out)


def _export(name: str, transformed, export_dir: str):
    """Trains a tiny `name` for one epoch, exports it; (model, catalogue, loaded SavedModel)."""
    batches, tft_output = transformed
    vocab = data.vocab_sizes(tft_output)
    catalogue = data.catalogue(batches, vocab.movies)
    config = config_with_overrides(name, {"embedding_dim": "8", "epochs": "1"})
    model = build_model(name, vocab, config, catalogue)
    model.fit(batches, epochs=1, verbose=0)
    users = data.user_table(batches, vocab.users)
    seen = data.seen_movies(batches, vocab.users)
    export(ServingModule(model, tft_output, catalogue, users, TOP_K, seen), export_dir)
    return model, catalogue, tf.saved_model.load(export_dir)


def _strings(rows: list[list[str]]) -> tf.Tensor:
    return tf.constant(rows, tf.string)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_signature(name, transformed, tmp_path) -> None:
    model, _, loaded = _export(name, transformed, str(tmp_path))
    signatures = loaded.signatures
    expected = {"serving_default", "recommend", "serving_tf_example", "item_embeddings",
                "similar_items"} | ({"predict_rating"} if model.kind == RATING else set())
    assert set(signatures) == expected

    # recommend: a known user with exclusions, an unknown one with a given history.
    excluded = ["m0", "m1", "nonexistent"]
    out = signatures["recommend"](
        user_id=tf.constant(["u1", "nobody"]),
        history=_strings([["", ""], ["m2", "m3"]]),
        exclude_movie_ids=_strings([excluded, ["", "", ""]]))
    assert out["movie_ids"].shape == (2, TOP_K) and out["movie_ids"].dtype == tf.string
    assert out["scores"].shape == (2, TOP_K) and out["scores"].dtype == tf.float32
    assert not set(excluded) & {m.decode() for m in out["movie_ids"][0].numpy()}
    assert len(set(out["movie_ids"][1].numpy())) == TOP_K  # unknown user: still 10 movies

    raw = tf.train.Example()
    for feature, value in ((F.USER_ID, b"u2"), (F.MOVIE_ID, b"m4"), (F.GENDER, b"F"),
                           (F.OCCUPATION, b"writer"), (F.TITLE, b"t")):
        raw.features.feature[feature].bytes_list.value.append(value)
    for feature, value in ((F.TIMESTAMP, 5), (F.YEAR, 1990), (F.AGE, 30)):
        raw.features.feature[feature].int64_list.value.append(value)
    by_example = signatures["serving_tf_example"](examples=tf.constant([raw.SerializeToString()]))
    assert by_example["movie_ids"].shape == (1, TOP_K)

    if model.kind == RATING:
        ratings = signatures["predict_rating"](
            user_id=tf.constant(["u1", "nobody", "u2"]),
            movie_id=tf.constant(["m4", "m5", "unknown movie"]))["predicted_rating"]
        assert ratings.shape == (3,) and ratings.dtype == tf.float32
        assert np.all((ratings.numpy() > 0) & (ratings.numpy() < 6))
        assert by_example["predicted_rating"].shape == (1,)
        default = signatures["serving_default"](
            user_id=tf.constant(["u1"]), movie_id=tf.constant(["m4"]))
        np.testing.assert_allclose(default["predicted_rating"], ratings[:1], rtol=1e-5)
    else:
        default = signatures["serving_default"](
            user_id=tf.constant(["u1"]), history=_strings([[""]]),
            exclude_movie_ids=_strings([excluded]))
        np.testing.assert_array_equal(default["movie_ids"], out["movie_ids"][:1])

    vectors = signatures["item_embeddings"](movie_id=tf.constant(["m4", "unknown movie"]))
    assert vectors["known"].numpy().tolist() == [True, False]
    norms = np.linalg.norm(vectors["embedding"].numpy(), axis=1)
    np.testing.assert_allclose(norms, [1.0, 0.0], atol=1e-5)

    similar = signatures["similar_items"](movie_id=tf.constant(["m4", "unknown movie"]))
    assert similar["movie_ids"].shape == (2, TOP_K)
    assert b"m4" not in similar["movie_ids"][0].numpy()
    assert similar["known"].numpy().tolist() == [True, False]
    _, tft_output = transformed
    popular = tft_output.vocabulary_by_name(F.MOVIE_VOCAB)[:TOP_K]
    assert similar["movie_ids"][1].numpy().tolist() == list(popular)  # popularity fallback
    np.testing.assert_array_equal(similar["scores"][1], np.zeros(TOP_K))


def test_tflite_top_k_matches_the_saved_model(transformed, tmp_path) -> None:
    model, catalogue, loaded = _export("sequential", transformed, str(tmp_path))
    _, tft_output = transformed
    with open(tflite.write(model, catalogue, tft_output, str(tmp_path), TOP_K), "rb") as handle:
        tflite_model = handle.read()
    movie_ids = (tmp_path / tflite.EXTRA_DIR / tflite.MOVIE_IDS_FILE).read_text().split()

    histories = [["m1", "m2", "m3"], ["m7"], ["m5", "m0", "m9", "m12", "m4"]]
    width = max(len(h) for h in histories)
    padded = _strings([[""] * (width - len(h)) + h for h in histories])
    saved = loaded.signatures["recommend"](
        user_id=tf.constant([""] * len(histories)), history=padded,
        exclude_movie_ids=_strings([[""]] * len(histories)))
    index_of = {movie: i + 1 for i, movie in enumerate(movie_ids)}  # history_index = index + 1
    history_index = np.zeros((len(histories), F.HISTORY_LENGTH), np.int64)
    for row, history in enumerate(histories):
        history_index[row, F.HISTORY_LENGTH - len(history):] = [index_of[m] for m in history]
    lite = tflite.top_k(tflite_model, history_index)
    lite_ids = [[movie_ids[i] for i in row] for row in lite["movie_index"]]
    assert lite_ids == [[m.decode() for m in row] for row in saved["movie_ids"].numpy()]
    np.testing.assert_allclose(lite["scores"], saved["scores"], atol=1e-5)
