"""Reads a directory of tests/data/bad the way MovieLensExampleGen does, without Beam."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam

from components.movielens_example_gen import executor, formats

BAD = Path(__file__).resolve().parent.parent / "data" / "bad"


def parse_dir(directory: Path, quarantine: bool = False):
    """(ratings, rejected rows as (file name, line, reason)); strict mode raises instead."""
    layout = formats.detect_layout(str(directory))
    rejects: list[formats.InputDataError] | None = [] if quarantine else None
    movies = formats.read_movies(str(directory), layout, rejects)
    users = formats.read_users(str(directory), layout, rejects)
    rejected = [formats.rejected_row(error) for error in rejects or []]
    ratings = []
    source = executor.RatingSource(str(directory / layout.ratings_file), None)
    for item in executor._read_rating_events(source, layout.name, movies, users, quarantine):
        if isinstance(item, beam.pvalue.TaggedOutput):
            rejected.append(json.loads(item.value))
        else:
            ratings.append(item[1][0])
    return ratings, movies, [(Path(r["file"]).name, r["line"], r["reason"]) for r in rejected]
