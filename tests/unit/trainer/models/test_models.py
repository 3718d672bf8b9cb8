"""The five models through their shared interface: loss, learning, shapes, OOV, TFLite."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from contract.catalogue import MODEL_NAMES, Kind, entry
from contract.topk_metrics import metrics_from_ranks
from trainer.config import HISTORY_ENCODERS, default_config
from trainer.evaluation import model_ranks

# What each model learns in `test_training_learns_the_pattern` (see conftest.make_features).
PATTERN = {"mf": "random", "ranking": "random", "retrieval": "user", "hybrid": "user",
           "sequential": "history"}
VOCAB_MOVIES = 11  # conftest.VOCAB.movies
# Models with their own towers (a cascade is two of them: tests/unit/trainer/models/
# test_multitask.py).
PLAIN_MODELS = tuple(name for name in MODEL_NAMES if not entry(name).stages)

@pytest.mark.parametrize("name", PLAIN_MODELS)
def test_loss_is_a_finite_scalar(make_model, name, vocab, features) -> None:
    loss = make_model(name).compute_loss(features, training=True)
    assert loss.shape == () and np.isfinite(loss.numpy())


@pytest.mark.parametrize("name", PLAIN_MODELS)
def test_training_learns_the_pattern(make_model, name, vocab, make_features, catalogue) -> None:
    model = make_model(name)
    data = make_features(512, seed=1, pattern=PATTERN[name])
    before = float(model.compute_loss(data))
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(64), epochs=15, verbose=0)
    assert float(model.compute_loss(data)) < 0.5 * before
    if model.kind == Kind.RATING:  # ratings are 1 or 5: an RMSE well under 2 needs the pattern
        errors = model.predict_rating(data) - data[F.RATING]
        assert float(tf.sqrt(tf.reduce_mean(errors**2))) < 1.0
    else:  # the pattern's movie should rank first among all movies
        ranks = model_ranks(model, data, catalogue, data[F.MOVIE_INDEX].numpy(),
                            np.zeros((512, vocab.movies), bool), batch_size=100)
        metrics = metrics_from_ranks(ranks, k=1)
        assert metrics["hit_rate_at_1"] > 0.8


@pytest.mark.parametrize("name", PLAIN_MODELS)
def test_interface_shapes(make_model, name, vocab, features, catalogue) -> None:
    model = make_model(name)
    queries = model.query_embeddings(features)
    candidates = model.candidate_embeddings(catalogue)
    assert queries.shape[0] == 16 and candidates.shape[0] == vocab.movies
    assert model.score(queries, candidates).shape == (16, vocab.movies)
    # mf's Gibbs samples side by side (trainer.models.mf)
    width = 16 * (default_config("mf").posterior_samples if name == "mf" else 1)
    assert model.item_embeddings(catalogue).shape == (vocab.movies, width)
    if model.kind == Kind.RATING:
        assert model.predict_rating(features).shape == (16,)
        assert model(features).shape == (16,)
    else:
        assert queries.shape[1] == candidates.shape[1] == 16


def test_rating_models_query_side_dims(make_model, vocab, features, catalogue) -> None:
    # [vector, 1, user bias] x [vector, movie bias, 1]; Gibbs: 3 samples' vectors side by side
    mf = make_model("mf", sweeps="3", posterior_samples="3")
    assert mf.query_embeddings(features).shape == (16, 3 * 16 + 2)
    assert mf.candidate_embeddings(catalogue).shape == (vocab.movies, 3 * 16 + 2)
    mf = make_model("mf", solver="adam")
    assert mf.query_embeddings(features).shape == (16, 18)
    ranking = make_model("ranking", wide_dim="8")  # user tower + timestamp + wide MF part
    assert ranking.query_embeddings(features).shape == (16, 16 + 1 + 10)
    assert ranking.candidate_embeddings(catalogue).shape == (vocab.movies, 16 + 10)


@pytest.mark.parametrize("name", PLAIN_MODELS)
def test_out_of_vocabulary_ids_work(make_model, name, vocab, oov_features) -> None:
    model = make_model(name)
    assert np.isfinite(model.compute_loss(oov_features).numpy())
    assert np.isfinite(model.query_embeddings(oov_features).numpy()).all()
    assert np.isfinite(model.candidate_embeddings(oov_features).numpy()).all()


def test_mf_scores_rank_like_predicted_ratings(make_model, vocab, features, catalogue) -> None:
    model = make_model("mf")
    scores = model.score(model.query_embeddings(features), model.candidate_embeddings(catalogue))
    for movie in (0, 5, vocab.movies - 1):
        pairs = dict(features, **{F.MOVIE_INDEX: tf.fill([16], tf.constant(movie, tf.int64))})
        np.testing.assert_allclose(
            scores[:, movie] + model.factors.global_bias, model.predict_rating(pairs), rtol=1e-5)


def test_mf_l2_penalises_vectors_and_biases(make_model, vocab, features) -> None:
    model = make_model("mf", solver="adam", l2="0.5", bias_l2="0.5")
    model.predict_rating(features)
    assert len(model.losses) == 4 and all(float(loss) > 0 for loss in model.losses)
    unregularised = make_model("mf", solver="adam", l2="0", bias_l2="0")
    unregularised.predict_rating(features)
    assert unregularised.losses == []
    gibbs = make_model("mf")  # its priors regularise it
    gibbs.predict_rating(features)
    assert gibbs.losses == []


def test_rating_only_ranking_scores_by_predicted_rating(make_model, vocab, features,
                                                        catalogue) -> None:
    model = make_model("ranking", retrieval_weight="0")
    scores = model.score(model.query_embeddings(features), model.candidate_embeddings(catalogue))
    for movie in (0, vocab.movies - 1):
        pairs = dict(features, **{
            F.MOVIE_INDEX: tf.fill([16], tf.constant(movie, tf.int64)),
            F.GENRES_MULTI_HOT: tf.repeat(catalogue[F.GENRES_MULTI_HOT][movie:movie + 1], 16, 0),
            F.YEAR_BUCKET: tf.fill([16], catalogue[F.YEAR_BUCKET][movie]),
        })
        np.testing.assert_allclose(scores[:, movie], model.predict_rating(pairs), rtol=1e-5)


@pytest.mark.parametrize("name", ["mf", "ranking"])
def test_predicted_ratings_are_clipped_to_the_scale_outside_training(
    make_model, name, features
) -> None:
    model = make_model(name)
    model.predict_rating(features)  # builds the variables
    factors = model.factors if name == "mf" else model.wide
    factors.global_bias.assign(100.0)
    assert float(tf.reduce_max(model.estimate_rating(features))) > F.MAX_RATING
    np.testing.assert_allclose(model.predict_rating(features), F.MAX_RATING)
    assert float(tf.reduce_min(model.predict_rating(features, training=True))) > F.MAX_RATING


def test_ranking_is_its_wide_mf_plus_the_mlp(make_model, features) -> None:
    model = make_model("ranking", dropout="0")
    model.predict_rating(features)
    mlp_part = model.estimate_rating(features) - model.wide(features)
    assert float(tf.reduce_max(tf.abs(mlp_part))) > 0
    for mlp in (model.mlp, *model.extra_mlps):  # silence the MLPs: only the wide MF is left
        for weights in mlp.layers[-1].weights:
            weights.assign(tf.zeros_like(weights))
    np.testing.assert_allclose(model.estimate_rating(features), model.wide(features), rtol=1e-6)


def test_ranking_uses_side_features_only_when_asked(make_model, vocab, features) -> None:
    changed = dict(features, **{F.TIMESTAMP_SCALED: features[F.TIMESTAMP_SCALED] + 1.0,
                                F.GENDER_INDEX: 1 - features[F.GENDER_INDEX]})
    with_side = make_model("ranking", dropout="0")
    assert np.abs(with_side.predict_rating(features) - with_side.predict_rating(changed)).max() > 0
    without = make_model("ranking", use_side_features="false")
    np.testing.assert_allclose(without.predict_rating(features), without.predict_rating(changed))


@pytest.mark.parametrize("name", ["retrieval", "hybrid", "sequential"])
def test_retrieval_towers_usable_alone(make_model, name, vocab, features, catalogue) -> None:
    model = make_model(name, normalize_embeddings="false")
    np.testing.assert_allclose(model.query_model(features), model.query_embeddings(features))
    np.testing.assert_allclose(model.candidate_model(catalogue),
                               model.candidate_embeddings(catalogue))


@pytest.mark.parametrize(("name", "uses_side_features"), [("retrieval", False), ("hybrid", True)])
def test_hybrid_uses_demographics_and_content(
    make_model, name, uses_side_features, features
) -> None:
    model = make_model(name)
    changed = dict(features, **{F.GENDER_INDEX: 1 - features[F.GENDER_INDEX],
                                F.GENRES_MULTI_HOT: 1 - features[F.GENRES_MULTI_HOT]})
    for embed in (model.query_embeddings, model.candidate_embeddings):
        differs = np.abs(embed(features) - embed(changed)).max() > 1e-6
        assert differs == uses_side_features


def test_retrieval_loss_is_a_softmax_over_the_catalogue(make_model, features, catalogue) -> None:
    model = make_model("retrieval")
    logits = model.score(model.query_embeddings(features),
                         model.candidate_embeddings(catalogue)) / model._temperature
    expected = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        features[F.MOVIE_INDEX], logits)
    assert float(model.compute_loss(features)) == pytest.approx(float(expected), rel=1e-5)
    # A positive outside the catalogue (OOV) has no logit: its row is left out.
    with_oov = dict(features, **{F.MOVIE_INDEX: tf.concat(
        [features[F.MOVIE_INDEX][:-1], [tf.constant(VOCAB_MOVIES, tf.int64)]], 0)})
    partial = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        features[F.MOVIE_INDEX][:-1], logits[:-1])
    assert float(model.compute_loss(with_oov)) == pytest.approx(float(partial), rel=1e-5)


def test_normalised_embeddings_have_unit_norm(make_model, vocab, features) -> None:
    model = make_model("retrieval")
    np.testing.assert_allclose(tf.norm(model.query_embeddings(features), axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", HISTORY_ENCODERS)
def test_sequential_query_converts_to_tflite_builtins(make_model, kind, vocab, features) -> None:
    model = make_model("sequential", history_encoder=kind)
    history = features[F.HISTORY_INDEX]

    @tf.function(input_signature=[tf.TensorSpec([None, vocab.history_length], tf.int64)])
    def query(history_index):
        return model.query_embeddings({F.HISTORY_INDEX: history_index})

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [query.get_concrete_function()], model
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.resize_tensor_input(0, history.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], history.numpy())
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(output, query(history), atol=1e-5)
