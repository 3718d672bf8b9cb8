"""`recsys synth`: deterministic, readable by the project's own parser, realistic, streaming."""

from __future__ import annotations

import collections
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from components.movielens_example_gen import formats
from recsys import cli
from recsys.data import synth
from tests.fixtures.bad_corpus import default_window


def _read(directory: Path) -> tuple[dict[str, formats.Movie], list[formats.Rating]]:
    """The dataset as the ExampleGen reads it (layout detection, strict parsing, the default
    timestamp window)."""
    layout = formats.detect_layout(str(directory))
    assert layout.name == "ml-latest"
    movies = formats.read_movies(str(directory), layout)
    ratings = list(formats.read_ratings(str(directory / layout.ratings_file), layout,
                                        default_window()))
    return movies, ratings


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[synth.Summary, dict[str, formats.Movie],
                                       list[formats.Rating]]:
    """60K ratings written in small chunks, and what the parser reads back."""
    directory = tmp_path_factory.mktemp("synth")
    summary = synth.write_dataset(directory, users=600, movies=800, ratings=60_000, seed=3,
                                  chunk_ratings=4_096)
    return summary, *_read(directory)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        synth.write_dataset(tmp_path / name, users=50, movies=120, ratings=2_000, seed=seed)
    for file in ("ratings.csv", "movies.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert (tmp_path / "a" / "ratings.csv").read_bytes() != (
        tmp_path / "c" / "ratings.csv").read_bytes()


def test_the_parser_reads_every_row_and_no_pair_repeats(dataset) -> None:
    summary, movies, ratings = dataset
    assert len(movies) == summary.movies and len(ratings) == summary.ratings == 60_000
    assert {r.movie_id for r in ratings} <= set(movies)
    assert len({(r.user_id, r.movie_id) for r in ratings}) == len(ratings)
    per_user = collections.Counter(r.user_id for r in ratings)
    assert len(per_user) == summary.users and min(per_user.values()) >= 5
    assert all(movie.year >= 1900 and movie.title for movie in movies.values())
    assert any(", The" in movie.title for movie in movies.values())  # quoted CSV titles
    assert {g for movie in movies.values() for g in movie.genres} <= set(synth.GENRE_WEIGHTS)
    assert {r.rating for r in ratings} <= {x / 2 for x in range(1, 11)}


def test_users_are_contiguous_and_their_timestamps_strictly_increase(dataset) -> None:
    _, _, ratings = dataset
    seen, previous = set(), None
    for rating in ratings:
        if previous is None or rating.user_id != previous.user_id:
            assert rating.user_id not in seen, "a user's ratings are split"
            seen.add(rating.user_id)
        else:
            assert rating.timestamp > previous.timestamp
        assert rating.timestamp >= synth.FIRST_TIMESTAMP
        previous = rating


def test_popularity_and_activity_are_skewed(dataset) -> None:
    _, _, ratings = dataset
    per_movie = sorted(collections.Counter(r.movie_id for r in ratings).values(), reverse=True)
    top_tenth = sum(per_movie[: 800 // 10]) / len(ratings)
    assert top_tenth > 0.3  # 10 % of the movies, 3x their share at least
    per_user = np.array(list(collections.Counter(r.user_id for r in ratings).values()))
    assert per_user.max() > 4 * np.median(per_user)


def test_users_prefer_a_genre_and_rate_it_higher(dataset) -> None:
    """Each user's most over-represented genre (against all ratings) is far above its share
    for most users, and rated higher than the user's other movies."""
    _, movies, ratings = dataset
    by_user = collections.defaultdict(list)
    for rating in ratings:
        by_user[rating.user_id].append(rating)
    overall = collections.Counter(g for r in ratings for g in movies[r.movie_id].genres)
    lifts, inside, outside = [], [], []
    for user_ratings in by_user.values():
        if len(user_ratings) < 30:
            continue
        genres = collections.Counter(g for r in user_ratings for g in movies[r.movie_id].genres)
        lift, favourite = max(((count / len(user_ratings)) / (overall[g] / len(ratings)), g)
                              for g, count in genres.items() if count >= 5)
        lifts.append(lift)
        for r in user_ratings:
            (inside if favourite in movies[r.movie_id].genres else outside).append(r.rating)
    # Without genre preference: a median lift of ~1.5 (noise) and ratings ~0.07 apart.
    assert np.median(lifts) > 1.75
    assert np.mean(inside) > np.mean(outside) + 0.25


def test_memory_does_not_grow_with_the_number_of_ratings(tmp_path: Path) -> None:
    """Traced peak with 8x more ratings stays flat: only one chunk is ever held (writing the
    160K ratings as one chunk peaks at ~37 MiB)."""
    peaks = []
    for ratings in (20_000, 160_000):
        tracemalloc.start()
        synth.write_dataset(tmp_path / str(ratings), users=2_000, movies=1_000,
                            ratings=ratings, chunk_ratings=8_192)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 5 * 2**20
    assert peaks[1] < 1.5 * peaks[0]


def test_a_dense_request_rates_every_movie_once(tmp_path: Path) -> None:
    summary = synth.write_dataset(tmp_path, users=12, movies=30, ratings=12 * 30)
    _, ratings = _read(tmp_path)
    assert summary.rated_movies == 30
    assert len({(r.user_id, r.movie_id) for r in ratings}) == 12 * 30


def test_counts_sum_exactly_within_bounds() -> None:
    counts = synth.ratings_per_user(np.random.default_rng(0), 1_000, 50, 20_000, 5)
    assert counts.sum() == 20_000 and counts.min() >= 5 and counts.max() <= 50
    chunks = list(synth.user_chunks(counts, 1_000))
    assert chunks[0].start == 0 and chunks[-1].stop == 1_000
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert all(counts[c].sum() <= 1_000 or c.stop - c.start == 1 for c in chunks)


@pytest.mark.parametrize(("users", "movies", "ratings", "message"), [
    (0, 10, 10, "--users and --movies must be at least 1"),
    (10, 0, 10, "--users and --movies must be at least 1"),
    (10, 100, 49, "less than --users x --min-ratings-per-user = 50"),
    (10, 3, 30, "--min-ratings-per-user 5 exceeds --movies 3"),
    (10, 6, 61, "exceeds --users x --movies = 60"),
])
def test_bad_counts_are_one_line_errors_exit_2(tmp_path, capsys, users, movies, ratings,
                                                message) -> None:
    status = cli.main(["synth", "--users", str(users), "--movies", str(movies),
                       "--ratings", str(ratings), "--output-dir", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2 and error.startswith("recsys: error: ") and message in error
    assert error.count("\n") == 1 and not (tmp_path / "out").exists()


def test_cli_writes_the_dataset_and_says_what(tmp_path, capsys) -> None:
    assert cli.main(["synth", "--users", "40", "--movies", "90", "--ratings", "1000",
                     "--seed", "5", "--output-dir", str(tmp_path)]) == 0
    assert "wrote 1,000 ratings of 40 users" in capsys.readouterr().out
    assert len(_read(tmp_path)[1]) == 1000
