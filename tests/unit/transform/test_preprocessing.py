"""preprocessing_fn on a few hand-written rows, through the real TFT Beam implementation."""

import functools
import tempfile

import numpy as np
import pytest
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from contract import features as F
from contract import keys
from tests.fixtures.raw_features import RAW_SPEC
from transform.preprocessing import preprocessing_fn


def _row(user, movie, rating, ts, genres, history, gender="M", age=30, year=1995):
    return {
        F.USER_ID: [user], F.MOVIE_ID: [movie], F.RATING: [rating], F.TIMESTAMP: [ts],
        F.TITLE: ["t" + movie], F.YEAR: [year], F.GENRES: genres, F.GENDER: [gender],
        F.AGE: [age], F.OCCUPATION: ["writer"], F.HISTORY: history,
    }


ROWS = [
    _row("u1", "m1", 4.0, 100, ["Drama"], []),
    _row("u1", "m2", 3.0, 200, ["Drama", "Comedy"], ["m1"]),
    _row("u1", "m1", 5.0, 300, ["Drama"], ["m1", "m2"]),
    _row("u2", "m3", 1.0, 400, [], ["m2"], gender="F", age=50, year=0),
    _row("u2", "m1", 2.0, 500, ["Drama"], ["m2", "m3"] + ["m1"] * 30, gender="F", age=50),
]


def _analyze_and_transform(fn):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        (rows, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        out = tempfile.mkdtemp()
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    return rows, tft.TFTransformOutput(out)


@pytest.fixture(scope="module")
def transformed():
    return _analyze_and_transform(preprocessing_fn)


def test_ids_map_through_vocabularies_with_oov_at_vocab_size(transformed):
    rows, output = transformed
    movie_vocab = output.vocabulary_by_name(F.MOVIE_VOCAB)
    assert [m.decode() for m in movie_vocab][0] == "m1"  # most frequent first
    index_of = {m.decode(): i for i, m in enumerate(movie_vocab)}
    assert [r[F.MOVIE_INDEX] for r in rows] == [index_of[m[F.MOVIE_ID][0]] for m in ROWS]
    users = output.vocabulary_by_name(F.USER_VOCAB)
    assert sorted(u.decode() for u in users) == ["u1", "u2"]


def test_genres_become_a_fixed_width_multi_hot(transformed):
    rows, output = transformed
    genres = [g.decode() for g in output.vocabulary_by_name(F.GENRE_VOCAB)]
    for row, raw in zip(rows, ROWS, strict=True):
        multi_hot = np.asarray(row[F.GENRES_MULTI_HOT])
        assert multi_hot.shape == (F.GENRE_SLOTS,)
        assert sorted(genres[i] for i in np.flatnonzero(multi_hot)) == sorted(raw[F.GENRES])


def test_history_is_right_aligned_shifted_and_truncated(transformed):
    rows, output = transformed
    index_of = {m.decode(): i for i, m in enumerate(output.vocabulary_by_name(F.MOVIE_VOCAB))}
    width = F.DEFAULT_HISTORY_LENGTH
    second = np.asarray(rows[1][F.HISTORY_INDEX])
    assert second.shape == (width,)
    assert list(second[:-1]) == [0] * (width - 1)
    assert second[-1] == index_of["m1"] + 1
    assert rows[0][F.HISTORY_LENGTH_FEATURE] == 0 and not np.any(rows[0][F.HISTORY_INDEX])
    longest = np.asarray(rows[4][F.HISTORY_INDEX])
    assert rows[4][F.HISTORY_LENGTH_FEATURE] == width
    assert list(longest) == [index_of["m1"] + 1] * width  # oldest two fell off
    assert output.transformed_feature_spec()[F.HISTORY_INDEX].shape == [width]


def test_the_history_width_is_the_custom_configs_and_written_in_the_output_schema():
    rows, output = _analyze_and_transform(functools.partial(
        preprocessing_fn, custom_config={keys.HISTORY_LENGTH_KEY: 3}))
    index_of = {m.decode(): i for i, m in enumerate(output.vocabulary_by_name(F.MOVIE_VOCAB))}
    assert output.transformed_feature_spec()[F.HISTORY_INDEX].shape == [3]
    assert list(rows[2][F.HISTORY_INDEX]) == [0, index_of["m1"] + 1, index_of["m2"] + 1]
    # ["m2", "m3", "m1" x 30]: the newest three are kept
    assert list(rows[4][F.HISTORY_INDEX]) == [index_of["m1"] + 1] * 3
    assert [r[F.HISTORY_LENGTH_FEATURE] for r in rows] == [0, 1, 2, 1, 3]


def test_side_features_are_bucketized_and_scaled(transformed):
    rows, _ = transformed
    scaled = [r[F.TIMESTAMP_SCALED] for r in rows]
    assert scaled[0] == pytest.approx(0.0) and scaled[-1] == pytest.approx(1.0)
    assert all(0 <= r[F.AGE_BUCKET] < F.AGE_BUCKETS for r in rows)
    assert rows[3][F.YEAR_BUCKET] < rows[0][F.YEAR_BUCKET]  # unknown year 0 sorts lowest
    assert [r[F.RATING] for r in rows] == [4.0, 3.0, 5.0, 1.0, 2.0]
    assert rows[0][F.GENDER_INDEX] != rows[3][F.GENDER_INDEX]
