"""Every serving signature of all five models, on a tiny real Transform output; and the
sequential model's TFLite top-K against its SavedModel."""

from __future__ import annotations

import functools
import os
import tempfile
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from contract import features as F
from contract import keys
from contract.catalogue import MODEL_NAMES, Kind, entry
from contract.keys import MOVIE_COALITIONS, MOVIE_GROUPS, USER_GROUPS
from tests.fixtures.raw_features import RAW_SPEC
from trainer import data, serving_requests, task, tflite
from trainer.config import config_with_overrides, default_config
from trainer.export import ServingModule, export
from trainer.models.base import EXCLUDED_SCORE
from trainer.models.registry import build_model

TOP_K = 10
SHORT_HISTORY = 4  # another run's history length: shorter than most users' histories here
NUM_MOVIES = 14
PROJECT_PACKAGES = {"contract", "components", "transform", "trainer", "pipeline", "recsys",
                    "benchmarks", "tests"}
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


def _transformed(history_length: int) -> tuple[tf.data.Dataset, tft.TFTransformOutput]:
    """(batches of transformed training features, the TFTransformOutput) of a Transform given
    `history_length`."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    out = tempfile.mkdtemp()
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        from transform.preprocessing import preprocessing_fn

        (rows, _), transform_fn = (_raw_rows(), metadata) | tft_beam.AnalyzeAndTransformDataset(
            functools.partial(preprocessing_fn,
                              custom_config={keys.HISTORY_LENGTH_KEY: history_length}))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The Transform component also writes the raw schema: serving parses raw features with it.
    metadata_io.write_metadata(metadata, os.path.join(out, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tf.data.Dataset.from_tensor_slices(_batch(rows)).batch(16), tft.TFTransformOutput(out)


@pytest.fixture(scope="module")
def transformed() -> tuple[tf.data.Dataset, tft.TFTransformOutput]:
    return _transformed(F.DEFAULT_HISTORY_LENGTH)


@pytest.fixture(scope="module")
def transformed_short() -> tuple[tf.data.Dataset, tft.TFTransformOutput]:
    """A run whose history length is SHORT_HISTORY, not the default."""
    return _transformed(SHORT_HISTORY)


def _small(name: str) -> dict[str, str]:
    """A tiny config: 8 dims, one epoch (a few sweeps of mf's Gibbs sampler)."""
    if entry(name).stages:
        return {}
    length = {"epochs": "1"} if default_config(name).fitted_by_gradient else {"sweeps": "5"}
    return {"embedding_dim": "8", **length}


def _export(name: str, transformed, export_dir: str, **overrides: str):
    """Trains a tiny `name` for one epoch, exports it; (model, catalogue, loaded SavedModel)."""
    batches, tft_output = transformed
    vocab = data.vocab_sizes(tft_output)
    tables = data.training_tables(batches, vocab)
    config = config_with_overrides(name, {**_small(name), **overrides})
    model = build_model(name, vocab, config, tables.catalogue, tables.movie_counts)
    model.fit(batches, epochs=1, verbose=0)
    module = ServingModule(model, tft_output, tables.catalogue, tables.users, TOP_K, tables.seen)
    export(module, export_dir)
    # The warm-up file, as run_fn writes it.
    serving_requests.write_warmup(export_dir, serving_requests.warmup_requests(
        name, module.signatures(), task.warmup_sample(tft_output, tables)))
    return model, tables.catalogue, tf.saved_model.load(export_dir)


def _id_lists(rows: list[list[str]]) -> tf.Tensor:
    """Lists of ids as the signatures take them: one string per row."""
    return tf.constant([" ".join(row) for row in rows], tf.string)


@pytest.mark.parametrize(("name", "overrides"), [
    *((name, {}) for name in MODEL_NAMES), ("hybrid", {"movie_bias": "true"})])
def test_every_signature(name, overrides, transformed, tmp_path) -> None:
    model, _, loaded = _export(name, transformed, str(tmp_path), **overrides)
    signatures = loaded.signatures
    expected = {"serving_default", "recommend", "serving_tf_example", "item_embeddings",
                "similar_items", "score_features"} | (
                    {"predict_rating"} if model.kind == Kind.RATING else set())
    assert set(signatures) == expected

    # recommend: a known user with exclusions, an unknown one with a given history.
    excluded = ["m0", "m1", "nonexistent"]
    out = signatures["recommend"](
        user_id=tf.constant(["u1", "nobody"]),
        history=_id_lists([[], ["m2", "m3"]]),
        exclude_movie_ids=_id_lists([excluded, []]))
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

    if model.kind == Kind.RATING:
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
            user_id=tf.constant(["u1"]), history=_id_lists([[]]),
            exclude_movie_ids=_id_lists([excluded]))
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


@pytest.mark.parametrize(("run", "encoder", "width", "movie_bias"), [
    ("transformed", "gru", F.DEFAULT_HISTORY_LENGTH, "false"),
    ("transformed", "bow", F.DEFAULT_HISTORY_LENGTH, "true"),
    ("transformed_short", "attention", SHORT_HISTORY, "false")])
def test_tflite_top_k_matches_the_saved_model(run, encoder, width, movie_bias, request,
                                              tmp_path) -> None:
    transformed = request.getfixturevalue(run)
    model, catalogue, loaded = _export("sequential", transformed, str(tmp_path),
                                       history_encoder=encoder, movie_bias=movie_bias)
    _, tft_output = transformed
    with open(tflite.write(model, catalogue, tft_output, str(tmp_path), TOP_K), "rb") as handle:
        tflite_model = handle.read()
    input_shape = tf.lite.Interpreter(model_content=tflite_model).get_input_details()[0]["shape"]
    assert input_shape.tolist() == [1, width]
    movie_ids = (tmp_path / tflite.EXTRA_DIR / tflite.MOVIE_IDS_FILE).read_text().split()

    histories = [["m1", "m2", "m3"], ["m7"], ["m5", "m0", "m9", "m12", "m4"]]
    saved = loaded.signatures["recommend"](
        user_id=tf.constant([""] * len(histories)), history=_id_lists(histories),
        exclude_movie_ids=_id_lists([[]] * len(histories)))
    index_of = {movie: i + 1 for i, movie in enumerate(movie_ids)}  # history_index = index + 1
    history_index = np.zeros((len(histories), width), np.int64)
    for row, history in enumerate(histories):  # the latest `width` movies, as the export keeps
        recent = history[-width:]
        history_index[row, width - len(recent):] = [index_of[m] for m in recent]
    lite = tflite.top_k(tflite_model, history_index)
    lite_ids = [[movie_ids[i] for i in row] for row in lite["movie_index"]]
    assert lite_ids == [[m.decode() for m in row] for row in saved["movie_ids"].numpy()]
    np.testing.assert_allclose(lite["scores"], saved["scores"], atol=1e-5)


# -- score_features: the signature /explain computes Shapley values with ---------------------
@pytest.fixture(scope="module")
def exported(transformed, tmp_path_factory):
    """name -> (model, export dir, loaded SavedModel), each trained and exported once."""
    cache = {}

    def get(name: str):
        if name not in cache:
            export_dir = str(tmp_path_factory.mktemp(name))
            model, _, loaded = _export(name, transformed, export_dir)
            cache[name] = model, export_dir, loaded
        return cache[name]

    return get


def _score_features(signatures, user_ids, movie_ids, user_reset=None,
                    history_keep=None) -> dict[str, np.ndarray]:
    """score_features of the (user_ids[b], movie_ids[b]) pairs, nothing reset unless given."""
    rows = len(user_ids)
    width = signatures["score_features"].structured_input_signature[1]["history_keep"].shape[1]
    out = signatures["score_features"](
        user_id=tf.constant(user_ids), movie_id=tf.constant(movie_ids),
        user_reset=tf.constant(np.zeros((rows, len(USER_GROUPS)), bool)
                               if user_reset is None else user_reset),
        history_keep=tf.constant(np.ones((rows, width), bool)
                                 if history_keep is None else history_keep))
    return {name: value.numpy() for name, value in out.items()}


ALL_MOVIE_GROUPS = MOVIE_COALITIONS - 1  # the column that keeps every movie group


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_score_features_scores_pairs_as_the_other_signatures_do(name, exported,
                                                                transformed) -> None:
    model, _, loaded = exported(name)
    signatures = loaded.signatures
    out = _score_features(signatures, ["u1", "u1", "u1", "nobody"],
                          ["m4", "m5", "unknown movie", "m4"])
    assert out["scores"].shape == (4, MOVIE_COALITIONS) and out["scores"].dtype == np.float32
    assert out["user_known"].tolist() == [True, True, True, False]
    assert out["movie_known"].tolist() == [True, True, False, True]
    history = [m.decode() for m in out["history_movie_ids"][0]]
    assert len(history) == F.DEFAULT_HISTORY_LENGTH and history[-1] and not history[0]
    assert set(out["history_movie_ids"][3].tolist()) == {b""}  # unknown user: no history
    scores = out["scores"][:, ALL_MOVIE_GROUPS]

    if model.kind == Kind.RATING:  # the predicted rating of each pair
        rating = signatures["predict_rating"](user_id=tf.constant(["u1", "u1"]),
                                              movie_id=tf.constant(["m4", "m5"]))
        np.testing.assert_allclose(scores[:2], rating["predicted_rating"], rtol=1e-5)
    else:  # recommend's score of the movie, with every other movie excluded
        _, tft_output = transformed
        others = [m.decode() for m in tft_output.vocabulary_by_name(F.MOVIE_VOCAB) if m != b"m4"]
        top = signatures["recommend"](user_id=tf.constant(["u1"]), history=_id_lists([[]]),
                                      exclude_movie_ids=_id_lists([others]))
        assert top["movie_ids"][0, 0].numpy() == b"m4"
        np.testing.assert_allclose(scores[0], top["scores"][0, 0], rtol=1e-5)

    # An unknown movie is scored as a known one with every movie feature reset (column 0), and
    # a row's answer does not depend on the other rows of the batch.
    np.testing.assert_allclose(out["scores"][0, 0], scores[2], rtol=1e-5)
    alone = _score_features(signatures, ["u1"], ["m5"])
    np.testing.assert_allclose(alone["scores"][0], out["scores"][1], rtol=1e-5)


@pytest.mark.parametrize("name", ["retrieval", "mf", "hybrid"])
def test_explain_shapley_values_add_up_and_unused_features_get_zero(name, exported) -> None:
    from recsys.serving import explain
    from recsys.serving.backends import InProcessBackend
    from recsys.serving.catalogue import Movie
    from recsys.serving.registry import LoadedModel

    assert (explain.USER_GROUPS, explain.MOVIE_GROUPS) == (USER_GROUPS, MOVIE_GROUPS)
    _, export_dir, loaded = exported(name)
    movies = {f"m{i}": Movie(f"m{i}", f"title {i}", 1980 + i, (GENRES[i % 3],), 1)
              for i in range(NUM_MOVIES)}
    users = {f"u{u}": {"gender": "MF"[u % 2], "age": 20 + 5 * u, "occupation": "writer"}
             for u in range(6)}
    served = LoadedModel(name, 1, export_dir, InProcessBackend(export_dir), 0.0)
    catalogue = types.SimpleNamespace(movies=movies, users=users)  # what explain reads
    body = explain.explain(served, catalogue, "u1", "m4")

    assert "Shapley" in body["method"] and "score_features" in body["method"]
    contributions = {c["feature"]: c["contribution"] for c in body["contributions"]
                     if c["feature"] != "history"}
    history = [c for c in body["contributions"] if c["feature"] == "history"]
    assert len(history) == explain.HISTORY_PLAYERS and "earlier history" in contributions
    total = sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["score"] - body["baseline_score"], abs=1e-5)
    stored = _score_features(loaded.signatures, ["u1"], ["m4"])["scores"][0, ALL_MOVIE_GROUPS]
    assert body["score"] == pytest.approx(float(stored), abs=1e-5)
    by_value = {c["feature"]: c["value"] for c in body["contributions"]}
    assert by_value["genres"] == "Comedy" and by_value["year"] == 1984
    assert by_value["gender"] == "F" and by_value["age"] == 25
    if name == "hybrid":  # reads genres and year: resetting them changes the score
        assert contributions["genres"] != 0 and contributions["year"] != 0
    else:  # ids only: every other feature is exactly 0
        unused = [c for c in body["contributions"]
                  if c["feature"] not in ("user_id", "movie_id")]
        assert all(c["contribution"] == 0.0 for c in unused), unused


# -- the warm-up file TF Serving replays, and the infra check's verdict ----------------------
def _warmup_records(export_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    path = os.path.join(export_dir, keys.WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(path)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_warmup_requests_replay_against_the_saved_model(name, exported, transformed) -> None:
    _, export_dir, loaded = exported(name)
    records = _warmup_records(export_dir)
    served = set(loaded.signatures) - {keys.SERVING_TF_EXAMPLE}
    requests = [record.predict_log.request for record in records]
    assert {r.model_spec.signature_name for r in requests} == served
    assert len(requests) == len(served) * len(serving_requests.WARMUP_BATCHES)
    _, tft_output = transformed
    users = set(tft_output.vocabulary_by_name(F.USER_VOCAB))
    movies = set(tft_output.vocabulary_by_name(F.MOVIE_VOCAB))
    for request in requests:
        assert request.model_spec.name == name
        function = loaded.signatures[request.model_spec.signature_name]
        specs = function.structured_input_signature[1]
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        assert set(inputs) == set(specs)
        for key, ids in inputs.items():  # real ids of the model's vocabularies
            if key == "user_id":
                assert set(ids) <= users
            elif key in ("movie_id", "history", "exclude_movie_ids"):
                assert {m for row in ids for m in row.split()} <= movies
        outputs = function(**{key: tf.constant(v, specs[key].dtype) for key, v in inputs.items()})
        batch = len(next(iter(inputs.values())))
        assert batch in serving_requests.WARMUP_BATCHES
        assert all(value.shape[0] == batch for value in outputs.values())


@pytest.mark.parametrize("name", ["hybrid", "mf"])
def test_the_infra_check_serves_the_real_exports(name, exported) -> None:
    from components.infra_check import executor

    _, export_dir, _ = exported(name)
    report = executor.run_probe(export_dir, latency_budget_ms=1000, timeout_seconds=300)
    assert report["blessed"], report["reason"]
    assert set(report["signatures"]) == set(loaded_signatures(export_dir)) - {
        keys.SERVING_TF_EXAMPLE}
    # TensorFlow and TF Serving's protos only: nothing of this project was imported.
    assert not set(report["modules"]) & PROJECT_PACKAGES


def loaded_signatures(export_dir: str) -> set[str]:
    return set(tf.saved_model.load(export_dir).signatures)


def test_explain_reads_the_history_length_of_the_model(transformed_short, tmp_path) -> None:
    """A model of a run with a short history: score_features takes SHORT_HISTORY positions,
    and /explain makes one player of each (fewer than HISTORY_PLAYERS, no earlier history)."""
    from recsys.serving import explain
    from recsys.serving.backends import InProcessBackend
    from recsys.serving.catalogue import Movie
    from recsys.serving.registry import LoadedModel

    export_dir = str(tmp_path)
    _, _, loaded = _export("hybrid", transformed_short, export_dir)
    out = _score_features(loaded.signatures, ["u1"], ["m4"])
    assert out["history_movie_ids"].shape == (1, SHORT_HISTORY)
    assert all(out["history_movie_ids"][0])  # u1 rated 10 movies: the latest 4 are stored
    movies = {f"m{i}": Movie(f"m{i}", f"title {i}", 1980 + i, (GENRES[i % 3],), 1)
              for i in range(NUM_MOVIES)}
    catalogue = types.SimpleNamespace(movies=movies, users={})
    body = explain.explain(LoadedModel("hybrid", 1, export_dir, InProcessBackend(export_dir),
                                       0.0), catalogue, "u1", "m4")
    features = [c["feature"] for c in body["contributions"]]
    assert features.count("history") == SHORT_HISTORY and "earlier history" not in features
    total = sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["score"] - body["baseline_score"], abs=1e-5)


def test_two_stage_saved_model_excludes_seen_movies_and_matches_the_stages(
        transformed, tmp_path) -> None:
    """The cascade's serving_tf_example leaves out the user's training movies, and its top-K is
    the ranking stage's order of the retrieval stage's top candidates, run by hand."""
    model, catalogue, loaded = _export("two_stage", transformed, str(tmp_path))
    batches, tft_output = transformed
    tables = data.training_tables(batches, data.vocab_sizes(tft_output))
    raw = tf.train.Example()
    for feature, value in ((F.USER_ID, b"u2"), (F.MOVIE_ID, b"m4"), (F.GENDER, b"F"),
                           (F.OCCUPATION, b"writer"), (F.TITLE, b"t")):
        raw.features.feature[feature].bytes_list.value.append(value)
    for feature, value in ((F.TIMESTAMP, 5), (F.YEAR, 1990), (F.AGE, 30)):
        raw.features.feature[feature].int64_list.value.append(value)
    examples = tf.constant([raw.SerializeToString()])
    out = loaded.signatures["serving_tf_example"](examples=examples)
    movie_ids = tft_output.vocabulary_by_name(F.MOVIE_VOCAB)
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != F.LABEL}
    features = tft_output.transform_features_layer()(tf.io.parse_example(examples, raw_spec))
    user = int(features[F.USER_INDEX][0])
    seen = set(tables.seen[user].numpy())
    # u2 rated 10 of the 14 movies: 4 are left, the other 6 slots are filled with excluded
    # movies at EXCLUDED_SCORE (as every model's top-K does when too few are left).
    kept = out["scores"][0].numpy() > EXCLUDED_SCORE / 2
    returned = [list(movie_ids).index(m) for m in out["movie_ids"][0].numpy()[kept]]
    assert len(seen) == 10 and len(returned) == 4 and not seen & set(returned)

    # By hand: the first stage's unseen movies in order, each scored by the second stage plus
    # first_stage_weight x the first stage.
    first, second = model.first, model.second
    first_scores = first.score(first.query_embeddings(features),
                               first.candidate_embeddings(catalogue)).numpy()[0]
    unseen = [m for m in np.argsort(-first_scores) if m not in seen]
    second_scores = second.score(second.query_embeddings(features),
                                 second.candidate_embeddings(catalogue)).numpy()[0]
    combined = second_scores + model.first_stage_weight * first_scores
    assert model.first_stage_weight == default_config("two_stage").first_stage_weight > 0
    by_hand = sorted(unseen, key=lambda m: -combined[m])
    assert returned[:len(unseen)] == by_hand
    np.testing.assert_allclose(out["scores"][0, :len(unseen)], combined[by_hand], rtol=1e-4)
