"""The protocols' seeded rules: validation events, held-out users and movies of COLDSTART."""

from contract import splits


def test_held_out_users_are_a_seeded_share_by_id():
    users = [str(u) for u in range(4000)]
    held = [u for u in users if splits.is_cold_user(u, 42)]
    assert abs(len(held) / len(users) - splits.COLD_USER_FRACTION) < 0.02
    assert held == [u for u in users if splits.is_cold_user(u, 42)]
    assert held != [u for u in users if splits.is_cold_user(u, 7)]


def test_cold_movies_are_those_first_rated_last_ties_broken_by_id():
    first_rated = {f"m{i:02d}": 100 + i for i in range(40)} | {"a": 200, "b": 200}
    cold = splits.cold_movies(first_rated)
    assert len(cold) == int(42 * splits.COLD_MOVIE_FRACTION) == 2
    assert cold == {"a", "b"}
    first_rated["c"] = 200
    assert splits.cold_movies(first_rated) == {"b", "c"}  # 43 movies: still 2, by id


def test_a_held_out_user_is_asked_with_the_given_ratings_it_has():
    assert splits.given_ratings(10) == list(splits.GIVEN_RATINGS)
    assert splits.given_ratings(4) == [0, 1, 3]
    assert splits.given_ratings(1) == [0]


def test_coldstart_takes_validation_events_as_topk_does():
    base = [splits.TRAIN, splits.EVAL, splits.TRAIN, splits.TRAIN]
    assert splits.with_validation(splits.Protocol.COLDSTART, base, [1, 2, 3, 4]) == [
        splits.TRAIN, splits.EVAL, splits.TRAIN, splits.VALIDATION]
