"""The bad-input corpus (tests/fixtures/bad/): each case's exact outcome, strict and quarantined.

Strict mode (the default of `recsys run`) stops on the first bad row with FILE:LINE: problem;
quarantine mode (`--quarantine-bad-rows`) keeps the good rows and records each bad one with its
file, line and reason. Empty or header-only files stop the run in both modes.
"""

import pytest

from components.movielens_example_gen.formats import InputDataError
from tests.fixtures.bad_corpus import BAD, parse_dir

FIELDS = "expected 4 fields (user, movie, rating, timestamp)"

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
}
# case -> ratings that remain once the bad row is quarantined
KEPT = {"wrong_delimiter": 1, "unknown_user_id": 1, "bare_cr_line_ending": 1}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_strict_mode_names_file_line_and_problem(case):
    name, line, problem = BAD_ROWS[case]
    with pytest.raises(InputDataError) as error:
        parse_dir(BAD / case)
    assert str(error.value) == f"{BAD / case / name}:{line}: {problem}"
    assert (error.value.line_number, error.value.problem) == (line, problem)


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_quarantine_mode_sets_the_row_aside_with_its_reason(case):
    ratings, _, rejected = parse_dir(BAD / case, quarantine=True)
    assert rejected == [BAD_ROWS[case]]
    assert len(ratings) == KEPT.get(case, 3)


@pytest.mark.parametrize("case", ["empty_file", "header_only"])
@pytest.mark.parametrize("quarantine", [False, True])
def test_a_ratings_file_without_rows_stops_in_both_modes(case, quarantine):
    with pytest.raises(InputDataError) as error:
        parse_dir(BAD / case, quarantine=quarantine)
    assert str(error.value) == f"{BAD / case / 'ratings.csv'}: file has no data rows"


def test_duplicate_movie_keeps_the_first_row_when_quarantined():
    _, movies, _ = parse_dir(BAD / "duplicate_movie_id", quarantine=True)
    assert movies["2"].title == "Heat" and movies["2"].year == 1995


def test_valid_oddities_parse_to_the_same_values():
    # CRLF mixed with LF, and a UTF-8 byte-order mark on both files: same ratings, same titles.
    expected = [("1", "1", 4.0, 964982703), ("1", "2", 3.5, 964981247),
                ("2", "1", 5.0, 964983815)]
    for case in ("mixed_line_endings", "bom"):
        ratings, movies, rejected = parse_dir(BAD / case)
        assert [(r.user_id, r.movie_id, r.rating, r.timestamp) for r in ratings] == expected
        assert movies["1"].title == "Toy Story" and rejected == []
    assert [r.line_number for r in parse_dir(BAD / "bom")[0]] == [2, 3, 4]


def test_latin1_titles_are_valid_in_ml100k():
    _, movies, _ = parse_dir(BAD / "latin1_titles")
    assert (movies["1"].title, movies["2"].title) == ("Caf\u00e9 Society", "Se\u00f1or Heat")
