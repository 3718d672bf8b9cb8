"""Cuts a MovieLens release into time-ordered spans, in the layout the pipeline reads
(components/movielens_example_gen/spans.py): each span holds an equal share of the ratings,
oldest first, and the movies and users files go to the root, valid for every span.

    write_spans("../shared/data/ml-100k", "data/ml-100k-spans", count=4)

Used by `recsys make-spans`, the warm-start benchmark and the tests; a real feed writes one
span at a time, its `_SUCCESS` marker last.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from components.movielens_example_gen import formats, spans
from components.movielens_example_gen.errors import InputDataError


def write_spans(source_dir: str, target_dir: str, count: int, first: int = 1) -> list[Path]:
    """Spans `first` .. `first + count - 1` of `source_dir`'s ratings under `target_dir`
    (created; existing spans of those numbers are replaced); returns their directories."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    layout = formats.detect_layout(source_dir)
    ratings_path = os.path.join(source_dir, layout.ratings_file)
    rows = []
    order = formats.rating_order(ratings_path, layout)  # a CSV header's column order
    for number, line in formats.read_lines(ratings_path, "ascii", layout.header):
        rating = formats.parse_rating(layout, ratings_path, number, line, order)
        rows.append((rating.timestamp, number, line))
    if len(rows) < count:
        raise InputDataError(ratings_path, None, f"{len(rows)} ratings cannot make {count} spans")
    rows.sort()
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name in (layout.movies_file, layout.users_file):
        if name:
            shutil.copyfile(os.path.join(source_dir, name), target / name)
    header = _header(ratings_path) if layout.header else ""
    written = []
    for index in range(count):
        part = rows[len(rows) * index // count:len(rows) * (index + 1) // count]
        directory = target / f"{spans.SPAN_PREFIX}{first + index}"
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        lines = [line for _, _, line in sorted(part, key=lambda row: row[1])]  # file order
        (directory / layout.ratings_file).write_text(header + "\n".join(lines) + "\n")
        (directory / spans.SUCCESS_MARKER).write_text("")  # last: the span is complete
        written.append(directory)
    return written


def _header(path: str) -> str:
    with open(path, encoding="utf-8-sig") as handle:
        return handle.readline()
