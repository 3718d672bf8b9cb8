"""Every endpoint with good and bad input, against tiny models from a real pipeline run."""

import types

import numpy as np
import pytest

from contract.catalogue import MODEL_NAMES
from tests.fixtures.movielens_files import RATINGS_PER_USER

pytestmark = pytest.mark.e2e

ALL_MODELS = set(MODEL_NAMES)


def _error(response, status):
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_all_models_are_loaded_and_ready(client):
    body = client.get("/readyz").json()
    assert set(body["models"]) == ALL_MODELS and body["ready"]
    assert client.get("/healthz").json() == {"status": "ok"}


def test_recommend_returns_k_distinct_known_movies(client):
    body = client.get("/recommend", params={"user_id": "3", "k": 5}).json()
    assert body["model"] == MODEL_NAMES[0]  # no model named: the catalogue's first
    ids = [item["movie_id"] for item in body["items"]]
    assert len(ids) == 5 == len(set(ids))
    assert all(item["title"].startswith("Café N°") for item in body["items"])
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_recommend_exclude_seen_leaves_out_the_users_rated_movies(client):
    seen = {h["movie_id"] for h in client.get("/users/3", params={"history": 500})
            .json()["history"]}
    assert len(seen) == RATINGS_PER_USER
    body = client.get("/recommend", params={"user_id": "3", "k": 15,
                                            "exclude_seen": "true"}).json()
    ids = [item["movie_id"] for item in body["items"]]
    assert body["excluded"] == RATINGS_PER_USER
    assert len(ids) == 15 == len(set(ids))  # > 10: a second round of the signature
    assert not seen & set(ids)


@pytest.mark.parametrize("model", sorted(ALL_MODELS))
def test_recommend_with_each_model(client, model):
    body = client.get("/recommend", params={"user_id": "1", "model": model}).json()
    assert body["model"] == model and len(body["items"]) == 10


@pytest.mark.parametrize(("params", "status"), [
    ({"user_id": "999"}, 404), ({"user_id": "1", "k": 0}, 422), ({"user_id": "1", "k": 101}, 422),
    ({"user_id": "1", "k": "ten"}, 422), ({}, 422), ({"user_id": "1", "model": "nope"}, 404),
])
def test_recommend_bad_input(client, params, status):
    _error(client.get("/recommend", params=params), status)


def test_similar_by_id_and_forgiving_title_agree(client):
    by_id = client.get("/similar", params={"movie_id": "12", "k": 10}).json()
    by_title = client.get("/similar", params={"title": "  CAFE n°12 (1982) "}).json()
    assert by_title["movie"]["movie_id"] == "12"
    assert by_id["items"] == by_title["items"]
    ids = [item["movie_id"] for item in by_id["items"]]
    assert len(ids) == 10 and "12" not in ids
    assert all(-1.0 - 1e-5 <= item["score"] <= 1.0 + 1e-5 for item in by_id["items"])


@pytest.mark.parametrize("model", ["hybrid", "mf"])
def test_similar_matches_the_similar_items_signature(client, model):
    """/similar ranks the item embeddings in numpy: the same answer as the model's own
    similar_items signature."""
    body = client.get("/similar", params={"movie_id": "12", "model": model}).json()
    served = client.app.state.registry.get(model)
    signature = served.backend.call("similar_items", {"movie_id": ["12"]})
    assert [i["movie_id"] for i in body["items"]] == list(signature["movie_ids"][0])
    np.testing.assert_allclose([i["score"] for i in body["items"]], signature["scores"][0],
                               atol=1e-5)


def test_similar_beyond_ten_extends_the_signatures_top_ten(client):
    ten = client.get("/similar", params={"movie_id": "7", "k": 10}).json()["items"]
    twenty = client.get("/similar", params={"movie_id": "7", "k": 20}).json()["items"]
    assert len(twenty) == 20
    assert [i["movie_id"] for i in twenty[:10]] == [i["movie_id"] for i in ten]
    for a, b in zip(ten, twenty[:10], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)


@pytest.mark.parametrize(("params", "status"), [
    ({"movie_id": "9999"}, 404), ({"title": "No Such Film"}, 404), ({}, 422),
    ({"movie_id": "1", "title": "x"}, 422), ({"movie_id": "1", "k": -1}, 422),
])
def test_similar_bad_input(client, params, status):
    _error(client.get("/similar", params=params), status)


def test_recommend_history_uses_the_sequential_model_and_excludes_the_history(client):
    history = ["3", "8", "13"]
    body = client.post("/recommend/history", json=history, params={"k": 5}).json()
    assert body["model"] == "sequential"
    ids = [item["movie_id"] for item in body["items"]]
    assert len(ids) == 5 and not set(ids) & set(history)


@pytest.mark.parametrize(("payload", "status"), [
    ([], 422), (["99999"], 404), ({"history": "3"}, 422), ([["3"]], 422),
])
def test_recommend_history_bad_input(client, payload, status):
    _error(client.post("/recommend/history", json=payload), status)


def test_request_body_over_the_limit_is_413(client):
    _error(client.post("/recommend/history", content=b"[" + b'"1",' * 20000 + b'"1"]',
                       headers={"content-type": "application/json"}), 413)


def test_explain_per_feature_shapley_values_add_up_to_the_score(client):
    body = client.get("/explain", params={"user_id": "4", "movie_id": "9",
                                          "model": "hybrid"}).json()
    assert body["model"] == "hybrid" and body["explained"] == "retrieval score"
    assert "Shapley" in body["method"] and "score_features" in body["method"]
    features = [c["feature"] for c in body["contributions"]]
    assert features[:4] == ["user_id", "gender", "age", "occupation"]
    assert features[-3:] == ["movie_id", "genres", "year"]
    assert features.count("history") == 5 and "earlier history" in features
    values = {c["feature"]: c["value"] for c in body["contributions"]}
    user = client.get("/users/4").json()
    assert (values["gender"], values["age"]) == (user["gender"], user["age"])
    assert values["genres"] == ", ".join(body["movie"]["genres"])
    assert values["year"] == body["movie"]["year"]
    assert all(c["reference"] for c in body["contributions"])
    total = sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["score"] - body["baseline_score"], abs=1e-4)
    # The explained score is the one /recommend ranks the movie by.
    items = client.get("/recommend", params={"user_id": "4", "k": 60,
                                             "model": "hybrid"}).json()["items"]
    (ranked,) = [item for item in items if item["movie_id"] == "9"]
    assert ranked["score"] == pytest.approx(body["score"], abs=1e-5)


@pytest.mark.parametrize("model", ["retrieval", "mf"])
def test_explain_gives_features_a_model_does_not_read_exactly_zero(client, model):
    body = client.get("/explain", params={"user_id": "4", "movie_id": "9", "model": model}).json()
    assert body["model"] == model
    ids = [c for c in body["contributions"] if c["feature"] in ("user_id", "movie_id")]
    others = [c for c in body["contributions"] if c not in ids]
    assert others and all(c["contribution"] == 0.0 for c in others)
    assert sum(c["contribution"] for c in ids) == pytest.approx(
        body["score"] - body["baseline_score"], abs=1e-4)
    if model == "mf":  # a rating model explains its predicted rating
        assert body["explained"] == "predicted rating" and 0 < body["score"] < 6


def test_explain_falls_back_to_feature_groups_for_older_exports(client):
    """A model exported before score_features: groups through the recommend signature."""
    from recsys.serving import explain
    from recsys.serving.registry import LoadedModel

    hybrid = client.app.state.registry.get("hybrid")
    older = types.SimpleNamespace(signatures=hybrid.backend.signatures - {"score_features"},
                                  call=hybrid.backend.call)
    served = LoadedModel("hybrid", hybrid.version, hybrid.path, older, 0.0)
    body = explain.explain(served, client.app.state.service.catalogue, "4", "9")
    features = [c["feature"] for c in body["contributions"]]
    assert features[0].startswith("user profile") and "not_separable" in body
    assert sum(f.startswith("history: ") for f in features) == 5
    total = sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["score"] - body["baseline_score"], abs=1e-4)


@pytest.mark.parametrize(("params", "status"), [
    ({"user_id": "999", "movie_id": "1"}, 404), ({"user_id": "1", "movie_id": "9999"}, 404),
    ({"user_id": "1"}, 422),
])
def test_explain_bad_input(client, params, status):
    _error(client.get("/explain", params=params), status)


def test_movies_autocomplete(client):
    movies = client.get("/movies", params={"prefix": "cafe n°1", "limit": 50}).json()["movies"]
    assert {m["movie_id"] for m in movies} == {"1", *(str(i) for i in range(10, 20))}
    _error(client.get("/movies"), 422)
    _error(client.get("/movies", params={"prefix": "x", "limit": 0}), 422)


def test_users_and_unknown_paths(client):
    user = client.get("/users/2").json()
    assert user["gender"] == "M" and user["ratings"] == RATINGS_PER_USER
    assert len(user["history"]) == RATINGS_PER_USER
    _error(client.get("/users/999"), 404)
    _error(client.get("/no/such/page"), 404)


def test_metrics_count_requests_and_latency(client):
    client.get("/similar", params={"movie_id": "5"})
    client.get("/similar", params={"movie_id": "9999"})
    text = client.get("/metrics").text
    assert 'recsys_http_requests_total{endpoint="/similar",method="GET",status="200"}' in text
    assert 'recsys_http_requests_total{endpoint="/similar",method="GET",status="404"}' in text
    assert 'recsys_http_request_duration_seconds_bucket{endpoint="/similar",le="0.01"}' in text
    assert 'recsys_model_version{model="hybrid"}' in text


def test_openapi_and_ui_are_served(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommend", "/similar", "/recommend/history", "/explain", "/movies"} <= set(paths)
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'id="title-input"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code in (404, 422)
