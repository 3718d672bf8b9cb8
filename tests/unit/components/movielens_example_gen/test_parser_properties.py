"""Property-based tests of the raw-format parsers (hypothesis).

No test of recsys/serving request validation here: that package does not exist yet.
"""

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.movielens_example_gen import formats
from components.movielens_example_gen.formats import InputDataError

LAYOUTS = {layout.name: layout for layout in formats.LAYOUTS}
SEPARATORS = {"ml-100k": "\t", "ml-1m": "::", "ml-latest": ","}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.integers(min_value=1, max_value=10**9).map(str)
ratings = st.integers(min_value=1, max_value=10).map(lambda half_stars: half_stars / 2)
timestamps = st.integers(min_value=0, max_value=2**40)
titles = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)


@FAST
@given(st.sampled_from(sorted(LAYOUTS)), ids, ids, ratings, timestamps)
def test_valid_rating_rows_parse_to_the_same_values(layout, user, movie, rating, timestamp):
    line = SEPARATORS[layout].join([user, movie, str(rating), str(timestamp)])
    parsed = formats.parse_rating(LAYOUTS[layout], "r", 7, line)
    assert (parsed.user_id, parsed.movie_id, parsed.rating, parsed.timestamp) == (
        user, movie, rating, timestamp)
    assert (parsed.source, parsed.line_number) == ("r", 7)


@FAST
@given(ids, titles.filter(lambda t: t.strip() == t), st.integers(1900, 2099),
       st.lists(st.sampled_from(formats.ML100K_GENRES[1:]), unique=True, max_size=4))
def test_valid_csv_movie_rows_round_trip(movie, title, year, genres):
    # ml-latest quotes titles holding commas or quotes; the reader must undo exactly that.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([movie, f"{title} ({year})", "|".join(genres)])
    parsed = LAYOUTS["ml-latest"].parse_movie(formats._csv_fields(buffer.getvalue()))
    assert parsed == formats.Movie(movie, title, year, tuple(genres))


@FAST
@given(st.sampled_from(sorted(LAYOUTS)), st.text(max_size=200))
def test_junk_rating_lines_raise_only_input_data_error(layout, line):
    try:
        parsed = formats.parse_rating(LAYOUTS[layout], "r", 3, line)
    except InputDataError as error:
        assert error.path == "r" and error.line_number == 3 and error.problem
        assert "\n" not in str(error)  # one line for the CLI
    else:  # whatever parses honours the documented ranges
        assert formats.MIN_RATING <= parsed.rating <= formats.MAX_RATING
        assert parsed.timestamp >= 0 and parsed.user_id.isdigit() and parsed.movie_id.isdigit()


@FAST
@given(st.sampled_from(sorted(LAYOUTS)), st.text(max_size=200))
def test_junk_movie_and_user_lines_raise_only_input_data_error(layout_name, line):
    layout = LAYOUTS[layout_name]
    parsers = [layout.parse_movie] + ([layout.parse_user] if layout.parse_user else [])
    for parse in parsers:
        try:
            formats._parse_row("m", 4, line, lambda text, p=parse: p(layout.split_metadata(text)))
        except InputDataError as error:
            assert error.line_number == 4


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.sampled_from(["ascii", "utf-8", "latin-1"]))
def test_arbitrary_file_bytes_raise_only_input_data_error(tmp_path, content, encoding):
    path = tmp_path / "ratings"
    path.write_bytes(content)
    layout = LAYOUTS["ml-100k"]
    try:
        for number, line in formats.read_lines(str(path), encoding):
            formats.parse_rating(layout, str(path), number, line)
    except InputDataError as error:
        assert error.path == str(path)
