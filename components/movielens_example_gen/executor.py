"""Beam executor: raw MovieLens files -> tf.Examples with history, split by protocol.

TFX's BaseExampleGenExecutor splits by hashing single records; protocols TOPK and RATING need
per-user grouping (leave-last-out) and a history of earlier events, so this executor overrides
`GenerateExamplesByBeam`; `Do` writes its splits as the base class does, minus a reshuffle.

Scale: movies and users (small: 62K movies for ML-25M) are parsed up front and shipped with
the DoFns. Ratings files are cut into parts of whole lines (PART_BYTES, `formats.line_ranges`)
that the workers read in parallel, each line still named by its number in the file; ratings
stream through Beam and are grouped by user, so no step holds all ratings. Each rating crosses
that shuffle packed into a few bytes (`pack_event`): runners that group in memory (the local
DirectRunner does, in its runner process) hold ~70 bytes per rating instead of a pickled
Rating's ~500.

Data rules (`rules.py`): timestamps in a window, checked per row like any bad row; a user's
repeated ratings of one movie are resolved per user after the group-by, before the split, so
the held-out movie is never also a training positive (the dropped rows are listed in
`duplicates/rows.jsonl` and counted on the artifact). Each of the train and eval splits must
end up with examples.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.movielens_example_gen import formats, rules, spans
from contract import features as F
from contract import splits

PROTOCOL_KEY = "protocol"
HISTORY_LENGTH_KEY = "history_length"
SEED_KEY = "seed"
TRAIN_FILE_KEY = "train_file"
EVAL_FILE_KEY = "eval_file"
QUARANTINE_KEY = "quarantine_bad_rows"
MAX_BAD_ROW_FRACTION_KEY = "max_bad_row_fraction"
# Spans (spans.py): how many spans back from the one TFX's driver resolved (None: a plain
# MovieLens directory); the window's span numbers are recorded on the Examples artifact.
WINDOW_KEY = "window"
WINDOW_SPANS_PROPERTY = "window_spans"
DEFAULT_MAX_BAD_ROW_FRACTION = 0.01
MIN_TIMESTAMP_KEY = "min_timestamp"  # None: rules.EARLIEST_TIMESTAMP
MAX_TIMESTAMP_KEY = "max_timestamp"  # None: one day after the run
DUPLICATES_KEY = "duplicate_ratings"  # a rules.DuplicatePolicy value
# Custom properties of the Examples artifact, read back by the run summary.
DUPLICATES_PROPERTY = "duplicate_ratings"
# Quarantine output, inside the Examples artifact so it lives and dies with the examples it
# explains (StatisticsGen, Transform and Evaluator only read the Split-* directories).
QUARANTINE_DIR = "quarantine"
QUARANTINE_ROWS = "rows.jsonl"
QUARANTINE_SUMMARY = "summary.json"
_GOOD_RATINGS = "good_ratings"  # count written by the Beam pipeline, read back in Do
_QUARANTINE_DIR_KEY = "_quarantine_dir"  # set by Do for GenerateExamplesByBeam only
_COUNTS_DIR_KEY = "_counts_dir"  # likewise: where the Beam pipeline writes its counts
DUPLICATES_DIR = "duplicates"  # in the Examples artifact: rows.jsonl, the ratings dropped
_COUNTS_DIR = "counts"  # in the Examples artifact: examples per split, duplicates
_DUPLICATE_COUNT = "duplicates"
_REJECTED = "rejected"
_DUPLICATE = "duplicate"
# A packed rating event: rating, timestamp, line number, index of its source; then the movie id.
_PACKED_EVENT = struct.Struct("<dqqI")
PART_BYTES = 8 << 20  # ratings files are read in parts of about this size, in parallel
# Spans' line numbers are offset by this much per span after the read, so that an event's
# ordering and seeded draws (contract/splits.py) are keyed by a number unique in the window.
SPAN_LINE_STRIDE = 1 << 40


class Executor(BaseExampleGenExecutor):
    """Reads a MovieLens directory once and emits the `train` and `eval` splits."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("MovieLens splits per user; see GenerateExamplesByBeam")

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        self._window_spans: tuple[int, ...] | None = None  # set by GenerateExamplesByBeam
        props = dict(exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        quarantine_dir = None
        if props.get(QUARANTINE_KEY):
            quarantine_dir = os.path.join(examples.uri, QUARANTINE_DIR)
            props[_QUARANTINE_DIR_KEY] = quarantine_dir
        props[_COUNTS_DIR_KEY] = os.path.join(examples.uri, _COUNTS_DIR)
        self._log_startup(input_dict, output_dict, props)
        self._write_examples(output_dict[standard_component_specs.EXAMPLES_KEY], props)
        if self._window_spans is not None:  # which spans this run read, for ML Metadata
            artifact_utils.get_single_instance(
                output_dict[standard_component_specs.EXAMPLES_KEY]).set_string_custom_property(
                    WINDOW_SPANS_PROPERTY, ",".join(map(str, self._window_spans)))
        # Raising from here on fails the execution, so the examples are never published in
        # MLMD and nothing downstream reads them.
        if quarantine_dir:
            check_bad_row_fraction(quarantine_dir, _max_fraction(props))
        counts = read_counts(props[_COUNTS_DIR_KEY])
        check_splits_have_examples(counts, props)
        duplicates = counts.get(_DUPLICATE_COUNT, 0)
        examples.set_int_custom_property(DUPLICATES_PROPERTY, duplicates)
        if duplicates:
            logging.warning("kept the latest of repeated (user, movie) ratings: %d dropped, "
                            "see %s", duplicates, os.path.join(examples.uri, DUPLICATES_DIR))

    def _write_examples(self, artifacts: list, exec_properties: dict[str, Any]) -> None:
        """BaseExampleGenExecutor.Do without the reshuffle its WriteSplit does before writing.

        Our examples come straight out of the group-by-user, already spread over the workers;
        that extra shuffle of every serialized example doubled ExampleGen's work, and the
        local runner held all of them in memory for it (~3 KB per rating at 200K ratings).
        """
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        examples = artifact_utils.get_single_instance(artifacts)
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        counts_dir = exec_properties.get(_COUNTS_DIR_KEY)
        with self._make_beam_pipeline() as pipeline:
            outputs = self.GenerateExamplesByBeam(pipeline, exec_properties)
            # Spans add NEW_SPAN (the latest span's events) to the configured splits.
            examples.split_names = artifact_utils.encode_split_names(
                [*split_names, *(split for split in outputs if split not in split_names)])
            for split, records in outputs.items():
                path = os.path.join(artifact_utils.get_split_uri(artifacts, split),
                                    write_split.DEFAULT_FILE_NAME)
                _ = records | f"WriteSplit[{split}]" >> beam.io.WriteToTFRecord(
                    path, file_name_suffix=".gz")
                if counts_dir:
                    _write_count(records, counts_dir, split)
        examples_utils.set_payload_format(
            examples, exec_properties[standard_component_specs.OUTPUT_DATA_FORMAT_KEY])
        examples_utils.set_file_format(examples, write_split.to_file_format_str(
            exec_properties[standard_component_specs.OUTPUT_FILE_FORMAT_KEY]))

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        data_dir = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        protocol = parse_protocol(exec_properties[PROTOCOL_KEY])
        quarantine_dir = exec_properties.get(_QUARANTINE_DIR_KEY)
        # A list collects bad metadata rows in quarantine mode; None makes them errors.
        rejects: list[formats.InputDataError] | None = [] if quarantine_dir else None
        span_window = exec_properties.get(WINDOW_KEY)
        if span_window is not None and span_window < 0:  # a pipeline parameter, set at submit
            raise ValueError(f"window must be >= 0 (0: every span), got {span_window}")
        if span_window is None:
            layout = formats.detect_layout(data_dir)
            movies = formats.read_movies(data_dir, layout, rejects)
            users = formats.read_users(data_dir, layout, rejects)
            sources = rating_sources(data_dir, layout, protocol, exec_properties)
            metadata_rows = len(movies) + len(users or {})
        else:
            read_spans = spans.read_window(
                data_dir, exec_properties[example_gen_utils.SPAN_PROPERTY_NAME], span_window,
                rejects)
            self._window_spans = tuple(span.number for span in read_spans.spans)
            layout, movies, users = read_spans.layout, read_spans.movies, read_spans.users
            sources = [(path, None) for path in read_spans.ratings_paths()]
            metadata_rows = read_spans.metadata_rows
        # Spans: a line number unique in the window, and the latest span's events duplicated
        # into NEW_SPAN (its statistics are what the data gate checks for drift).
        line_offsets = [SPAN_LINE_STRIDE * i if span_window is not None else 0
                        for i in range(len(sources))]
        new_span_sources = (frozenset(sources[-1][:1]) if span_window is not None
                            else frozenset())
        window = rules.window(exec_properties.get(MIN_TIMESTAMP_KEY),
                              exec_properties.get(MAX_TIMESTAMP_KEY), time.time())
        policy = rules.DuplicatePolicy(
            exec_properties.get(DUPLICATES_KEY) or rules.DuplicatePolicy.KEEP_LATEST)
        read = (
            pipeline
            | "ListRatingParts" >> beam.Create(
                rating_parts(sources, layout, bool(quarantine_dir)))
            | "SpreadParts" >> beam.Reshuffle()  # to every worker, not the one that listed them
            | "ReadRatings" >> beam.FlatMap(
                read_rating_events, layout.name, movies, users, bool(quarantine_dir), window
            ).with_outputs(_REJECTED, main="events")
        )
        if quarantine_dir:
            _write_quarantine(pipeline, read, rejects, quarantine_dir, metadata_rows)
        built = (
            read.events
            | "PackEvents" >> beam.Map(pack_event, [path for path, _ in sources])
            | "GroupByUser" >> beam.GroupByKey()
            | "BuildExamples" >> beam.FlatMap(
                _packed_user_examples, sources, protocol, exec_properties[HISTORY_LENGTH_KEY],
                exec_properties[SEED_KEY], movies, users, _cold_movies(read.events, protocol),
                policy, line_offsets=line_offsets, new_span_sources=new_span_sources
            ).with_outputs(_DUPLICATE, main="examples")
        )
        counts_dir = exec_properties.get(_COUNTS_DIR_KEY)
        if counts_dir:
            _write_duplicates(built[_DUPLICATE], counts_dir)
        names = (*splits.SPLITS, splits.NEW_SPAN) if span_window is not None else splits.SPLITS
        parts = built.examples | "Split" >> beam.Partition(
            lambda split_and_example, _: names.index(split_and_example[0]), len(names))
        return {split: part | f"{split.capitalize()}Payload" >> beam.Values()
                for split, part in zip(names, parts, strict=True)}


def _cold_movies(events: beam.PCollection, protocol: splits.Protocol) -> Any:
    """COLDSTART's held-out movies (`splits.cold_movies`, from every movie's first rating) as
    a side input; an empty set under the other protocols."""
    if protocol != splits.Protocol.COLDSTART:
        return frozenset()
    return beam.pvalue.AsSingleton(
        events
        | "MovieTimes" >> beam.Map(lambda user_event: (user_event[1][0].movie_id,
                                                       user_event[1][0].timestamp))
        | "FirstRated" >> beam.CombinePerKey(min)
        | "AllFirstRated" >> beam.combiners.ToDict()
        | "ColdMovies" >> beam.Map(splits.cold_movies))


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


def _write_count(records: beam.PCollection, counts_dir: str, name: str) -> None:
    """counts_dir/name: the number of `records`, for Do to read back (`read_counts`)."""
    _ = (records
         | f"Count[{name}]" >> beam.combiners.Count.Globally()
         | f"WriteCount[{name}]" >> beam.io.WriteToText(
             os.path.join(counts_dir, name), shard_name_template=""))


def _write_duplicates(dropped: beam.PCollection, counts_dir: str) -> None:
    """The dropped repeated ratings, one JSON record each, beside the counts; and their count."""
    _ = dropped | "WriteDuplicates" >> beam.io.WriteToText(
        os.path.join(os.path.dirname(counts_dir), DUPLICATES_DIR, QUARANTINE_ROWS),
        shard_name_template="")
    _write_count(dropped, counts_dir, _DUPLICATE_COUNT)


def read_counts(counts_dir: str) -> dict[str, int]:
    """name -> count, as `_write_count` wrote them."""
    counts = {}
    for name in tf.io.gfile.listdir(counts_dir):
        with tf.io.gfile.GFile(os.path.join(counts_dir, name)) as handle:
            counts[name.rstrip("/")] = int(handle.read().strip() or 0)
    return counts


def check_splits_have_examples(counts: dict[str, int], props: dict[str, Any]) -> None:
    """InputDataError naming the input when the train or eval split came out empty: no model
    can be trained or evaluated on it (the Trainer would fail much later, after Transform)."""
    protocol = splits.Protocol(props[PROTOCOL_KEY])
    for split, file_key in ((splits.TRAIN, TRAIN_FILE_KEY), (splits.EVAL, EVAL_FILE_KEY)):
        if counts.get(split, 0):
            continue
        data_dir = props[standard_component_specs.INPUT_BASE_KEY]
        if protocol == splits.Protocol.PRESPLIT:
            raise formats.InputDataError(
                os.path.join(data_dir, props[file_key]), None,
                f"no {split} rows are left (every row was rejected or repeats a rating)")
        why = ("every user has a single rating, and protocol topk holds each user's last "
               "rating out" if protocol == splits.Protocol.TOPK else
               "too few ratings for protocol rating's 80/20 split")
        raise formats.InputDataError(data_dir, None, f"the {split} split is empty: {why}")


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


def parse_protocol(value: str) -> splits.Protocol:
    """The `protocol` execution property (a pipeline parameter on Vertex AI: any string)."""
    try:
        return splits.Protocol(value)
    except ValueError:
        raise ValueError(f"protocol {value!r}: expected one of "
                         f"{', '.join(p.value for p in splits.Protocol)}") from None


def rating_sources(
    data_dir: str, layout: formats.Layout, protocol: splits.Protocol, props: dict[str, Any]
) -> list[tuple[str, str | None]]:
    """(ratings path, split fixed by the file or None) for each ratings file to read."""
    if protocol != splits.Protocol.PRESPLIT:
        return [(os.path.join(data_dir, layout.ratings_file), None)]
    sources = []
    for key, split in ((TRAIN_FILE_KEY, splits.TRAIN), (EVAL_FILE_KEY, splits.EVAL)):
        name = props.get(key)
        if not name:
            raise formats.InputDataError(
                data_dir, None, f"protocol 'presplit' needs both a train and an eval file "
                f"(e.g. u1.base and u1.test); {key} is not set")
        sources.append((os.path.join(data_dir, name), split))
    (train, _), (evaluation, _) = sources
    if os.path.normpath(train) == os.path.normpath(evaluation):
        raise formats.InputDataError(
            evaluation, None, "is both the train and the eval file; give two different files")
    return sources


class RatingSource(NamedTuple):
    """A ratings file, the split it fixes (None: the protocol decides), which of its lines
    to read (None: all) and where each field is in them (formats.rating_order)."""

    path: str
    fixed_split: str | None
    line_range: formats.LineRange | None = None
    order: formats.Columns = formats.RATING_ORDER


def rating_parts(
    sources: list[tuple[str, str | None]], layout: formats.Layout, quarantine: bool
) -> list[RatingSource]:
    """Each ratings file as parts of whole lines (formats.line_ranges) that Beam workers read
    in parallel, still naming the file's own line numbers in errors; its header read here."""
    parts = []
    for path, split in sources:
        order = formats.rating_order(path, layout)
        # A part has no way to tell that the whole file is empty: one look here.
        for _ in formats.read_lines(path, "ascii", layout.header, [] if quarantine else None):
            break
        parts += [RatingSource(path, split, part, order)
                  for part in formats.line_ranges(path, PART_BYTES)]
    return parts


def read_rating_events(
    source: RatingSource,
    layout_name: str,
    movies: dict[str, formats.Movie],
    users: dict[str, formats.User] | None,
    quarantine: bool = False,
    window: rules.TimestampWindow | None = None,
) -> Iterator[Any]:
    """Yields (user id, (rating, fixed split)) for each line of `source`, checking ids are
    known and timestamps in `window`.

    In quarantine mode a bad line yields a TaggedOutput(rejected, JSON record) instead of
    raising.
    """
    path, fixed_split, line_range, order = source
    layout = next(layout for layout in formats.LAYOUTS if layout.name == layout_name)
    line_rejects: list[formats.InputDataError] | None = [] if quarantine else None
    for number, line in formats.read_lines(path, "ascii", layout.header, line_rejects,
                                           line_range):
        yield from _drain(line_rejects)
        try:
            rating = _checked_rating(layout, path, number, line, movies, users, order, window)
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


def _checked_rating(layout, path, number, line, movies, users, order, window) -> formats.Rating:
    rating = formats.parse_rating(layout, path, number, line, order, window)
    if rating.movie_id not in movies:
        raise formats.InputDataError(
            path, number, f"movie id {rating.movie_id!r} is not in {layout.movies_file}")
    if users is not None and rating.user_id not in users:
        raise formats.InputDataError(
            path, number, f"user id {rating.user_id!r} is not in {layout.users_file}")
    return rating


def assign_splits(
    events: list[tuple[formats.Rating, str | None]], protocol: splits.Protocol, seed: int,
    cold_movies: frozenset[str] = frozenset(),
) -> list[tuple[formats.Rating, str]]:
    """One user's events in time order, each with its split under `protocol` (TRAIN,
    VALIDATION or EVAL; see contract/splits.py). Under COLDSTART, for a user who is not held
    out: the ratings of `cold_movies` are EVAL."""
    # Pre-split input has two files; line numbers then only break timestamp ties.
    ordered = sorted(events, key=lambda e: splits.event_order_key(
        e[0].timestamp, e[0].line_number))
    if protocol == splits.Protocol.TOPK:
        last = len(ordered) - 1
        base = [splits.EVAL if i == last else splits.TRAIN for i in range(len(ordered))]
    elif protocol == splits.Protocol.RATING:
        base = [splits.EVAL if splits.rating_split_is_test(r.line_number, seed) else splits.TRAIN
                for r, _ in ordered]
    elif protocol == splits.Protocol.COLDSTART:
        base = [splits.EVAL if r.movie_id in cold_movies else splits.TRAIN for r, _ in ordered]
    else:
        base = [split for _, split in ordered]
    assigned = splits.with_validation(protocol, base, [r.line_number for r, _ in ordered], seed)
    return [(r, split) for (r, _), split in zip(ordered, assigned, strict=True)]


def pack_event(
    user_and_event: tuple[str, tuple[formats.Rating, str | None]], source_paths: list[str]
) -> tuple[str, bytes]:
    """(user id, packed event): what a rating needs after the shuffle, as compact bytes."""
    user_id, (rating, _) = user_and_event
    packed = _PACKED_EVENT.pack(rating.rating, rating.timestamp, rating.line_number,
                                source_paths.index(rating.source))
    return user_id, packed + rating.movie_id.encode()


def unpack_event(
    user_id: str, packed: bytes, sources: list[tuple[str, str | None]],
    line_offsets: list[int] | None = None,
) -> tuple[formats.Rating, str | None]:
    """The (Rating, fixed split) that pack_event packed; `sources` as given to the reader,
    `line_offsets` added to the line numbers of each source's events (default none)."""
    stars, timestamp, line_number, source = _PACKED_EVENT.unpack_from(packed)
    path, fixed_split = sources[source]
    movie_id = packed[_PACKED_EVENT.size:].decode()
    line_number += line_offsets[source] if line_offsets else 0
    return formats.Rating(user_id, movie_id, stars, timestamp, path, line_number), fixed_split


def _packed_user_examples(
    user_and_packed: tuple[str, Iterable[bytes]],
    sources: list[tuple[str, str | None]],
    *args: Any,
    line_offsets: list[int] | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """_user_examples of one user's packed events; `args` and `kwargs` as _user_examples
    takes them, `line_offsets` as unpack_event does."""
    user_id, packed = user_and_packed
    events = [unpack_event(user_id, event, sources, line_offsets) for event in packed]
    return _user_examples((user_id, events), *args, **kwargs)


Event = tuple[formats.Rating, str | None]  # a rating and the split its file fixes (or None)


def latest_ratings(
    events: Iterable[Event], policy: rules.DuplicatePolicy
) -> tuple[list[Event], list[tuple[formats.Rating, formats.Rating]]]:
    """One user's events with each movie once: the latest rating (time order, later line on a
    tie: `splits.event_order_key`), and the (dropped, kept) pairs. With DuplicatePolicy.ERROR a
    repeated movie raises InputDataError at its later row in the input instead."""
    latest: dict[str, Event] = {}
    dropped = []
    for event in sorted(events, key=lambda e: splits.event_order_key(
            e[0].timestamp, e[0].line_number)):
        rating = event[0]
        earlier = latest.get(rating.movie_id)
        if earlier is not None:
            if policy == rules.DuplicatePolicy.ERROR:
                raise _duplicate_error(earlier[0], rating)
            dropped.append(earlier[0])
        latest[rating.movie_id] = event
    return list(latest.values()), [(r, latest[r.movie_id][0]) for r in dropped]


def _file_line(rating: formats.Rating) -> int:
    """The rating's line in its file (a span's events carry SPAN_LINE_STRIDE offsets)."""
    return rating.line_number % SPAN_LINE_STRIDE


def _duplicate_error(first: formats.Rating, second: formats.Rating) -> formats.InputDataError:
    later, other = sorted((first, second), key=lambda r: (r.source, r.line_number))[::-1]
    where = (f"line {_file_line(other)}" if other.source == later.source
             else f"{other.source}:{_file_line(other)}")
    return formats.InputDataError(
        later.source, _file_line(later),
        f"user {later.user_id!r} rated movie {later.movie_id!r} again (also on {where}); "
        "--duplicate-ratings keep-latest keeps the latest")


def _dropped_row(dropped: formats.Rating, kept: formats.Rating) -> str:
    """The duplicates/rows.jsonl record of a repeated rating left out."""
    return json.dumps({"file": dropped.source, "line": _file_line(dropped),
                       "user": dropped.user_id, "movie": dropped.movie_id,
                       "kept": f"{kept.source}:{_file_line(kept)}"})


def _user_examples(
    user_and_events: tuple[str, Iterable[Event]],
    protocol: splits.Protocol,
    history_length: int,
    seed: int,
    movies: dict[str, formats.Movie],
    users: dict[str, formats.User] | None,
    cold_movies: frozenset[str] = frozenset(),
    policy: rules.DuplicatePolicy = rules.DuplicatePolicy.KEEP_LATEST,
    new_span_sources: frozenset[str] = frozenset(),
) -> Iterator[Any]:
    """(split, serialized tf.Example) for each event of one user, after `latest_ratings`; each
    rating it drops as a TaggedOutput(duplicate, JSON record); an event read from one of
    `new_span_sources` is also yielded as (NEW_SPAN, the same example); COLDSTART's
    `cold_movies` are eval events only.

    The history of an event holds the user's earlier training and validation events only, so
    no eval movie ever leaks into a model's input. A user COLDSTART holds out yields only the
    eval examples of `_held_out_user_examples`.
    """
    user_id, events = user_and_events
    user = users[user_id] if users is not None else None
    kept, dropped = latest_ratings(events, policy)
    for old, new in dropped:
        yield beam.pvalue.TaggedOutput(_DUPLICATE, _dropped_row(old, new))
    if protocol == splits.Protocol.COLDSTART and splits.is_cold_user(user_id, seed):
        yield from _held_out_user_examples(kept, movies, user)
        return
    history: list[str] = []
    for rating, split in assign_splits(kept, protocol, seed, cold_movies):
        example = serialized_example(rating, movies[rating.movie_id], user,
                                     history[-history_length:])
        yield split, example
        if rating.source in new_span_sources:
            yield splits.NEW_SPAN, example
        if split != splits.EVAL:
            history.append(rating.movie_id)


def _held_out_user_examples(
    events: list[tuple[formats.Rating, str | None]], movies: dict[str, formats.Movie],
    user: formats.User | None,
) -> Iterator[tuple[str, bytes]]:
    """A held-out user's eval examples: for each k of `splits.given_ratings`, the k-th rating
    (in time order) with the k ratings before it as the history given at query time."""
    ordered = [rating for rating, _ in sorted(events, key=lambda e: splits.event_order_key(
        e[0].timestamp, e[0].line_number))]
    for k in splits.given_ratings(len(ordered)):
        given = [rating.movie_id for rating in ordered[:k]]
        target = ordered[k]
        yield splits.EVAL, serialized_example(target, movies[target.movie_id], user, given)


def to_example(
    rating: formats.Rating, movie: formats.Movie, user: formats.User | None, history: list[str]
) -> tf.train.Example:
    """The raw tf.Example of one rating event (schema: contract/features.py)."""
    return tf.train.Example.FromString(serialized_example(rating, movie, user, history))


def serialized_example(
    rating: formats.Rating, movie: formats.Movie, user: formats.User | None, history: list[str]
) -> bytes:
    """to_example's Example, serialized, from three serialized parts: parsing concatenated
    messages merges them (protobuf wire format), so each movie's and user's features are
    built once per worker, not once per rating (~10x faster than building whole Examples)."""
    return _movie_features(movie) + _user_features(user) + _event_features(rating, history)


@functools.lru_cache(maxsize=1 << 17)
def _movie_features(movie: formats.Movie) -> bytes:
    example = tf.train.Example()
    feature = example.features.feature
    feature[F.TITLE].bytes_list.value.append(movie.title.encode())
    feature[F.YEAR].int64_list.value.append(movie.year)
    feature[F.GENRES].bytes_list.value.extend([genre.encode() for genre in movie.genres])
    return example.SerializeToString()


@functools.lru_cache(maxsize=1 << 17)
def _user_features(user: formats.User | None) -> bytes:
    example = tf.train.Example()
    feature = example.features.feature
    feature[F.GENDER].bytes_list.value.append((user.gender if user else F.UNKNOWN_TOKEN).encode())
    feature[F.AGE].int64_list.value.append(user.age if user else 0)
    feature[F.OCCUPATION].bytes_list.value.append(
        (user.occupation if user else F.UNKNOWN_TOKEN).encode())
    return example.SerializeToString()


def _event_features(rating: formats.Rating, history: list[str]) -> bytes:
    example = tf.train.Example()
    feature = example.features.feature
    feature[F.USER_ID].bytes_list.value.append(rating.user_id.encode())
    feature[F.MOVIE_ID].bytes_list.value.append(rating.movie_id.encode())
    feature[F.RATING].float_list.value.append(rating.rating)
    feature[F.TIMESTAMP].int64_list.value.append(rating.timestamp)
    # Always present, even empty: the schema requires every feature in every example.
    feature[F.HISTORY].bytes_list.value.extend([movie_id.encode() for movie_id in history])
    return example.SerializeToString()
