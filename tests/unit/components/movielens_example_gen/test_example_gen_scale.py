"""The ExampleGen at scale: ratings read in parts by Beam keep their line numbers, events cross
the shuffle packed, and examples built from cached parts equal the field-by-field Example."""

from __future__ import annotations

import glob
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from tfx.types import standard_component_specs

from components.movielens_example_gen import executor, formats
from contract import features as F
from contract import splits
from recsys.data import synth

USERS, RATINGS = 30, 1_500


def _reference_example(rating, movie, user, history) -> tf.train.Example:
    """The Example spelled out feature by feature (contract/features.py)."""

    def strings(*values: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    def ints(*values: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    return tf.train.Example(features=tf.train.Features(feature={
        F.USER_ID: strings(rating.user_id), F.MOVIE_ID: strings(rating.movie_id),
        F.RATING: tf.train.Feature(float_list=tf.train.FloatList(value=[rating.rating])),
        F.TIMESTAMP: ints(rating.timestamp), F.TITLE: strings(movie.title),
        F.YEAR: ints(movie.year), F.GENRES: strings(*movie.genres),
        F.GENDER: strings(user.gender if user else F.UNKNOWN_TOKEN),
        F.AGE: ints(user.age if user else 0),
        F.OCCUPATION: strings(user.occupation if user else F.UNKNOWN_TOKEN),
        F.HISTORY: strings(*history)}))


@pytest.mark.parametrize("genres", [("Drama", "Comedy"), ()])
@pytest.mark.parametrize("user", [None, formats.User("7", "F", 25, "writer")])
@pytest.mark.parametrize("history", [[], ["3", "1"]])
def test_examples_from_cached_parts_equal_the_spelled_out_example(genres, user,
                                                                  history) -> None:
    rating = formats.Rating("7", "42", 3.5, 978300760, "ratings.csv", 9)
    movie = formats.Movie("42", "Café, The", 1995, genres)
    example = tf.train.Example.FromString(
        executor.serialized_example(rating, movie, user, history))
    assert example == _reference_example(rating, movie, user, history)
    for name in (F.HISTORY, F.GENRES):  # present even when empty: the schema needs them
        assert example.features.feature[name].WhichOneof("kind") == "bytes_list"


def test_packed_events_unpack_to_the_same_rating() -> None:
    sources = [("u1.base", splits.TRAIN), ("u1.test", splits.EVAL)]
    rating = formats.Rating("12", "3407", 4.5, 2**40 + 1, "u1.test", 123_456_789)
    user_id, packed = executor.pack_event(("12", (rating, splits.EVAL)), ["u1.base",
                                                                             "u1.test"])
    assert len(packed) < 40
    assert executor.unpack_event(user_id, packed, sources) == (rating, splits.EVAL)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ml-latest")
    synth.write_dataset(directory, users=USERS, movies=200, ratings=RATINGS, seed=4)
    return directory


def _examples(data_dir: Path, out: Path, part_bytes: int, monkeypatch) -> dict[str, set]:
    """Each split's serialized examples, the ExampleGen's Beam part run in-process."""
    monkeypatch.setattr(executor, "PART_BYTES", part_bytes)
    properties = {standard_component_specs.INPUT_BASE_KEY: str(data_dir),
                  executor.PROTOCOL_KEY: splits.Protocol.TOPK.value,
                  executor.HISTORY_LENGTH_KEY: 20, executor.SEED_KEY: 42}
    with beam.Pipeline() as pipeline:
        outputs = executor.Executor().GenerateExamplesByBeam(pipeline, properties)
        for name, examples in outputs.items():
            _ = examples | f"Write{name}" >> beam.io.WriteToTFRecord(str(out / name))
    return {name: {record.numpy() for record in tf.data.TFRecordDataset(
        glob.glob(str(out / f"{name}*")))} for name in outputs}


def test_ratings_read_in_many_parts_give_the_same_examples(data_dir, tmp_path,
                                                           monkeypatch) -> None:
    parts = formats.line_ranges(str(data_dir / "ratings.csv"), 2_000)
    assert len(parts) > 10
    whole = _examples(data_dir, tmp_path / "whole", 1 << 30, monkeypatch)
    in_parts = _examples(data_dir, tmp_path / "parts", 2_000, monkeypatch)
    assert len(whole[splits.EVAL]) == len(whole[splits.VALIDATION]) == USERS
    assert len(whole[splits.TRAIN]) == RATINGS - 2 * USERS
    assert in_parts == whole


def test_a_bad_line_in_a_later_part_is_named_by_its_line(data_dir, tmp_path,
                                                         monkeypatch) -> None:
    lines = (data_dir / "ratings.csv").read_text().splitlines(keepends=True)
    user, movie, _, timestamp = lines[1234].split(",")
    lines[1234] = f"{user},{movie},abc,{timestamp}"  # line 1235 of the file
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ratings.csv").write_text("".join(lines))
    (bad / "movies.csv").write_bytes((data_dir / "movies.csv").read_bytes())
    with pytest.raises(Exception, match=r"ratings\.csv:1235: rating 'abc' is not a number"):
        _examples(bad, tmp_path / "out", 2_000, monkeypatch)


def test_coldstart_keeps_held_out_users_and_movies_out_of_training(data_dir, tmp_path,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(executor, "PART_BYTES", 1 << 30)
    properties = {standard_component_specs.INPUT_BASE_KEY: str(data_dir),
                  executor.PROTOCOL_KEY: splits.Protocol.COLDSTART.value,
                  executor.HISTORY_LENGTH_KEY: 20, executor.SEED_KEY: 42}
    with beam.Pipeline() as pipeline:
        outputs = executor.Executor().GenerateExamplesByBeam(pipeline, properties)
        for name, examples in outputs.items():
            _ = examples | f"Write{name}" >> beam.io.WriteToTFRecord(str(tmp_path / name))

    def rows(split: str) -> list[tuple[str, str, int, list[str]]]:
        out = []
        for record in tf.data.TFRecordDataset(glob.glob(str(tmp_path / f"{split}*"))):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            out.append((feature[F.USER_ID].bytes_list.value[0].decode(),
                        feature[F.MOVIE_ID].bytes_list.value[0].decode(),
                        feature[F.TIMESTAMP].int64_list.value[0],
                        [h.decode() for h in feature[F.HISTORY].bytes_list.value]))
        return out

    ratings = [line.split(",") for line in (data_dir / "ratings.csv").read_text().splitlines()[1:]]
    first_rated: dict[str, int] = {}
    for _, movie, _, timestamp in ratings:
        first_rated[movie] = min(first_rated.get(movie, 1 << 62), int(timestamp))
    cold_movies = splits.cold_movies(first_rated)
    held_out = {user for user, *_ in ratings if splits.is_cold_user(user, 42)}
    assert held_out and cold_movies
    training = rows(splits.TRAIN) + rows(splits.VALIDATION)
    assert not {user for user, *_ in training} & held_out
    assert not {movie for _, movie, *_ in training} & cold_movies
    evaluation = rows(splits.EVAL)
    for user in held_out:  # asked with 0, 1, 3, 5 given ratings, in time order
        asked = sorted((len(history), timestamp, history) for u, _, timestamp, history
                       in evaluation if u == user)
        count = sum(1 for u, *_ in ratings if u == user)
        assert [given for given, *_ in asked] == splits.given_ratings(count)
        for (_, _, shorter), (_, _, longer) in zip(asked, asked[1:], strict=False):
            assert longer[:len(shorter)] == shorter  # the first ratings, growing
    known_user_rows = [row for row in evaluation if row[0] not in held_out]
    assert {movie for _, movie, *_ in known_user_rows} <= cold_movies
    assert len(known_user_rows) == sum(1 for user, movie, *_ in ratings
                                       if user not in held_out and movie in cold_movies)
