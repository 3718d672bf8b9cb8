"""Beam executor: raw MovieLens files -> tf.Examples with history, split by protocol.

TFX's BaseExampleGenExecutor splits by hashing single records; protocols TOPK and RATING need
per-user grouping (leave-last-out) and a history of earlier events, so this executor overrides
`GenerateExamplesByBeam` and leaves writing, split names and payload format to the base class.

Memory: movies and users (small: 62K movies for ML-25M) are parsed up front and shipped with the
DoFns; ratings stream through Beam and are grouped by user, so no step holds all ratings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import artifact_utils, standard_component_specs

from components.movielens_example_gen import formats
from recsys import features as F
from recsys import protocols

PROTOCOL_KEY = "protocol"
HISTORY_LENGTH_KEY = "history_length"
SEED_KEY = "seed"
TRAIN_FILE_KEY = "train_file"
EVAL_FILE_KEY = "eval_file"
QUARANTINE_KEY = "quarantine_bad_rows"
MAX_BAD_ROW_FRACTION_KEY = "max_bad_row_fraction"
DEFAULT_MAX_BAD_ROW_FRACTION = 0.01
# Quarantine output, inside the Examples artifact so it lives and dies with the examples it
# explains (StatisticsGen, Transform and Evaluator only read the Split-* directories).
QUARANTINE_DIR = "quarantine"
QUARANTINE_ROWS = "rows.jsonl"
QUARANTINE_SUMMARY = "summary.json"
_GOOD_RATINGS = "good_ratings"  # count written by the Beam pipeline, read back in Do
_QUARANTINE_DIR_KEY = "_quarantine_dir"  # set by Do for GenerateExamplesByBeam only
_REJECTED = "rejected"


class Executor(BaseExampleGenExecutor):
    """Reads a MovieLens directory once and emits the `train` and `eval` splits."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("MovieLens splits per user; see GenerateExamplesByBeam")

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        props = dict(exec_properties)
        quarantine_dir = None
        if props.get(QUARANTINE_KEY):
            examples = artifact_utils.get_single_instance(
                output_dict[standard_component_specs.EXAMPLES_KEY])
            quarantine_dir = os.path.join(examples.uri, QUARANTINE_DIR)
            props[_QUARANTINE_DIR_KEY] = quarantine_dir
        super().Do(input_dict, output_dict, props)
        if quarantine_dir:
            # Raising here fails the execution, so the examples are never published in MLMD
            # and nothing downstream reads them.
            check_bad_row_fraction(quarantine_dir, _max_fraction(props))

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        data_dir = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        protocol = protocols.Protocol(exec_properties[PROTOCOL_KEY])
        quarantine_dir = exec_properties.get(_QUARANTINE_DIR_KEY)
        # A list collects bad metadata rows in quarantine mode; None makes them errors.
        rejects: list[formats.InputDataError] | None = [] if quarantine_dir else None
        layout = formats.detect_layout(data_dir)
        movies = formats.read_movies(data_dir, layout, rejects)
        users = formats.read_users(data_dir, layout, rejects)
        sources = _rating_sources(data_dir, layout, protocol, exec_properties)
        read = (
            pipeline
            | "ListRatingFiles" >> beam.Create(sources)
            | "ReadRatings" >> beam.FlatMap(
                _read_rating_events, layout.name, movies, users, bool(quarantine_dir)
            ).with_outputs(_REJECTED, main="events")
        )
        if quarantine_dir:
            _write_quarantine(pipeline, read, rejects, quarantine_dir,
                              metadata_rows=len(movies) + len(users or {}))
        examples = (
            read.events
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


def _max_fraction(props: dict[str, Any]) -> float:
    value = props.get(MAX_BAD_ROW_FRACTION_KEY)
    return DEFAULT_MAX_BAD_ROW_FRACTION if value is None else float(value)


def _write_quarantine(pipeline, read, metadata_rejects, quarantine_dir, metadata_rows) -> None:
    """rows.jsonl: one JSON record per rejected row (file, line, reason); good_ratings: the
    number of ratings kept, so Do can compute the bad-row fraction after the pipeline ran."""
    metadata = pipeline | "MetadataRejects" >> beam.Create(
        [json.dumps(formats.rejected_row(e)) for e in metadata_rejects])
    (
        (metadata, read[_REJECTED])
        | "AllRejects" >> beam.Flatten()
        | "WriteRejects" >> beam.io.WriteToText(
            os.path.join(quarantine_dir, QUARANTINE_ROWS), shard_name_template="")
    )
    (
        read.events
        | "CountGoodRatings" >> beam.combiners.Count.Globally()
        | "PlusMetadataRows" >> beam.Map(lambda ratings: str(ratings + metadata_rows))
        | "WriteGoodCount" >> beam.io.WriteToText(
            os.path.join(quarantine_dir, _GOOD_RATINGS), shard_name_template="")
    )


def check_bad_row_fraction(quarantine_dir: str, max_fraction: float) -> dict[str, Any]:
    """Writes summary.json; raises InputDataError when too many rows were rejected."""
    rows_path = os.path.join(quarantine_dir, QUARANTINE_ROWS)
    with tf.io.gfile.GFile(rows_path) as handle:
        rejected = [json.loads(line) for line in handle if line.strip()]
    with tf.io.gfile.GFile(os.path.join(quarantine_dir, _GOOD_RATINGS)) as handle:
        good = int(handle.read().strip() or 0)
    total = good + len(rejected)
    fraction = len(rejected) / total if total else 0.0
    summary = {"rows": total, "rejected": len(rejected), "fraction": fraction,
               "max_bad_row_fraction": max_fraction}
    with tf.io.gfile.GFile(os.path.join(quarantine_dir, QUARANTINE_SUMMARY), "w") as handle:
        handle.write(json.dumps(summary, indent=1))
    if not rejected:
        return summary
    first = rejected[0]
    first_text = f"{first['file']}:{first['line']}: {first['reason']}"
    if fraction > max_fraction:
        raise formats.InputDataError(
            rows_path, None, f"{len(rejected)} of {total} rows ({fraction:.2%}) were rejected, "
            f"more than --max-bad-row-fraction {max_fraction:.2%}; first: {first_text}")
    logging.warning("quarantined %d of %d rows (%.2f%%), see %s; first: %s",
                    len(rejected), total, 100 * fraction, rows_path, first_text)
    return summary


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
    quarantine: bool = False,
) -> Iterator[Any]:
    """Yields (user id, (rating, fixed split)) for each line, checking ids are known.

    In quarantine mode a bad line yields a TaggedOutput(rejected, JSON record) instead of
    raising.
    """
    path, fixed_split = source
    layout = next(layout for layout in formats.LAYOUTS if layout.name == layout_name)
    line_rejects: list[formats.InputDataError] | None = [] if quarantine else None
    for number, line in formats.read_lines(path, "ascii", layout.header, line_rejects):
        yield from _drain(line_rejects)
        try:
            rating = _checked_rating(layout, path, number, line, movies, users)
        except formats.InputDataError as error:
            if not quarantine:
                raise
            yield beam.pvalue.TaggedOutput(_REJECTED, json.dumps(formats.rejected_row(error)))
            continue
        yield rating.user_id, (rating, fixed_split)
    yield from _drain(line_rejects)


def _drain(rejects: list[formats.InputDataError] | None) -> Iterator[Any]:
    while rejects:
        error = rejects.pop(0)
        yield beam.pvalue.TaggedOutput(_REJECTED, json.dumps(formats.rejected_row(error)))


def _checked_rating(layout, path, number, line, movies, users) -> formats.Rating:
    rating = formats.parse_rating(layout, path, number, line)
    if rating.movie_id not in movies:
        raise formats.InputDataError(
            path, number, f"movie id {rating.movie_id!r} is not in {layout.movies_file}")
    if users is not None and rating.user_id not in users:
        raise formats.InputDataError(
            path, number, f"user id {rating.user_id!r} is not in {layout.users_file}")
    return rating


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

