"""The raw-format readers on tiny hand-made files of each GroupLens layout."""

import os
from pathlib import Path

import pytest

from components.movielens_example_gen import formats
from components.movielens_example_gen.formats import InputDataError
from tests.fixtures.movielens_files import write_ml1m, write_ml100k, write_ml_latest


def _ratings(directory: Path) -> list[formats.Rating]:
    layout = formats.detect_layout(str(directory))
    return list(formats.read_ratings(str(directory / layout.ratings_file), layout))


def test_ml100k_latin1_titles_years_genres_and_users(tmp_path):
    write_ml100k(tmp_path, users=3, movies=6, ratings_per_user=4)
    layout = formats.detect_layout(str(tmp_path))
    assert layout.name == "ml-100k"
    movies = formats.read_movies(str(tmp_path), layout)
    assert movies["1"] == formats.Movie("1", "Caf\u00e9 N\u00b01", 1971, ("Action",))
    users = formats.read_users(str(tmp_path), layout)
    assert users["2"] == formats.User("2", "M", 22, "student")
    ratings = _ratings(tmp_path)
    assert len(ratings) == 12 and all(r.line_number >= 1 for r in ratings)


def test_ml1m_double_colon_and_occupation_codes(tmp_path):
    write_ml1m(tmp_path)
    layout = formats.detect_layout(str(tmp_path))
    movies = formats.read_movies(str(tmp_path), layout)
    assert movies["2"].title == "Misérables, Les" and movies["2"].year == 1995
    assert movies["1"].genres == ("Animation", "Children's", "Comedy")
    users = formats.read_users(str(tmp_path), layout)
    assert users["1"] == formats.User("1", "F", 1, "K-12 student")
    assert users["2"].occupation == "self-employed"
    assert [(r.user_id, r.movie_id, r.rating) for r in _ratings(tmp_path)][0] == ("1", "1", 5.0)


def test_ml_latest_csv_quotes_header_and_no_genres(tmp_path):
    write_ml_latest(tmp_path)
    layout = formats.detect_layout(str(tmp_path))
    assert layout.users_file is None and formats.read_users(str(tmp_path), layout) is None
    movies = formats.read_movies(str(tmp_path), layout)
    assert movies["2"].title == "American President, The" and movies["2"].year == 1995
    assert movies["3"] == formats.Movie("3", "Unknown Film", 0, ())
    ratings = _ratings(tmp_path)
    assert [r.line_number for r in ratings] == [2, 3, 4, 5]  # the header is line 1
    assert ratings[2].rating == 0.5


@pytest.mark.parametrize("raw, title, year", [
    ("Toy Story (1995)", "Toy Story", 1995),
    ("Seven (Se7en) (1995)", "Seven (Se7en)", 1995),
    ("Babylon 5", "Babylon 5", 0),
    ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975),
])
def test_split_title_year(raw, title, year):
    assert formats.split_title_year(raw) == (title, year)


@pytest.mark.parametrize("line, problem", [
    ("1\t2\tabc\t880000000", "rating 'abc' is not a number"),
    ("1\t2\t7\t880000000", "rating 7.0 is outside 0.5-5.0"),
    ("1\t2\t3", "expected 4 fields (user, movie, rating, timestamp), got 3: '1\\t2\\t3'"),
    ("x\t2\t3\t880000000", "user id 'x' is not a positive integer"),
    ("1\t2\t3\t-5", "timestamp -5 is negative"),
    ("1\t2\tnan\t880000000", "rating is NaN"),
])
def test_bad_rating_rows_name_file_and_line(tmp_path, line, problem):
    write_ml100k(tmp_path, users=2, movies=5, ratings_per_user=2)
    with open(tmp_path / "u.data", "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(InputDataError) as error:
        _ratings(tmp_path)
    assert str(error.value) == f"{tmp_path / 'u.data'}:5: {problem}"


def test_crlf_line_ends_and_bom_are_accepted(tmp_path):
    write_ml_latest(tmp_path)
    text = (tmp_path / "ratings.csv").read_text()
    (tmp_path / "ratings.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert [r.movie_id for r in _ratings(tmp_path)] == ["1", "2", "3", "1"]


def test_invalid_utf8_title_names_the_line(tmp_path):
    write_ml_latest(tmp_path)
    with open(tmp_path / "movies.csv", "ab") as handle:
        handle.write(b"4,Bad \xff Title (2000),Drama\n")
    with pytest.raises(InputDataError, match=r"movies.csv:5: not valid utf-8 text"):
        formats.read_movies(str(tmp_path), formats.detect_layout(str(tmp_path)))


def test_duplicate_movie_id_is_an_error(tmp_path):
    write_ml1m(tmp_path)
    with open(tmp_path / "movies.dat", "a") as handle:
        handle.write("2::Again (1999)::Drama\n")
    with pytest.raises(InputDataError, match=r"movies.dat:3: duplicate movie id '2'"):
        formats.read_movies(str(tmp_path), formats.detect_layout(str(tmp_path)))


def test_empty_and_header_only_files_are_errors(tmp_path):
    write_ml_latest(tmp_path)
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(InputDataError, match="ratings.csv: file has no data rows"):
        _ratings(tmp_path)
    (tmp_path / "ratings.csv").write_text("")
    with pytest.raises(InputDataError, match="ratings.csv: file has no data rows"):
        _ratings(tmp_path)


def test_unknown_layout_and_missing_companion_file(tmp_path):
    (tmp_path / "ratings.txt").write_text("1 2 3 4\n")
    with pytest.raises(InputDataError, match="unknown MovieLens format: expected one of u.data"):
        formats.detect_layout(str(tmp_path))
    (tmp_path / "u.data").write_text("1\t1\t5\t1\n")
    with pytest.raises(InputDataError, match=r"u.item: missing: a ml-100k dataset needs it"):
        formats.detect_layout(str(tmp_path))
    with pytest.raises(InputDataError, match="no such directory"):
        formats.detect_layout(str(tmp_path / "absent"))


def test_quoted_fields_span_lines_blank_ones_included_and_later_lines_keep_their_numbers(
        tmp_path):
    write_ml_latest(tmp_path)
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,"Toy\n\nStory (1995)",Animation\n2,"Heat ""II""",Action\n'
        "2,Again,Drama\n")
    layout = formats.detect_layout(str(tmp_path))
    with pytest.raises(InputDataError, match=r"movies.csv:6: duplicate movie id '2'"):
        formats.read_movies(str(tmp_path), layout)
    rejects: list[InputDataError] = []
    movies = formats.read_movies(str(tmp_path), layout, rejects)
    assert movies["1"] == formats.Movie("1", "Toy Story", 1995, ("Animation",))
    assert movies["2"].title == 'Heat "II"' and len(rejects) == 1


def test_columns_are_matched_by_the_header_names(tmp_path):
    write_ml_latest(tmp_path)
    (tmp_path / "ratings.csv").write_text(
        "timestamp, rating ,movieId,userId\n964982703,4.0,1,7\n")
    assert [(r.user_id, r.movie_id, r.rating, r.timestamp) for r in _ratings(tmp_path)] == [
        ("7", "1", 4.0, 964982703)]


def test_an_unreadable_entry_the_run_does_not_read_still_stops_it(tmp_path):
    # TFX's ExampleGen driver stats every file of the input directory.
    write_ml_latest(tmp_path)
    os.symlink(tmp_path / "gone", tmp_path / "notes.txt")
    with pytest.raises(InputDataError) as error:
        formats.check_input(str(tmp_path))
    assert str(error.value) == f"{tmp_path / 'notes.txt'}: cannot read: No such file or directory"


def test_check_input_reads_the_presplit_files_instead_of_the_ratings_file(tmp_path):
    write_ml100k(tmp_path, users=2, movies=5, ratings_per_user=2)
    (tmp_path / "u1.base").mkdir()
    with pytest.raises(InputDataError, match=r"u1.base: is a directory, not a file"):
        formats.check_input(str(tmp_path), ("u1.base", "u1.test"))
    assert formats.check_input(str(tmp_path)).name == "ml-100k"
