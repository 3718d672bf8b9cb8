"""Batch recommendations of the shared tiny run (components/batch_recommender): every user of
the data has a row for every pushed model, and sampled rows agree with what the REST service
answers (`/recommend` with exclude_seen, `/similar`)."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from contract.catalogue import MODEL_NAMES
from recsys.inspection import run_summary
from tests.fixtures.movielens_files import USERS

pytestmark = pytest.mark.e2e
SAMPLED = 6


def _read(version_dir, index, prefix, key) -> dict[str, dict]:
    rows = {}
    for name in index["files"][prefix]:
        for row in pq.read_table(version_dir / name).to_pylist():
            rows[row[key]] = row
    return rows


def _batch(run_output, model):
    _, output = run_output
    (version_dir,) = (output / "recommendations" / model).iterdir()
    index = json.loads((version_dir / "index.json").read_text())
    return (index, _read(version_dir, index, "users", "user_id"),
            _read(version_dir, index, "similar_movies", "movie_id"))


def _assert_same_ranking(items, row):
    """Same movies in the same order, scores equal to float32 precision (ties may swap)."""
    scores = [item["score"] for item in items]
    np.testing.assert_allclose(scores, row["scores"], atol=1e-4)
    for position, item in enumerate(items):
        if item["movie_id"] != row["movie_ids"][position]:
            assert abs(scores[position] - row["scores"][position]) < 1e-4  # a tie


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_user_has_a_row_that_agrees_with_recommend(client, run_output, model):
    index, users, _ = _batch(run_output, model)
    assert index["users"] == USERS == len(users)
    assert set(users) == {str(user) for user in range(1, USERS + 1)}
    for user in random.Random(model).sample(sorted(users), SAMPLED):
        body = client.get("/recommend", params={
            "user_id": user, "k": 10, "model": model, "exclude_seen": "true"}).json()
        _assert_same_ranking(body["items"], users[user])


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_similar_movies_agree_with_the_service(client, run_output, model):
    index, _, similar = _batch(run_output, model)
    assert index["movies"] == len(similar) > 0
    for movie in random.Random(model).sample(sorted(similar), SAMPLED):
        body = client.get("/similar", params={"movie_id": movie, "model": model}).json()
        _assert_same_ranking(body["items"], similar[movie])


def test_the_run_records_where_the_recommendations_are(run_output):
    _, output = run_output
    results = run_summary.model_results(
        run_summary.latest_run(run_summary.open_store(str(output / "metadata.sqlite"))))
    for result in results:
        written = result.recommendations
        assert written is not None and written.users == USERS
        assert written.destination.startswith(str(output / "recommendations" / result.name))
        assert result.pushed_to.endswith(written.destination.rsplit("/", 1)[-1])
