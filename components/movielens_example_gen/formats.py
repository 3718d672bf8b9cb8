"""Readers for the raw GroupLens MovieLens releases.

Supported layouts (detected from the files present in the input directory):

| layout | ratings | movies | users |
| --- | --- | --- | --- |
| ml-100k | u.data (tab-separated) | u.item (` | `, Latin-1, 19 flags) | u.user (` | `) |
| ml-1m | ratings.dat (`::`) | movies.dat (`::`, Latin-1) | users.dat (`::`) |
| ml-latest | ratings.csv (header) | movies.csv (CSV, UTF-8) | none |

ml-latest covers ml-latest-small, ml-20m and ml-25m. Every parse error raises
`InputDataError` naming the file and the 1-based line, so a user sees
"u.data:17: rating 'x' is not a number" instead of a Beam traceback.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

import tensorflow as tf

from components.movielens_example_gen.errors import InputDataError
from contract.features import MAX_RATING, MIN_RATING  # the rating scale, defined once

# ML-100K's u.item has 19 genre flags in this order (u.genre lists the same names).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
# ML-1M's users.dat stores occupations as codes; its README gives the names.
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
NO_GENRES = "(no genres listed)"
MAX_LINE_BYTES = 1 << 16  # no legitimate MovieLens line comes near this
_SCAN_BLOCK_BYTES = 16 << 20

_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_RELEASE_DATE_YEAR = re.compile(r"(\d{4})$")


@dataclasses.dataclass(frozen=True)
class Movie:
    movie_id: str
    title: str
    year: int  # 0 when unknown
    genres: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class User:
    user_id: str
    gender: str
    age: int
    occupation: str


@dataclasses.dataclass(frozen=True)
class Rating:
    """One rating event; `line_number` is its 1-based line in `source`."""

    user_id: str
    movie_id: str
    rating: float
    timestamp: int
    source: str
    line_number: int


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a dataset's files are and how each line of them is parsed."""

    name: str
    ratings_file: str
    movies_file: str
    users_file: str | None
    encoding: str  # of the movies file; ids and numbers are ASCII everywhere
    split_ratings: Callable[[str], list[str]]
    split_metadata: Callable[[str], list[str]]  # movies and users files
    parse_movie: Callable[[list[str]], Movie]
    parse_user: Callable[[list[str]], User] | None
    header: bool = False


def split_title_year(raw_title: str) -> tuple[str, int]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); a title without a year keeps year 0."""
    match = _TITLE_YEAR.match(raw_title.strip())
    if not match:
        return raw_title.strip(), 0
    return match.group("title"), int(match.group("year"))


def _ml100k_movie(fields: list[str]) -> Movie:
    if len(fields) != 5 + len(ML100K_GENRES):
        expected = 5 + len(ML100K_GENRES)
        raise ValueError(f"expected {expected} '|'-separated fields, got {len(fields)}")
    title, year = split_title_year(fields[1])
    if not year:
        date_year = _RELEASE_DATE_YEAR.search(fields[2].strip())
        year = int(date_year.group(1)) if date_year else 0
    flags = fields[5:]
    if any(flag not in ("0", "1") for flag in flags):
        raise ValueError("genre flags must be 0 or 1")
    genres = tuple(g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1")
    return Movie(fields[0], title, year, genres)


def _genre_list_movie(fields: list[str]) -> Movie:
    if len(fields) != 3:
        raise ValueError(f"expected 3 fields (id, title, genres), got {len(fields)}")
    title, year = split_title_year(fields[1])
    genres = tuple(g for g in fields[2].split("|") if g and g != NO_GENRES)
    return Movie(fields[0], title, year, genres)


def _ml100k_user(fields: list[str]) -> User:
    if len(fields) != 5:
        raise ValueError(f"expected 5 '|'-separated fields, got {len(fields)}")
    return User(fields[0], fields[2], _parse_int(fields[1], "age"), fields[3])


def _ml1m_user(fields: list[str]) -> User:
    if len(fields) != 5:
        raise ValueError(f"expected 5 '::'-separated fields, got {len(fields)}")
    code = _parse_int(fields[3], "occupation code")
    if not 0 <= code < len(ML1M_OCCUPATIONS):
        raise ValueError(f"occupation code {code} is not in 0..{len(ML1M_OCCUPATIONS) - 1}")
    return User(fields[0], fields[1], _parse_int(fields[2], "age"), ML1M_OCCUPATIONS[code])


def _csv_fields(line: str) -> list[str]:
    return next(csv.reader([line]))


def _split_on(separator: str) -> Callable[[str], list[str]]:
    return lambda line: line.split(separator)


LAYOUTS = (
    Layout("ml-100k", "u.data", "u.item", "u.user", "latin-1", _split_on("\t"), _split_on("|"),
           _ml100k_movie, _ml100k_user),
    Layout("ml-1m", "ratings.dat", "movies.dat", "users.dat", "latin-1", _split_on("::"),
           _split_on("::"), _genre_list_movie, _ml1m_user),
    Layout("ml-latest", "ratings.csv", "movies.csv", None, "utf-8", _csv_fields, _csv_fields,
           _genre_list_movie, None, header=True),
)


def detect_layout(data_dir: str) -> Layout:
    """The layout whose ratings file is in `data_dir`; a clear error when none is."""
    if not tf.io.gfile.isdir(data_dir):
        raise InputDataError(data_dir, None, "no such directory")
    for layout in LAYOUTS:
        if tf.io.gfile.exists(os.path.join(data_dir, layout.ratings_file)):
            for required in (layout.movies_file, layout.users_file):
                if required and not tf.io.gfile.exists(os.path.join(data_dir, required)):
                    raise InputDataError(
                        os.path.join(data_dir, required), None,
                        f"missing: a {layout.name} dataset needs it beside {layout.ratings_file}")
            return layout
    expected = ", ".join(f"{layout.ratings_file} ({layout.name})" for layout in LAYOUTS)
    raise InputDataError(
        data_dir, None, f"unknown MovieLens format: expected one of {expected}")


def read_lines(
    path: str, encoding: str, skip_header: bool = False,
    rejects: list[InputDataError] | None = None, line_range: LineRange | None = None,
) -> Iterator[tuple[int, str]]:
    """Yields (1-based line number, text) of the non-blank lines, streaming.

    Accepts LF and CRLF line ends and a UTF-8 byte-order mark; rejects undecodable bytes and
    absurdly long lines with the line number. With `rejects` (quarantine mode) such a line is
    appended there and skipped instead of stopping the read. With `line_range` (see
    `line_ranges`) only that part of the file is read, with the same line numbers; a file
    without data rows is then the caller's check.
    """
    if not tf.io.gfile.exists(path):
        raise InputDataError(path, None, "no such file")
    start, end, first_number = line_range or LineRange(0, None, 1)
    rows = 0  # non-blank data lines, good or rejected
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(start)
        for number, raw in enumerate(handle, start=first_number):
            # tell(), not len(raw): GFile reads "\r\n" as "\n".
            if end is not None and handle.tell() > end:
                break
            try:
                text = _decode_line(path, number, raw, encoding)
            except InputDataError as error:
                if rejects is None:
                    raise
                rejects.append(error)
                rows += 1
                continue
            if (number == 1 and skip_header) or not text.strip():
                continue
            rows += 1
            yield number, text
    if not rows and line_range is None:
        raise InputDataError(path, None, "file has no data rows")


class LineRange(NamedTuple):
    """Whole lines of a file: bytes [start, end) (end None: to the end of the file), the
    first of them being line `first_number`."""

    start: int
    end: int | None
    first_number: int


def line_ranges(path: str, target_bytes: int) -> list[LineRange]:
    """Consecutive LineRanges of about `target_bytes` covering the file, split after a newline,
    with their line numbers: one pass counting newlines, so the parts can be read in parallel
    and still name the lines of the file in errors."""
    ranges: list[LineRange] = []
    start, first_number = 0, 1
    offset, newlines = 0, 0  # bytes and newlines before the current block
    with tf.io.gfile.GFile(path, "rb") as handle:
        while block := handle.read(_SCAN_BLOCK_BYTES):
            search = max(start + target_bytes - offset, 0)
            while search < len(block) and (newline := block.find(b"\n", search)) >= 0:
                end = offset + newline + 1
                ranges.append(LineRange(start, end, first_number))
                start = end
                first_number = 1 + newlines + block.count(b"\n", 0, newline + 1)
                search = start + target_bytes - offset
            offset += len(block)
            newlines += block.count(b"\n")
    if offset > start or not ranges:
        ranges.append(LineRange(start, None, first_number))
    return ranges


def _decode_line(path: str, number: int, raw: bytes, encoding: str) -> str:
    if len(raw) > MAX_LINE_BYTES:
        raise InputDataError(path, number, f"line longer than {MAX_LINE_BYTES} bytes")
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise InputDataError(
            path, number, f"not valid {encoding} text ({error.reason} at byte "
            f"{error.start})") from None


def read_movies(
    data_dir: str, layout: Layout, rejects: list[InputDataError] | None = None
) -> dict[str, Movie]:
    """movie id -> Movie; duplicate ids and malformed rows are errors naming the line.

    With `rejects` (quarantine mode) bad rows are appended there and left out; a duplicate id
    keeps the first row.
    """
    path = os.path.join(data_dir, layout.movies_file)
    return _read_keyed(path, layout.encoding, layout.header, rejects, "movie id",
                       lambda text: layout.parse_movie(layout.split_metadata(text)),
                       lambda movie: movie.movie_id)


def read_users(
    data_dir: str, layout: Layout, rejects: list[InputDataError] | None = None
) -> dict[str, User] | None:
    """user id -> User, or None for layouts without demographics."""
    if layout.users_file is None or layout.parse_user is None:
        return None
    path = os.path.join(data_dir, layout.users_file)
    return _read_keyed(path, layout.encoding, False, rejects, "user id",
                       lambda text: layout.parse_user(layout.split_metadata(text)),
                       lambda user: user.user_id)


def _read_keyed(path, encoding, header, rejects, what, parse, key) -> dict:
    """Rows of a metadata file by id; errors raise, or go to `rejects` when it is a list."""
    rows: dict = {}
    for number, line in read_lines(path, encoding, header, rejects):
        try:
            row = _parse_row(path, number, line, parse)
            if key(row) in rows:
                raise InputDataError(path, number, f"duplicate {what} {key(row)!r}")
        except InputDataError as error:
            if rejects is None:
                raise
            rejects.append(error)
            continue
        rows[key(row)] = row
    return rows


def parse_rating(layout: Layout, path: str, number: int, line: str) -> Rating:
    """Parses one ratings line (any layout) into a Rating, validating every field."""

    def parse(text: str) -> Rating:
        fields = layout.split_ratings(text)
        if len(fields) != 4:
            raise ValueError(f"expected 4 fields (user, movie, rating, timestamp), got "
                             f"{len(fields)}: {text[:80]!r}")
        user_id, movie_id = fields[0].strip(), fields[1].strip()
        for name, value in (("user id", user_id), ("movie id", movie_id)):
            if not value.isdigit():
                raise ValueError(f"{name} {value!r} is not a positive integer")
        rating = _parse_float(fields[2], "rating")
        if not MIN_RATING <= rating <= MAX_RATING:
            raise ValueError(f"rating {rating} is outside {MIN_RATING}-{MAX_RATING}")
        timestamp = _parse_int(fields[3], "timestamp")
        if timestamp < 0:
            raise ValueError(f"timestamp {timestamp} is negative")
        return Rating(user_id, movie_id, rating, timestamp, path, number)

    return _parse_row(path, number, line, parse)


def _parse_row(path: str, number: int, line: str, parse: Callable[[str], object]):
    try:
        return parse(line)
    except ValueError as error:
        if isinstance(error, InputDataError):
            raise
        raise InputDataError(path, number, str(error)) from None
    except csv.Error as error:
        raise InputDataError(path, number, f"malformed CSV: {error}") from None


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not an integer") from None


def _parse_float(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a number") from None
    if value != value:  # NaN
        raise ValueError(f"{what} is NaN")
    return value


def rejected_row(error: InputDataError) -> dict[str, object]:
    """The quarantine record of a rejected row: where it is and why it was left out."""
    return {"file": error.path, "line": error.line_number, "reason": error.problem}
