"""A MovieLens directory delivered in spans: the layout, which spans are complete, the window.

Layout (docs/operating.md):

    DIR/
      u.item, u.user          optional: movies and users valid for every span (any layout's
                              metadata files: movies.dat / users.dat, movies.csv)
      span-1/
        u.data                the span's ratings (the layout's ratings file)
        u.item, u.user        optional: movies and users new (or corrected) in this span
        _SUCCESS              written last: the span is complete
      span-2/ ...

Span numbers are TFX's `{SPAN}`: the ExampleGen's input pattern is `span-{SPAN}/_SUCCESS`, so
TFX's own driver (LocalDagRunner and Vertex alike) resolves the latest span, or the one a
static RangeConfig names, among the spans that have their marker: a span still being copied
is never read. (TFX itself knows no completion markers; matching the marker file instead of
the data files is this project's choice, the rest is TFX's span resolution.)

A run reads the window of spans ending at that span, with TFX's RollingRange semantics on
span numbers: `window` N covers numbers [S - N + 1, S] (0: every span up to S). Movies and
users are the union of the root's files and those of every complete span up to S, a later
span's row replacing an earlier one of the same id.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import NamedTuple

import tensorflow as tf
from tfx.utils import io_utils

from components.movielens_example_gen import formats
from components.movielens_example_gen.errors import InputDataError

SPAN_PREFIX = "span-"
SUCCESS_MARKER = "_SUCCESS"
# The ExampleGen's input_config pattern, relative to the data directory ({SPAN}: TFX's spec).
SPLIT_PATTERN = f"{SPAN_PREFIX}{{SPAN}}/{SUCCESS_MARKER}"
ALL_SPANS = 0  # window size meaning "every span up to the latest"
_SPAN_DIR = re.compile(rf"^{re.escape(SPAN_PREFIX)}(\d+)$")


@dataclasses.dataclass(frozen=True)
class Span:
    number: int
    path: str  # the span's directory


@dataclasses.dataclass(frozen=True)
class WindowInput:
    """What the ExampleGen reads for one run: the window's spans, their layout, the movies
    and users known up to the latest span, and the number of metadata rows read."""

    spans: tuple[Span, ...]
    layout: formats.Layout
    movies: dict[str, formats.Movie]
    users: dict[str, formats.User] | None
    metadata_rows: int

    @property
    def latest(self) -> Span:
        return self.spans[-1]

    def ratings_paths(self) -> list[str]:
        """The ratings file of each span of the window, oldest first."""
        return [os.path.join(span.path, self.layout.ratings_file) for span in self.spans]


def span_directories(data_dir: str) -> list[str]:
    """Names of the `span-*` entries of `data_dir`, complete or not (sorted)."""
    if not tf.io.gfile.isdir(data_dir):
        return []
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(data_dir)
                  if name.startswith(SPAN_PREFIX))


def complete_spans(data_dir: str) -> list[Span]:
    """Every span of `data_dir` that has its `_SUCCESS` marker, by number."""
    spans: dict[int, Span] = {}
    # Sorted: the same error names the same directories on every file system.
    for marker in sorted(tf.io.gfile.glob(os.path.join(data_dir, f"{SPAN_PREFIX}*",
                                                       SUCCESS_MARKER))):
        directory = os.path.dirname(marker)
        match = _SPAN_DIR.match(os.path.basename(directory))
        if not match:
            raise InputDataError(directory, None, f"not a span directory name: expected "
                                 f"{SPAN_PREFIX}<number>")
        number = int(match.group(1))
        if number in spans:
            raise InputDataError(directory, None, f"span {number} is also "
                                 f"{spans[number].path}: one directory per span")
        spans[number] = Span(number, directory)
    return [spans[number] for number in sorted(spans)]


def in_window(spans: list[Span], latest: int, window: int) -> list[Span]:
    """The spans numbered [latest - window + 1, latest] (window 0: all up to `latest`), as
    TFX's RollingRange counts them: by span number, so a missing number shrinks the window."""
    if window < 0:
        raise ValueError(f"window must be >= 0 (0: every span), got {window}")
    first = 0 if window == ALL_SPANS else latest - window + 1
    return [span for span in spans if first <= span.number <= latest]


def read_window(
    data_dir: str, latest: int, window: int, rejects: list[InputDataError] | None = None
) -> WindowInput:
    """The window ending at span `latest` (which TFX's driver resolved) and its metadata.

    `rejects` as in formats.read_movies: a list collects bad metadata rows (quarantine mode).
    """
    spans = complete_spans(data_dir)
    chosen = in_window(spans, latest, window)
    if not chosen or chosen[-1].number != latest:
        raise InputDataError(os.path.join(data_dir, f"{SPAN_PREFIX}{latest}"), None,
                             f"span {latest} is not complete (no {SUCCESS_MARKER} marker)")
    layout = _span_layout(chosen[-1])
    for span in chosen[:-1]:
        if _span_layout(span).name != layout.name:
            raise InputDataError(span.path, None, f"a {_span_layout(span).name} span among "
                                 f"{layout.name} spans: every span has the same layout")
    # Movies and users of every complete span up to `latest`, not only the window's: a movie
    # introduced in span 1 can be rated in span 9.
    sources = [data_dir, *(span.path for span in spans if span.number <= latest)]
    movies, movie_rows = _merged(sources, layout, layout.movies_file,
                                 lambda d: formats.read_movies(d, layout, rejects))
    users, user_rows = None, 0
    if layout.users_file:
        users, user_rows = _merged(sources, layout, layout.users_file,
                                   lambda d: formats.read_users(d, layout, rejects) or {})
    return WindowInput(tuple(chosen), layout, movies, users, movie_rows + user_rows)


def _span_layout(span: Span) -> formats.Layout:
    for layout in formats.LAYOUTS:
        if tf.io.gfile.exists(os.path.join(span.path, layout.ratings_file)):
            return layout
    expected = ", ".join(f"{layout.ratings_file} ({layout.name})" for layout in formats.LAYOUTS)
    raise InputDataError(span.path, None, f"complete span without ratings: expected one of "
                         f"{expected}")


def _merged(directories: list[str], layout: formats.Layout, file_name: str, read) -> tuple:
    """{id: row} over `directories` in order (later rows replace earlier ones), rows read."""
    merged: dict = {}
    rows = 0
    for directory in directories:
        if tf.io.gfile.exists(os.path.join(directory, file_name)):
            part = read(directory)
            rows += len(part)
            merged.update(part)
    if not rows:
        raise InputDataError(os.path.join(directories[0], file_name), None,
                             f"missing: {layout.name} spans need it in the data directory or "
                             "in a span directory")
    return merged, rows


def fingerprint(data_dir: str, latest: int, window: int) -> str:
    """TFX's file fingerprint (names, sizes, modification times) of every file a run on this
    window reads: the root's metadata files and the files of every complete span up to
    `latest` (their movies and users count, see read_window)."""
    metadata = sorted({name for layout in formats.LAYOUTS
                       for name in (layout.movies_file, layout.users_file) if name})
    parts = [io_utils.generate_fingerprint(name, os.path.join(data_dir, name))
             for name in metadata]
    parts += [io_utils.generate_fingerprint(f"span-{span.number}", os.path.join(span.path, "*"))
              for span in complete_spans(data_dir) if span.number <= latest]
    parts.append(f"window:{window}")
    return "\n".join(parts)


def no_complete_span(data_dir: str, span: int | None) -> InputDataError:
    """The error for a spans directory where TFX's driver found nothing to read."""
    if span is not None:
        return InputDataError(os.path.join(data_dir, f"{SPAN_PREFIX}{span}"), None,
                              f"span {span} is not complete (no {SUCCESS_MARKER} marker)")
    return InputDataError(data_dir, None, f"no complete span: expected {SPAN_PREFIX}<number>/ "
                          f"directories with a {SUCCESS_MARKER} marker")


class Dataset(NamedTuple):
    """Everything a directory holds, for readers outside the pipeline (the service, the
    report): a plain MovieLens directory, or every complete span of a spans directory."""

    layout: formats.Layout
    movies: dict[str, formats.Movie]
    users: dict[str, formats.User] | None
    ratings_paths: list[str]  # oldest span first


def read_dataset(data_dir: str) -> Dataset:
    if not span_directories(data_dir):
        layout = formats.detect_layout(data_dir)
        return Dataset(layout, formats.read_movies(data_dir, layout),
                       formats.read_users(data_dir, layout),
                       [os.path.join(data_dir, layout.ratings_file)])
    complete = complete_spans(data_dir)
    if not complete:
        raise no_complete_span(data_dir, None)
    window = read_window(data_dir, complete[-1].number, ALL_SPANS)
    return Dataset(window.layout, window.movies, window.users, window.ratings_paths())
