"""Property-based: whatever a client sends, the service answers 2xx or a 4xx with a JSON error,
never a 500 (hypothesis drives the real app on tiny real models)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

TEXT = st.text(max_size=40)
PARAM_VALUES = st.one_of(TEXT, st.integers(-10**6, 10**6).map(str), st.sampled_from(
    ["1", "2", "50", "", "-1", "0", "101", "1e3", "true", "false", "hybrid", "retrieval", "mf",
     "sequential", "ranking", "nope", "Caf\u00e9", "\x00", "%00", " 1 "]))
PARAMS = st.dictionaries(
    st.sampled_from(["user_id", "movie_id", "title", "k", "model", "exclude_seen", "prefix",
                     "limit", "history"]), PARAM_VALUES, max_size=5)
GET_PATHS = ["/recommend", "/similar", "/explain", "/movies", "/users/1", "/users/abc"]
CHECKS = settings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


def _well_formed(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error, str) and error


@CHECKS
@given(path=st.sampled_from(GET_PATHS), params=PARAMS)
def test_any_query_parameters_get_a_clean_answer(client, path, params):
    _well_formed(client.get(path, params=params))


@CHECKS
@given(body=st.one_of(
    st.lists(st.one_of(TEXT, st.integers(), st.none()), max_size=30),
    st.dictionaries(TEXT, TEXT, max_size=3), TEXT, st.integers(), st.none()))
def test_any_history_body_gets_a_clean_answer(client, body):
    _well_formed(client.post("/recommend/history", json=body))
