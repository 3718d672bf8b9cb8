"""BatchRecommender's executor: a Beam pipeline through the pushed SavedModel's signatures.

    examples (every split of the window) -> (user, movies rated) -> batches -> `recommend`
        with the user's rated movies excluded -> users-*.parquet
    examples -> distinct movies -> batches -> `similar_items` -> similar_movies-*.parquet
    then index.json (written last: a reader that finds it finds every shard)

Each user row is what `GET /recommend?user_id=U&exclude_seen=true` answers for the top 10
(recsys/serving: the same signature, no history given, the user's rated movies excluded; the
slots the model could only fill with an excluded movie are dropped, as the service drops
them). Each movie row is `similar_items`' answer for a movie the model knows.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
from absl import logging
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from contract import features as F
from contract import keys, splits

PUSHED_MODEL_KEY = "pushed_model"
MODEL_KEY = "model"  # the Trainer's Model artifact the Pusher copied
EXAMPLES_KEY = "examples"
RECOMMENDATIONS_KEY = "recommendations"
DESTINATION_KEY = "destination"
INDEX_FILE = "index.json"
USERS_PREFIX = "users"
SIMILAR_PREFIX = "similar_movies"
# The Pusher's PushedModel properties (TFX's Pusher executor names them so).
PUSHED, PUSHED_DESTINATION, PUSHED_VERSION = "pushed", "pushed_destination", "pushed_version"
# Recorded on the InferenceResult artifact.
WRITTEN, USERS, MOVIES = "written", "users", "movies"
BATCH_SIZE = 256
EXCLUDED_SCORE = -1e8  # `recommend` scores an excluded movie -1e9
_SCORED = [("movie_ids", pa.list_(pa.string())), ("scores", pa.list_(pa.float32()))]
USERS_SCHEMA = pa.schema([("user_id", pa.string()), *_SCORED])
SIMILAR_SCHEMA = pa.schema([("movie_id", pa.string()), *_SCORED])


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
        result = artifact_utils.get_single_instance(output_dict[RECOMMENDATIONS_KEY])
        if pushed.get_int_custom_property(PUSHED) != 1:
            logging.info("The model was not pushed: no batch recommendations.")
            result.set_int_custom_property(WRITTEN, 0)
            return
        version = pushed.get_string_custom_property(PUSHED_VERSION)
        target = f"{exec_properties[DESTINATION_KEY].rstrip('/')}/{version}"
        index = read_index(target)
        if index is None:  # an identical re-run pushes no new version: nothing to redo
            examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
            # The pushed files, read where the Trainer wrote them: the Pusher copied them
            # byte for byte, and the pipeline root is where this step can always read.
            model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
            index = self.write(path_utils.serving_model_path(model.uri),
                               example_patterns(examples), target, version,
                               pushed.get_string_custom_property(PUSHED_DESTINATION))
        result.set_int_custom_property(WRITTEN, 1)
        result.set_string_custom_property(DESTINATION_KEY, target)
        result.set_int_custom_property(USERS, index[USERS])
        result.set_int_custom_property(MOVIES, index[MOVIES])

    def write(self, model_path: str, patterns: list[str], target: str,
              version: str, pushed_to: str) -> dict[str, Any]:
        """Runs the Beam pipeline into `target` with the SavedModel at `model_path` (the one
        pushed to `pushed_to`), then writes and returns the index."""
        if tf.io.gfile.exists(target):  # a killed attempt's shards, without an index
            tf.io.gfile.rmtree(target)
        try:
            with self._make_beam_pipeline() as pipeline:
                recommendation_pipeline(pipeline, model_path, patterns, target)
            return self._write_index(pushed_to, patterns, target, version)
        except Exception:
            if tf.io.gfile.exists(target):  # no shards without an index
                tf.io.gfile.rmtree(target)
            raise

    def _write_index(self, pushed_to: str, patterns: list[str], target: str,
                     version: str) -> dict[str, Any]:
        index = {
            "model": os.path.basename(os.path.dirname(target.rstrip("/"))),
            "version": version, "model_path": pushed_to, "top_k": keys.TOP_K,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "examples": patterns,
            USERS: _rows(target, USERS_PREFIX), MOVIES: _rows(target, SIMILAR_PREFIX),
            "files": {prefix: sorted(os.path.basename(path) for path in _shards(target, prefix))
                      for prefix in (USERS_PREFIX, SIMILAR_PREFIX)},
        }
        with tf.io.gfile.GFile(os.path.join(target, INDEX_FILE), "w") as handle:
            json.dump(index, handle, indent=1)
        logging.info("Batch recommendations of %d users and %d movies in %s.",
                     index[USERS], index[MOVIES], target)
        return index


def example_patterns(examples) -> list[str]:
    """The window's example files: every protocol split (not NEW_SPAN, a copy of some)."""
    names = artifact_utils.decode_split_names(examples.split_names)
    return [os.path.join(artifact_utils.get_split_uri([examples], split), "*")
            for split in splits.SPLITS if split in names]


def recommendation_pipeline(pipeline: beam.Pipeline, model_path: str, patterns: list[str],
                            target: str) -> None:
    """The Beam steps of the module docstring, writing the shards into `target`."""
    events = (
        pipeline
        | "Patterns" >> beam.Create(patterns)
        | "ReadExamples" >> beam.io.ReadAllFromTFRecord(
            compression_type=beam.io.filesystem.CompressionTypes.GZIP)
        | "UserAndMovie" >> beam.Map(user_and_movie)
    )
    users = events | "GroupByUser" >> beam.GroupByKey()
    movies = events | "Movies" >> beam.Values() | "DistinctMovies" >> beam.Distinct()
    _write_calls(users, "Recommend", Recommend(model_path),
                 os.path.join(target, USERS_PREFIX), USERS_SCHEMA)
    _write_calls(movies, "SimilarItems", SimilarItems(model_path),
                 os.path.join(target, SIMILAR_PREFIX), SIMILAR_SCHEMA)


def _write_calls(items: beam.PCollection, label: str, call: beam.DoFn, prefix: str,
                 schema: pa.Schema) -> None:
    """`items` in batches through `call`, its rows written as Parquet shards `prefix-*`."""
    _ = (
        items
        | f"Batch{label}" >> beam.BatchElements(min_batch_size=BATCH_SIZE,
                                                max_batch_size=BATCH_SIZE)
        | label >> beam.ParDo(call)
        | f"Write{label}" >> beam.io.WriteToParquet(prefix, schema, file_name_suffix=".parquet")
    )


def user_and_movie(serialized: bytes) -> tuple[str, str]:
    features = tf.train.Example.FromString(serialized).features.feature
    return (features[F.USER_ID].bytes_list.value[0].decode(),
            features[F.MOVIE_ID].bytes_list.value[0].decode())


class _SignatureDoFn(beam.DoFn):
    """Loads the SavedModel once per DoFn instance (each Beam worker's) and calls one of its
    signatures on whole batches."""

    signature = ""

    def __init__(self, model_path: str) -> None:
        self._model_path = model_path
        self._call = None

    def setup(self) -> None:
        self._call = tf.saved_model.load(self._model_path).signatures[self.signature]


class Recommend(_SignatureDoFn):
    signature = keys.RECOMMEND

    def process(self, batch: list[tuple[str, Iterable[str]]]) -> Iterator[dict[str, Any]]:
        users = [user for user, _ in batch]
        seen = [sorted(set(movies)) for _, movies in batch]
        # One string per row (keys.ID_SEPARATOR), "" history: the stored one.
        outputs = self._call(user_id=tf.constant(users), history=tf.fill([len(users)], ""),
                             exclude_movie_ids=tf.constant(
                                 [keys.ID_SEPARATOR.join(movies) for movies in seen]))
        yield from _rows_of("user_id", users, outputs, keep=lambda score: score > EXCLUDED_SCORE)


class SimilarItems(_SignatureDoFn):
    signature = keys.SIMILAR_ITEMS

    def process(self, batch: list[str]) -> Iterator[dict[str, Any]]:
        outputs = self._call(movie_id=tf.constant(batch))
        known = outputs["known"].numpy()
        movies = [movie for movie, is_known in zip(batch, known, strict=True) if is_known]
        outputs = {name: outputs[name].numpy()[known] for name in ("movie_ids", "scores")}
        yield from _rows_of("movie_id", movies, outputs, keep=lambda score: True)


def _rows_of(key: str, ids: list[str], outputs, keep) -> Iterator[dict[str, Any]]:
    movie_ids, scores = np.asarray(outputs["movie_ids"]), np.asarray(outputs["scores"])
    for row, identifier in enumerate(ids):
        kept = [i for i, score in enumerate(scores[row]) if keep(score)]
        yield {key: identifier,
               "movie_ids": [movie_ids[row][i].decode() for i in kept],
               "scores": [float(scores[row][i]) for i in kept]}


def _shards(target: str, prefix: str) -> list[str]:
    return tf.io.gfile.glob(os.path.join(target, f"{prefix}-*.parquet"))


def _rows(target: str, prefix: str) -> int:
    total = 0
    for path in _shards(target, prefix):
        with tf.io.gfile.GFile(path, "rb") as handle:  # local or gs://
            total += pq.ParquetFile(pa.BufferReader(handle.read())).metadata.num_rows
    return total


def read_index(target: str) -> dict[str, Any] | None:
    """The index of recommendations written to `target`, None if there are none (yet)."""
    path = os.path.join(target, INDEX_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)
