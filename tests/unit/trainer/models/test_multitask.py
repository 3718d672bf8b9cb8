"""The multi-task ranking model's loss and the cascade's scoring on tiny batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from contract.catalogue import entry
from tests.fixtures.model_inputs import VOCAB
from trainer.config import CascadeConfig
from trainer.models.base import EXCLUDED_SCORE
from trainer.models.cascade import Cascade


def _by_hand(model, features, catalogue, rating_weight: float, retrieval_weight: float) -> float:
    """rating_weight * MSE(rating head) + retrieval_weight * softmax CE over the catalogue."""
    predicted = model.estimate_rating(features)
    mse = float(tf.reduce_mean(tf.square(predicted - features[F.RATING])))
    users = tf.math.l2_normalize(model.user_tower(features), -1)
    movies = tf.math.l2_normalize(model.movie_tower(catalogue), -1)
    logits = tf.matmul(users, movies, transpose_b=True) / 0.1
    cross_entropy = float(tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        features[F.MOVIE_INDEX], logits))
    return rating_weight * mse + retrieval_weight * cross_entropy


@pytest.mark.parametrize(("rating_weight", "retrieval_weight"),
                         [(1.0, 1.0), (0.5, 2.0), (1.0, 0.0)])
def test_multitask_loss_is_the_weighted_sum(make_model, features, catalogue, rating_weight,
                                            retrieval_weight) -> None:
    model = make_model("ranking", dropout="0", rating_weight=str(rating_weight),
                       retrieval_weight=str(retrieval_weight), temperature="0.1")
    expected = _by_hand(model, features, catalogue, rating_weight, retrieval_weight)
    # Outside training the rating is clipped to the scale; compare on the raw estimate.
    assert float(model.compute_loss(features, training=True)) == pytest.approx(expected, rel=1e-4)


def test_rating_heads_are_averaged_into_the_rating(make_model, features) -> None:
    """rating_heads=3: three MLPs from their own initial weights over the shared towers; the
    rating is the wide part + their mean, and the loss is that rating's squared error."""
    model = make_model("ranking", dropout="0", rating_heads="3", retrieval_weight="0")
    mlps = (model.mlp, *model.extra_mlps)
    assert len({mlp.name for mlp in mlps}) == 3
    queries, candidates = model.query_embeddings(features), model.candidate_embeddings(features)
    wide_width = model._wide_width
    pairs = tf.concat([queries[:, :-wide_width], candidates[:, :-wide_width]], axis=1)
    outputs = [mlp(pairs)[:, 0] for mlp in mlps]
    assert not np.allclose(outputs[0], outputs[1])  # own initial weights
    wide = tf.reduce_sum(queries[:, -wide_width:] * candidates[:, -wide_width:], 1)
    expected = model.wide.global_bias + wide + tf.add_n(outputs) / 3
    np.testing.assert_allclose(model.estimate_rating(features), expected, rtol=1e-5, atol=1e-5)
    assert float(model.compute_loss(features, training=True)) == pytest.approx(
        float(tf.reduce_mean(tf.square(expected - features[F.RATING]))), rel=1e-4)


def test_a_top_k_score_without_the_rating_never_runs_the_rating_mlps(
        make_model, features, catalogue) -> None:
    """score_rating_weight 0 (the default): the score is the implicit logit alone and the MLPs
    are not run on the B x M pairs (a NaN planted in their output cannot reach the score)."""
    model = make_model("ranking", dropout="0")
    queries, candidates = model.query_embeddings(features), model.candidate_embeddings(catalogue)
    model.estimate_rating(features)  # builds the MLPs
    for mlp in (model.mlp, *model.extra_mlps):
        mlp.layers[-1].bias.assign([float("nan")])
    implicit = tf.matmul(tf.math.l2_normalize(model.user_tower(features), -1),
                         tf.math.l2_normalize(model.movie_tower(catalogue), -1),
                         transpose_b=True) / model._temperature
    np.testing.assert_allclose(model.score(queries, candidates), implicit, rtol=1e-4, atol=1e-4)
    picks = tf.constant([[3, 1], [0, 5]])
    per_row = model.score_candidates(queries[:2], tf.gather(candidates, picks))
    np.testing.assert_allclose(per_row, tf.gather(implicit[:2], picks, batch_dims=1),
                               rtol=1e-4, atol=1e-4)


def test_ranking_top_k_score_combines_both_heads(make_model, features, catalogue) -> None:
    model = make_model("ranking", dropout="0", score_rating_weight="0.5")
    queries, candidates = model.query_embeddings(features), model.candidate_embeddings(catalogue)
    users = tf.math.l2_normalize(model.user_tower(features), -1)
    movies = tf.math.l2_normalize(model.movie_tower(catalogue), -1)
    implicit = tf.matmul(users, movies, transpose_b=True) / model._temperature
    rating = model._rating(queries[:, None], candidates[None])
    np.testing.assert_allclose(model.score(queries, candidates), implicit + 0.5 * rating,
                               rtol=1e-4, atol=1e-4)
    # Per-row candidates score as the full grid does.
    picks = tf.constant([[3, 1], [0, 5]])
    per_row = model.score_candidates(queries[:2], tf.gather(candidates, picks))
    np.testing.assert_allclose(per_row, tf.gather(model.score(queries[:2], candidates), picks,
                                                  batch_dims=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("first_stage_weight", [0.0, 2.5])
def test_cascade_ranks_the_first_stage_candidates_by_the_second(
        make_model, features, catalogue, first_stage_weight) -> None:
    counts = np.full(VOCAB.movies, 10, np.int64)  # the ranking stage's cosine schedule
    config = CascadeConfig(candidates=10, first_stage_weight=first_stage_weight)
    cascade = Cascade(entry("two_stage"), VOCAB, config, catalogue, counts)
    queries = cascade.query_embeddings(features)
    candidates = cascade.candidate_embeddings(catalogue)
    exclude = np.zeros((16, VOCAB.movies), bool)
    exclude[:, 0] = True  # every user has seen movie 0
    scores = cascade.top_k_scores(queries, candidates, tf.constant(exclude)).numpy()
    first = cascade.first.score(cascade.first.query_embeddings(features),
                                cascade.first.candidate_embeddings(catalogue)).numpy()
    second = cascade.second.score(cascade.second.query_embeddings(features),
                                  cascade.second.candidate_embeddings(catalogue)).numpy()
    for row in range(16):
        kept = [m for m in np.argsort(-first[row], kind="stable") if m != 0][:10]
        assert set(np.flatnonzero(scores[row] > EXCLUDED_SCORE)) == set(kept)
        expected = second[row, kept] + first_stage_weight * first[row, kept]
        np.testing.assert_allclose(scores[row, kept], expected, rtol=1e-4, atol=1e-4)
        assert scores[row, 0] == EXCLUDED_SCORE
