"""Readers for the raw GroupLens MovieLens releases.

Supported layouts (detected from the files present in the input directory):

| layout | ratings | movies | users |
| --- | --- | --- | --- |
| ml-100k | u.data (tab-separated) | u.item (` | `, Latin-1, 19 flags) | u.user (` | `) |
| ml-1m | ratings.dat (`::`) | movies.dat (`::`, Latin-1) | users.dat (`::`) |
| ml-latest | ratings.csv (header) | movies.csv (CSV, UTF-8) | none |

ml-latest covers ml-latest-small, ml-20m and ml-25m; its CSV files are read as CSV says (quoted
fields, a title spanning lines) and their columns are matched by the header's names. Every
parse error raises `InputDataError` naming the file and the 1-based line, so a user sees
"u.data:17: rating 'x' is not a number" instead of a Beam traceback; so does a file the file
system cannot read (a symlink loop, no permission).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import tensorflow as tf

from components.movielens_example_gen.errors import InputDataError
from components.movielens_example_gen.rules import TimestampWindow, timestamp_problem
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
_LINE_BREAK = re.compile(r"[ \t]*[\r\n]+[ \t]*")


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


# ml-latest's CSV headers; a file's columns may come in any order and are matched by these names.
RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIE_COLUMNS = ("movieId", "title", "genres")


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
    # CSV layouts: the column names their ratings and movies files must start with.
    rating_columns: tuple[str, ...] | None = None
    movie_columns: tuple[str, ...] | None = None

    @property
    def header(self) -> bool:
        """Whether the ratings and movies files start with a header line (CSV)."""
        return self.rating_columns is not None


# Where each field of a row is: the identity for layouts without a header, else from the header.
Columns = tuple[int, ...]
RATING_ORDER: Columns = (0, 1, 2, 3)


def split_title_year(raw_title: str) -> tuple[str, int]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); a title without a year keeps year 0. A line
    break (inside a quoted CSV title) becomes one space."""
    title = _LINE_BREAK.sub(" ", raw_title).strip()
    match = _TITLE_YEAR.match(title)
    if not match:
        return title, 0
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
    """One CSV line's fields (ratings rows are one line each: no field spans lines)."""
    return next(csv.reader([line], strict=True))


def _split_on(separator: str) -> Callable[[str], list[str]]:
    return lambda line: line.split(separator)


LAYOUTS = (
    Layout("ml-100k", "u.data", "u.item", "u.user", "latin-1", _split_on("\t"), _split_on("|"),
           _ml100k_movie, _ml100k_user),
    Layout("ml-1m", "ratings.dat", "movies.dat", "users.dat", "latin-1", _split_on("::"),
           _split_on("::"), _genre_list_movie, _ml1m_user),
    Layout("ml-latest", "ratings.csv", "movies.csv", None, "utf-8", _csv_fields, _csv_fields,
           _genre_list_movie, None, rating_columns=RATING_COLUMNS, movie_columns=MOVIE_COLUMNS),
)


def detect_layout(data_dir: str) -> Layout:
    """The one layout whose ratings file is in `data_dir`; a clear error when none is, when
    two are, when a file it needs is missing, or when an entry of `data_dir` cannot be read
    (TFX's ExampleGen driver fingerprints them all; a symlink loop would stop it)."""
    if not _guarded(data_dir, tf.io.gfile.exists):
        raise InputDataError(data_dir, None, "no such directory")
    if not _guarded(data_dir, tf.io.gfile.isdir):
        raise InputDataError(data_dir, None, "not a directory")
    for name in _guarded(data_dir, tf.io.gfile.listdir):
        _guarded(os.path.join(data_dir, name), tf.io.gfile.stat)
    present = [layout for layout in LAYOUTS
               if tf.io.gfile.exists(os.path.join(data_dir, layout.ratings_file))]
    if len(present) > 1:
        found = " and ".join(f"{layout.ratings_file} ({layout.name})" for layout in present)
        raise InputDataError(data_dir, None, f"holds two MovieLens layouts, {found}; "
                             "keep one dataset per directory")
    if not present:
        expected = ", ".join(f"{layout.ratings_file} ({layout.name})" for layout in LAYOUTS)
        raise InputDataError(
            data_dir, None, f"unknown MovieLens format: expected one of {expected}")
    layout = present[0]
    for required in (layout.movies_file, layout.users_file):
        if required and not tf.io.gfile.exists(os.path.join(data_dir, required)):
            raise InputDataError(
                os.path.join(data_dir, required), None,
                f"missing: a {layout.name} dataset needs it beside {layout.ratings_file}")
    return layout


def check_input(data_dir: str, rating_files: tuple[str, ...] = ()) -> Layout:
    """Everything a run will read, checked before any work: the layout (`detect_layout`) and
    each file the run reads (the layout's; `rating_files`, relative to `data_dir`, instead of
    its ratings file when given), which must be a file it can read. Raises InputDataError
    naming the path."""
    layout = detect_layout(data_dir)
    needed = [layout.movies_file, layout.users_file, *(rating_files or [layout.ratings_file])]
    for name in filter(None, needed):
        path = os.path.join(data_dir, name)
        with _opened(path) as handle:
            _guarded(path, lambda _, h=handle: h.read(1))
    return layout


def _check_file(path: str) -> None:
    """InputDataError unless `path` exists and is not a directory."""
    if not _guarded(path, tf.io.gfile.exists):
        raise InputDataError(path, None, "no such file")
    if _guarded(path, tf.io.gfile.isdir):
        raise InputDataError(path, None, "is a directory, not a file")


def _guarded(path: str, action: Callable[[str], Any]) -> Any:
    """`action(path)`, the file layer's errors raised as InputDataError (`_read_error`)."""
    try:
        return action(path)
    except (tf.errors.OpError, OSError) as error:
        raise _read_error(path, error) from error


def _read_error(path: str, error: Exception) -> InputDataError:
    """An error of the file layer (TensorFlow's or the OS's: a symlink loop, no permission) as
    an InputDataError naming `path`. TensorFlow's messages start with the path ('PATH; Too
    many levels of symbolic links')."""
    reason = str(getattr(error, "message", None) or getattr(error, "strerror", None) or error)
    return InputDataError(path, None, f"cannot read: {reason.removeprefix(path).lstrip(';: ')}")


@contextlib.contextmanager
def _opened(path: str) -> Iterator[Any]:
    """The file `path` opened for reading (binary), checked to be a file."""
    _check_file(path)
    handle = _guarded(path, lambda p: tf.io.gfile.GFile(p, "rb"))
    try:
        yield handle
    finally:
        handle.close()


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
    rows = 0  # non-blank data lines, good or rejected
    for number, text in _all_lines(path, encoding, rejects, line_range):
        if text is None:
            rows += 1
            continue
        if (number == 1 and skip_header) or not text.strip():
            continue
        rows += 1
        yield number, text
    if not rows and line_range is None:
        raise InputDataError(path, None, "file has no data rows")


def _all_lines(
    path: str, encoding: str, rejects: list[InputDataError] | None,
    line_range: LineRange | None = None,
) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of every line, blank ones too; None for a line set aside in
    `rejects` (quarantine mode; without it such a line raises)."""
    start, end, first_number = line_range or LineRange(0, None, 1)
    with _opened(path) as handle:
        try:
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
                    text = None
                yield number, text
        except (tf.errors.OpError, OSError) as error:
            raise _read_error(path, error) from error


def csv_records(
    path: str, encoding: str, columns: tuple[str, ...],
    rejects: list[InputDataError] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields) of each data record of a CSV file whose header
    names `columns` (`header_order`), the fields in `columns` order, read as CSV says: a quoted
    field may hold commas, doubled quotes and line breaks. A bad record raises, or goes to
    `rejects` in quarantine mode; a file without data records raises."""
    reader = _CsvReader(path, _all_lines(path, encoding, rejects))
    order: Columns | None = None
    rows = 0
    for number, fields in reader:
        if isinstance(fields, InputDataError):
            if order is None or rejects is None:
                raise fields
            rejects.append(fields)
        elif order is None:
            order = header_order(path, fields, columns)
            continue
        elif len(fields) <= 1 and not "".join(fields).strip():
            continue  # a blank line
        else:
            yield number, [fields[i] for i in order] if len(fields) == len(columns) else fields
        rows += 1
    if not rows + reader.rejected_lines:
        raise InputDataError(path, None, "file has no data rows")


class _CsvReader:
    """Iterates (start line, fields or InputDataError) over the CSV records of `lines`
    (numbered, blank ones included; None for a line already rejected), a record spanning as
    many lines as its quoted fields do."""

    def __init__(self, path: str, lines: Iterator[tuple[int, str | None]]) -> None:
        self._path, self._lines = path, lines
        self._start: int | None = None
        self.rejected_lines = 0
        self._reader = csv.reader(self._texts(), strict=True)

    def _texts(self) -> Iterator[str]:
        for number, text in self._lines:
            if text is None:
                self.rejected_lines += 1
                continue
            if self._start is None:
                self._start = number
            yield text + "\n"

    def __iter__(self) -> Iterator[tuple[int, list[str] | InputDataError]]:
        while True:
            self._start = None
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield self._start or 1, InputDataError(
                    self._path, self._start, f"malformed CSV: {_csv_problem(error)}")
                continue
            yield self._start or 1, fields


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text:
        return "a quoted field is never closed"
    return text


def header_order(path: str, fields: list[str], columns: tuple[str, ...]) -> Columns:
    """Where each of `columns` is among a header line's `fields` (any order); InputDataError
    (line 1 of `path`) when the line is no header, or names a column twice, an unknown one or
    not all of them."""
    names = [field.strip() for field in fields]
    expected = ",".join(columns)
    if not set(names) & set(columns):
        raise InputDataError(path, 1, f"no header: the first line must name the columns "
                             f"{expected} (in any order), got {','.join(fields)[:80]!r}")
    for name in names:
        if name not in columns:
            raise InputDataError(path, 1, f"unknown column {name!r} in the header; expected "
                                 f"{expected} (in any order)")
        if names.count(name) > 1:
            raise InputDataError(path, 1, f"column {name!r} appears twice in the header")
    missing = [name for name in columns if name not in names]
    if missing:
        raise InputDataError(path, 1, f"the header has no {missing[0]!r} column; expected "
                             f"{expected} (in any order)")
    return tuple(names.index(name) for name in columns)


def rating_order(path: str, layout: Layout) -> Columns:
    """Where user, movie, rating and timestamp are in each row of the ratings file `path`: from
    its header in CSV layouts (checked), fixed otherwise."""
    if layout.rating_columns is None:
        return RATING_ORDER
    for number, text in _all_lines(path, "utf-8", None, LineRange(0, None, 1)):
        try:
            fields = layout.split_ratings(text)
        except csv.Error as error:
            raise InputDataError(path, number, f"malformed CSV: {_csv_problem(error)}"
                                 ) from None
        return header_order(path, fields, layout.rating_columns)
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
    with _opened(path) as handle:
        while block := _guarded(path, lambda _: handle.read(_SCAN_BLOCK_BYTES)):
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
    return _read_keyed(path, _metadata_rows(path, layout, layout.movie_columns, rejects),
                       rejects, "movie id", layout.parse_movie, lambda movie: movie.movie_id)


def read_users(
    data_dir: str, layout: Layout, rejects: list[InputDataError] | None = None
) -> dict[str, User] | None:
    """user id -> User, or None for layouts without demographics."""
    if layout.users_file is None or layout.parse_user is None:
        return None
    path = os.path.join(data_dir, layout.users_file)
    return _read_keyed(path, _metadata_rows(path, layout, None, rejects), rejects, "user id",
                       layout.parse_user, lambda user: user.user_id)


def _metadata_rows(path, layout, columns, rejects) -> Iterator[tuple[int, Any]]:
    """(line number, fields) of a movies or users file; CSV records when it has `columns`."""
    if columns is not None:
        yield from csv_records(path, layout.encoding, columns, rejects)
        return
    for number, line in read_lines(path, layout.encoding, False, rejects):
        yield number, layout.split_metadata(line)


def _read_keyed(path, rows, rejects, what, parse, key) -> dict:
    """Rows of a metadata file by id; errors raise, or go to `rejects` when it is a list."""
    by_key: dict = {}
    for number, fields in rows:
        try:
            row = _parse_row(path, number, fields, parse)
            if key(row) in by_key:
                raise InputDataError(path, number, f"duplicate {what} {key(row)!r}")
        except InputDataError as error:
            if rejects is None:
                raise
            rejects.append(error)
            continue
        by_key[key(row)] = row
    return by_key


def parse_rating(
    layout: Layout, path: str, number: int, line: str, order: Columns = RATING_ORDER,
    window: TimestampWindow | None = None,
) -> Rating:
    """Parses one ratings line (any layout) into a Rating, validating every field: its fields
    are in `order` (see `rating_order`), its timestamp in `window` (None: any that fits in 64
    bits and is not negative)."""

    def parse(text: str) -> Rating:
        fields = layout.split_ratings(text)
        if len(fields) != 4:
            raise ValueError(f"expected 4 fields (user, movie, rating, timestamp), got "
                             f"{len(fields)}: {text[:80]!r}")
        user_id, movie_id, stars, time = (fields[i].strip() for i in order)
        for name, value in (("user id", user_id), ("movie id", movie_id)):
            if not value.isdigit():
                raise ValueError(f"{name} {value!r} is not a positive integer")
        rating = _parse_float(stars, "rating")
        if not MIN_RATING <= rating <= MAX_RATING:
            raise ValueError(f"rating {rating} is outside {MIN_RATING}-{MAX_RATING}")
        timestamp = _parse_int(time, "timestamp")
        problem = timestamp_problem(timestamp, window)
        if problem:
            raise ValueError(problem)
        return Rating(user_id, movie_id, rating, timestamp, path, number)

    return _parse_row(path, number, line, parse)


def read_ratings(
    path: str, layout: Layout, window: TimestampWindow | None = None
) -> Iterator[Rating]:
    """Every rating of the ratings file `path` (header checked in CSV layouts); the first bad
    row raises InputDataError."""
    order = rating_order(path, layout)
    for number, line in read_lines(path, "utf-8", layout.header):
        yield parse_rating(layout, path, number, line, order, window)


def _parse_row(path: str, number: int, row: Any, parse: Callable[[Any], Any]):
    try:
        return parse(row)
    except ValueError as error:
        if isinstance(error, InputDataError):
            raise
        raise InputDataError(path, number, str(error)) from None
    except csv.Error as error:
        raise InputDataError(path, number, f"malformed CSV: {_csv_problem(error)}") from None


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()[:40]!r} is not an integer") from None


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
