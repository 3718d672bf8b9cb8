"""Beam executor: raw MovieLens files -> tf.Examples with history, split by protocol.

TFX's BaseExampleGenExecutor splits by hashing single records; protocols TOPK and RATING need
per-user grouping (leave-last-out) and a history of earlier events, so this executor overrides
`GenerateExamplesByBeam` and leaves writing, split names and payload format to the base class.

Memory: movies and users (small: 62K movies for ML-25M) are parsed up front and shipped with the
DoFns; ratings stream through Beam and are grouped by user, so no step holds all ratings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import standard_component_specs

from components.movielens_example_gen import formats
from recsys import features as F
from recsys import protocols

PROTOCOL_KEY = "protocol"
HISTORY_LENGTH_KEY = "history_length"
SEED_KEY = "seed"
TRAIN_FILE_KEY = "train_file"
EVAL_FILE_KEY = "eval_file"


class Executor(BaseExampleGenExecutor):
    """Reads a MovieLens directory once and emits the `train` and `eval` splits."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("MovieLens splits per user; see GenerateExamplesByBeam")

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        data_dir = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        protocol = protocols.Protocol(exec_properties[PROTOCOL_KEY])
        layout = formats.detect_layout(data_dir)
        movies = formats.read_movies(data_dir, layout)
        users = formats.read_users(data_dir, layout)
        sources = _rating_sources(data_dir, layout, protocol, exec_properties)
        examples = (
            pipeline
            | "ListRatingFiles" >> beam.Create(sources)
            | "ReadRatings" >> beam.FlatMap(_read_rating_events, layout.name, movies, users)
            | "GroupByUser" >> beam.GroupByKey()
            | "BuildExamples" >> beam.FlatMap(
                _user_examples, protocol, exec_properties[HISTORY_LENGTH_KEY],
                exec_properties[SEED_KEY], movies, users)
        )
        train, evaluation = examples | "Split" >> beam.Partition(
            lambda split_and_example, _: 0 if split_and_example[0] == protocols.TRAIN else 1, 2)
        return {
            protocols.TRAIN: train | "TrainPayload" >> beam.Values(),
            protocols.EVAL: evaluation | "EvalPayload" >> beam.Values(),
        }


def _rating_sources(
    data_dir: str, layout: formats.Layout, protocol: protocols.Protocol, props: dict[str, Any]
) -> list[tuple[str, str | None]]:
    """(ratings path, split fixed by the file or None) for each ratings file to read."""
    if protocol != protocols.Protocol.PRESPLIT:
        return [(os.path.join(data_dir, layout.ratings_file), None)]
    sources = []
    for key, split in ((TRAIN_FILE_KEY, protocols.TRAIN), (EVAL_FILE_KEY, protocols.EVAL)):
        name = props.get(key)
        if not name:
            raise formats.InputDataError(
                data_dir, None, f"protocol 'presplit' needs both a train and an eval file "
                f"(e.g. u1.base and u1.test); {key} is not set")
        path = os.path.join(data_dir, name)
        if not tf.io.gfile.exists(path):
            raise formats.InputDataError(path, None, "no such file")
        sources.append((path, split))
    return sources


def _read_rating_events(
    source: tuple[str, str | None],
    layout_name: str,
    movies: dict[str, formats.Movie],
    users: dict[str, formats.User] | None,
) -> Iterator[tuple[str, tuple[formats.Rating, str | None]]]:
    """Yields (user id, (rating, fixed split)) for each line, checking ids are known."""
    path, fixed_split = source
    layout = next(layout for layout in formats.LAYOUTS if layout.name == layout_name)
    for number, line in formats.read_lines(path, "ascii", layout.header):
        rating = formats.parse_rating(layout, path, number, line)
        if rating.movie_id not in movies:
            raise formats.InputDataError(
                path, number, f"movie id {rating.movie_id!r} is not in {layout.movies_file}")
        if users is not None and rating.user_id not in users:
            raise formats.InputDataError(
                path, number, f"user id {rating.user_id!r} is not in {layout.users_file}")
        yield rating.user_id, (rating, fixed_split)


def assign_splits(
    events: list[tuple[formats.Rating, str | None]], protocol: protocols.Protocol, seed: int
) -> list[tuple[formats.Rating, str]]:
    """One user's events in time order, each with its split under `protocol`."""
    # Pre-split input has two files; line numbers then only break timestamp ties.
    ordered = sorted(events, key=lambda e: protocols.event_order_key(
        e[0].timestamp, e[0].line_number))
    if protocol == protocols.Protocol.TOPK:
        last = len(ordered) - 1
        return [(r, protocols.EVAL if i == last else protocols.TRAIN)
                for i, (r, _) in enumerate(ordered)]
    if protocol == protocols.Protocol.RATING:
        return [(r, protocols.EVAL if protocols.rating_split_is_test(r.line_number, seed)
                 else protocols.TRAIN) for r, _ in ordered]
    return [(r, split) for r, split in ordered]


def _user_examples(
    user_and_events: tuple[str, Iterable[tuple[formats.Rating, str | None]]],
    protocol: protocols.Protocol,
    history_length: int,
    seed: int,
    movies: dict[str, formats.Movie],
    users: dict[str, formats.User] | None,
) -> Iterator[tuple[str, bytes]]:
    """(split, serialized tf.Example) for each event of one user.

    The history of an event holds the user's earlier *training* events only, so no eval movie
    ever leaks into a model's input.
    """
    user_id, events = user_and_events
    user = users[user_id] if users is not None else None
    history: list[str] = []
    for rating, split in assign_splits(list(events), protocol, seed):
        example = to_example(rating, movies[rating.movie_id], user, history[-history_length:])
        yield split, example.SerializeToString()
        if split == protocols.TRAIN:
            history.append(rating.movie_id)


def to_example(
    rating: formats.Rating, movie: formats.Movie, user: formats.User | None, history: list[str]
) -> tf.train.Example:
    """The raw tf.Example of one rating event (schema: recsys/features.py)."""

    def strings(*values: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    def ints(*values: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    feature = {
        F.USER_ID: strings(rating.user_id),
        F.MOVIE_ID: strings(rating.movie_id),
        F.RATING: tf.train.Feature(float_list=tf.train.FloatList(value=[rating.rating])),
        F.TIMESTAMP: ints(rating.timestamp),
        F.TITLE: strings(movie.title),
        F.YEAR: ints(movie.year),
        F.GENRES: strings(*movie.genres),
        F.GENDER: strings(user.gender if user else F.UNKNOWN_TOKEN),
        F.AGE: ints(user.age if user else 0),
        F.OCCUPATION: strings(user.occupation if user else F.UNKNOWN_TOKEN),
        F.HISTORY: strings(*history),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))

