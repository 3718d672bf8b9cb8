"""The bad-input corpus (tests/fixtures/bad/): each case's exact outcome, strict and quarantined.

Strict mode (the default of `recsys run`) stops on the first bad row with FILE:LINE: problem;
quarantine mode (`--quarantine-bad-rows`) keeps the good rows and records each bad one with its
file, line and reason. Problems of a whole file (empty, no header, a directory, two layouts in
one directory) stop the run in both modes. Repeated ratings are kept once (the latest) and
counted, or stop the run.
"""

import os
import time

import pytest

from components.movielens_example_gen import executor, rules
from components.movielens_example_gen.formats import InputDataError
from tests.fixtures.bad_corpus import BAD, parse_dir

FIELDS = "expected 4 fields (user, movie, rating, timestamp)"
COLUMNS = "userId,movieId,rating,timestamp"


def _window_end() -> str:
    return rules.utc_date(int(time.time()) + rules.LATEST_SLACK_SECONDS)

# case -> (file, line, problem) of the one bad row
BAD_ROWS = {
    "wrong_delimiter": ("u.data", 2, f"{FIELDS}, got 1: '1,2,3,881250949'"),
    "wrong_column_count": ("ratings.csv", 5, f"{FIELDS}, got 3: '2,2,4.0'"),
    "non_numeric_rating": ("ratings.csv", 2, "rating 'good' is not a number"),
    "rating_out_of_range": ("ratings.csv", 5, "rating 6.0 is outside 0.5-5.0"),
    "unknown_movie_id": ("ratings.csv", 5, "movie id '99' is not in movies.csv"),
    "unknown_user_id": ("u.data", 2, "user id '3' is not in u.user"),
    "duplicate_movie_id": ("movies.csv", 4, "duplicate movie id '2'"),
    "invalid_utf8_title": (
        "movies.csv", 4, "not valid utf-8 text (invalid continuation byte at byte 5)"),
    "huge_line": ("ratings.csv", 5, "line longer than 65536 bytes"),
    # A lone CR is no line end: two rows run together into one of 7 fields.
    "bare_cr_line_ending": (
        "ratings.csv", 2, f"{FIELDS}, got 7: '1,1,4.0,9649827031,2,3.5,964981247'"),
    # Once a struct.error in the ExampleGen's PackEvents.
    "timestamp_beyond_64_bits": (
        "ratings.csv", 5, "timestamp 99999999999999999999 does not fit in 64 bits"),
    # Once accepted, and the user's held-out item.
    "timestamp_in_year_318000": (
        "ratings.csv", 5, "timestamp 10000000000000 is outside 1995-01-01..{end} (see "
                          "--min-rating-date, --max-rating-date)"),
    "timestamp_before_1995": (
        "ratings.csv", 5, "timestamp 100000000 is outside 1995-01-01..{end} (see "
                          "--min-rating-date, --max-rating-date)"),
}
# case -> ratings that remain once the bad row is quarantined
KEPT = {"wrong_delimiter": 1, "unknown_user_id": 1, "bare_cr_line_ending": 1}
# case -> (file, what follows its path in the message) of problems that stop the run,
# quarantine or not
STOPS = {
    "empty_file": ("ratings.csv", ": file has no data rows"),
    "header_only": ("ratings.csv", ": file has no data rows"),
    # Once: its first row silently taken for a header.
    "no_header": ("ratings.csv", f":1: no header: the first line must name the columns "
                                 f"{COLUMNS} (in any order), got '1,1,4.0,964982703'"),
    "unknown_header_column": (
        "ratings.csv", f":1: unknown column 'stars' in the header; expected {COLUMNS} (in any "
                       "order)"),
    # Once: "file has no data rows".
    "ratings_is_a_directory": ("ratings.csv", ": is a directory, not a file"),
    # Once: one of the two picked silently.
    "two_layouts": ("", ": holds two MovieLens layouts, u.data (ml-100k) and ratings.csv "
                        "(ml-latest); keep one dataset per directory"),
}


def _bad_row(case: str) -> tuple[str, int, str]:
    name, line, problem = BAD_ROWS[case]
    return name, line, problem.format(end=_window_end())


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_strict_mode_names_file_line_and_problem(case):
    name, line, problem = _bad_row(case)
    with pytest.raises(InputDataError) as error:
        parse_dir(BAD / case)
    assert str(error.value) == f"{BAD / case / name}:{line}: {problem}"
    assert (error.value.line_number, error.value.problem) == (line, problem)


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_quarantine_mode_sets_the_row_aside_with_its_reason(case):
    ratings, _, rejected = parse_dir(BAD / case, quarantine=True)
    assert rejected == [_bad_row(case)]
    assert len(ratings) == KEPT.get(case, 3)


@pytest.mark.parametrize("case", sorted(STOPS))
@pytest.mark.parametrize("quarantine", [False, True])
def test_a_whole_file_problem_stops_in_both_modes(case, quarantine):
    name, message = STOPS[case]
    with pytest.raises(InputDataError) as error:
        parse_dir(BAD / case, quarantine=quarantine)
    assert str(error.value) == f"{BAD / case / name if name else BAD / case}{message}"


@pytest.mark.parametrize("quarantine", [False, True])
def test_a_symlink_loop_is_named_instead_of_a_driver_traceback(tmp_path, quarantine):
    for name in ("movies.csv", "ratings.csv"):
        (tmp_path / name).write_bytes((BAD / "bom" / name).read_bytes())
    os.remove(tmp_path / "ratings.csv")
    os.symlink("ratings.csv", tmp_path / "ratings.csv")
    with pytest.raises(InputDataError) as error:
        parse_dir(tmp_path, quarantine=quarantine)
    assert str(error.value) == (
        f"{tmp_path / 'ratings.csv'}: cannot read: Too many levels of symbolic links")


def test_an_unclosed_quote_names_the_line_it_opens_on():
    with pytest.raises(InputDataError) as error:
        parse_dir(BAD / "unclosed_quote")
    assert str(error.value) == (
        f"{BAD / 'unclosed_quote' / 'movies.csv'}:3: malformed CSV: a quoted field is never "
        "closed")
    # Quarantined, the quote swallowed the rest of the file: the ratings of the movies lost
    # with it are set aside too, so the fraction check sees them.
    ratings, movies, rejected = parse_dir(BAD / "unclosed_quote", quarantine=True)
    assert sorted(movies) == ["1"] and len(ratings) == 2
    assert rejected == [("movies.csv", 3, "malformed CSV: a quoted field is never closed"),
                        ("ratings.csv", 3, "movie id '2' is not in movies.csv")]


def test_a_repeated_rating_keeps_the_latest_and_is_counted():
    ratings, _, rejected = parse_dir(BAD / "duplicate_rating")
    events = [(rating, None) for rating in ratings if rating.user_id == "1"]
    kept, dropped = executor.latest_ratings(events, rules.DuplicatePolicy.KEEP_LATEST)
    assert sorted((r.movie_id, r.rating, r.line_number) for r, _ in kept) == [
        ("1", 2.0, 5), ("2", 3.5, 3)]
    assert [(old.line_number, new.line_number) for old, new in dropped] == [(2, 5)]
    assert rejected == []


def test_a_repeated_rating_stops_the_run_when_asked():
    ratings, _, _ = parse_dir(BAD / "duplicate_rating")
    events = [(rating, None) for rating in ratings if rating.user_id == "1"]
    with pytest.raises(InputDataError) as error:
        executor.latest_ratings(events, rules.DuplicatePolicy.ERROR)
    assert str(error.value) == (
        f"{BAD / 'duplicate_rating' / 'ratings.csv'}:5: user '1' rated movie '1' again (also "
        "on line 2); --duplicate-ratings keep-latest keeps the latest")


def test_duplicate_movie_keeps_the_first_row_when_quarantined():
    _, movies, _ = parse_dir(BAD / "duplicate_movie_id", quarantine=True)
    assert movies["2"].title == "Heat" and movies["2"].year == 1995


def test_valid_oddities_parse_to_the_same_values():
    # CRLF mixed with LF, a UTF-8 byte-order mark on both files, columns in another order than
    # GroupLens writes them: same ratings, same titles.
    expected = [("1", "1", 4.0, 964982703), ("1", "2", 3.5, 964981247),
                ("2", "1", 5.0, 964983815)]
    for case in ("mixed_line_endings", "bom", "reordered_columns"):
        ratings, movies, rejected = parse_dir(BAD / case)
        assert [(r.user_id, r.movie_id, r.rating, r.timestamp) for r in ratings] == expected
        assert movies["1"].title == "Toy Story" and rejected == []
    assert [r.line_number for r in parse_dir(BAD / "bom")[0]] == [2, 3, 4]


def test_a_quoted_title_with_a_line_break_is_one_movie():
    ratings, movies, rejected = parse_dir(BAD / "quoted_title_with_newline")
    assert (movies["2"].title, movies["2"].year) == ("American President, The", 1995)
    assert movies["2"].genres == ("Comedy", "Drama", "Romance") and rejected == []
    assert len(ratings) == 3


def test_latin1_titles_are_valid_in_ml100k():
    _, movies, _ = parse_dir(BAD / "latin1_titles")
    assert (movies["1"].title, movies["2"].title) == ("Caf\u00e9 Society", "Se\u00f1or Heat")
