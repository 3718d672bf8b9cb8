"""The Trainer's own evaluation: a new movie ranked by its content, the movies a new user gives
removed, protocol COLDSTART's buckets."""

from __future__ import annotations

import numpy as np
import pytest

from contract import catalogue as model_catalogue
from contract import features as F
from contract import topk_metrics
from trainer import evaluation, task
from trainer.models.registry import build_model


def _numpy(features):
    return {key: np.array(value) for key, value in features.items()}


@pytest.mark.parametrize("name", ["hybrid", "retrieval", "ranking"])
def test_a_new_movie_is_ranked_by_the_score_of_its_content(make_model, make_features,
                                                           catalogue, vocab, name):
    model = make_model(name)
    features = _numpy(make_features(6, seed=3))
    features[F.MOVIE_INDEX][:3] = vocab.movies  # outside the catalogue: new movies
    seen = [np.array([0, 1]) for _ in range(6)]
    ranks = evaluation.model_ranks(model, features, _numpy(catalogue),
                                   features[F.MOVIE_INDEX], seen)
    queries = model.query_embeddings(features)
    scores = model.score(queries, model.candidate_embeddings(catalogue)).numpy()
    target = model.target_scores(queries, model.candidate_embeddings(
        {key: features[key] for key in catalogue})).numpy()
    for row in range(3):
        unseen = np.ones(vocab.movies, bool)
        unseen[seen[row]] = False
        assert ranks[row] == 1 + np.sum(scores[row][unseen] >= target[row])
    known = topk_metrics.held_out_ranks(scores[3:], features[F.MOVIE_INDEX][3:], seen[3:])
    np.testing.assert_array_equal(ranks[3:], known)


def test_a_cascade_never_retrieves_a_new_movie(make_features, catalogue, vocab):
    [name] = [entry.name for entry in model_catalogue.CATALOGUE if entry.stages]
    features = _numpy(make_features(4, seed=5))
    features[F.MOVIE_INDEX][:] = vocab.movies
    model = build_model(name, vocab, catalogue_features=catalogue,  # its stages' defaults
                        movie_counts=np.ones(vocab.movies, np.int64))
    ranks = evaluation.model_ranks(model, features, _numpy(catalogue),
                                   features[F.MOVIE_INDEX], [np.array([], int)] * 4)
    assert np.all(ranks == vocab.movies + 1)


def test_coldstart_buckets_split_new_users_by_given_ratings_and_new_movies():
    new_user = np.array([True, True, True, False, False, True])
    new_movie = np.array([False, False, True, True, False, False])
    given = np.array([0, 1, 1, 4, 4, 5])
    buckets = task.cold_start_buckets(new_user, new_movie, given)
    assert {name: mask.nonzero()[0].tolist() for name, mask in buckets.items()} == {
        "new_user_given_0": [0], "new_user_given_1": [1, 2], "new_user_given_5": [5],
        "new_movie": [3]}
    assert task.cold_start_buckets(new_user & False, new_movie & False, given) == {}


def test_given_history_movies_are_catalogue_indices():
    history = np.array([0, 0, 3, 1, 12])  # padding, movies 2 and 0, 12 = out of vocabulary
    assert task._history_movies(history, num_movies=11).tolist() == [2, 0]
