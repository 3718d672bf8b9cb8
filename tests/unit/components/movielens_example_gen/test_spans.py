"""Spans (components/movielens_example_gen/spans.py): which spans are complete, the window,
the merged movies and users, and the ExampleGen's Beam part on a window."""

from __future__ import annotations

import glob

import apache_beam as beam
import pytest
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.types import standard_component_specs

from components.movielens_example_gen import executor, spans
from components.movielens_example_gen.errors import InputDataError
from contract import features as F
from contract import splits
from tests.fixtures.movielens_files import write_ml100k_spans

USERS, RATINGS_PER_USER = 12, 6


@pytest.fixture
def spans_dir(tmp_path):
    return write_ml100k_spans(tmp_path / "spans", spans=3, users=USERS, movies=20,
                              ratings_per_user=RATINGS_PER_USER)


def test_only_spans_with_their_marker_are_complete(spans_dir):
    (spans_dir / "span-4").mkdir()
    (spans_dir / "span-4" / "u.data").write_text("1\t1\t5\t890000000\n")  # still copying
    assert [s.number for s in spans.complete_spans(str(spans_dir))] == [1, 2, 3]
    assert spans.span_directories(str(spans_dir)) == ["span-1", "span-2", "span-3", "span-4"]


def test_two_directories_for_one_span_are_refused(spans_dir):
    (spans_dir / "span-02").mkdir()
    (spans_dir / "span-02" / spans.SUCCESS_MARKER).write_text("")
    with pytest.raises(InputDataError, match="span 2 is also .*: one directory per span"):
        spans.complete_spans(str(spans_dir))


@pytest.mark.parametrize(("latest", "window", "expected"), [
    (3, 2, [2, 3]), (3, 0, [1, 2, 3]), (2, 5, [1, 2]), (3, 1, [3]), (7, 3, [5, 7])])
def test_the_window_counts_span_numbers_like_tfx_rolling_range(latest, window, expected):
    present = [spans.Span(n, f"span-{n}") for n in (1, 2, 3, 5, 7)]
    assert [s.number for s in spans.in_window(present, latest, window)] == expected


def test_a_later_span_adds_and_corrects_movies(spans_dir):
    (spans_dir / "span-2" / "u.item").write_text(
        "1|Renamed (1999)|01-Jan-1999||http://x|" + "|".join(["0"] * 18 + ["1"]) + "\n"
        "99|New Movie (2001)|01-Jan-2001||http://x|" + "|".join(["0"] * 18 + ["1"]) + "\n")
    window = spans.read_window(str(spans_dir), latest=3, window=1)
    assert [s.number for s in window.spans] == [3]
    assert window.movies["1"].title == "Renamed" and window.movies["99"].year == 2001
    assert window.movies["2"].title.startswith("Caf")  # from the root's u.item
    earlier = spans.read_window(str(spans_dir), latest=1, window=1)
    assert "99" not in earlier.movies  # span 2's movies are not known at span 1


def test_an_incomplete_span_or_missing_metadata_is_one_line(spans_dir):
    (spans_dir / "span-3" / spans.SUCCESS_MARKER).unlink()
    with pytest.raises(InputDataError, match=r"span-3: span 3 is not complete \(no _SUCCESS"):
        spans.read_window(str(spans_dir), latest=3, window=2)
    (spans_dir / "u.user").unlink()
    with pytest.raises(InputDataError, match="u.user: missing: ml-100k spans need it"):
        spans.read_window(str(spans_dir), latest=2, window=2)


def test_the_fingerprint_changes_with_a_span_of_the_window_but_not_a_later_one(spans_dir):
    before = spans.fingerprint(str(spans_dir), 2, 2)
    (spans_dir / "span-3" / "u.data").write_text("1\t1\t5\t999999999\n")
    assert spans.fingerprint(str(spans_dir), 2, 2) == before
    (spans_dir / "span-1" / "u.data").write_text("1\t1\t5\t1\n")
    assert spans.fingerprint(str(spans_dir), 2, 2) != before


def _window_examples(data_dir, latest, window, out) -> dict[str, list[tf.train.Example]]:
    properties = {standard_component_specs.INPUT_BASE_KEY: str(data_dir),
                  executor.PROTOCOL_KEY: splits.Protocol.TOPK.value,
                  executor.HISTORY_LENGTH_KEY: 20, executor.SEED_KEY: 42,
                  executor.WINDOW_KEY: window, example_gen_utils.SPAN_PROPERTY_NAME: latest}
    gen = executor.Executor()
    with beam.Pipeline() as pipeline:
        outputs = gen.GenerateExamplesByBeam(pipeline, properties)
        for name, examples in outputs.items():
            _ = examples | f"Write{name}" >> beam.io.WriteToTFRecord(str(out / name))
    assert gen._window_spans == tuple(range(latest - window + 1, latest + 1))
    return {name: [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(
        glob.glob(str(out / f"{name}*")))] for name in outputs}


def _value(example, name):
    feature = example.features.feature[name]
    return feature.bytes_list.value or feature.int64_list.value or feature.float_list.value


def test_the_window_is_split_per_user_across_its_spans(spans_dir, tmp_path):
    examples = _window_examples(spans_dir, latest=3, window=2, out=tmp_path)
    window_events = USERS * RATINGS_PER_USER * 2 // 3
    assert len(examples[splits.EVAL]) == len(examples[splits.VALIDATION]) == USERS
    assert sum(len(examples[s]) for s in splits.SPLITS) == window_events
    # Each user's latest event is in span 3; their earliest in the window (span 2) has no
    # history from span 1, which is outside the window.
    span_3_times = {int(_value(e, F.TIMESTAMP)[0]) for e in examples[splits.NEW_SPAN]}
    assert len(examples[splits.NEW_SPAN]) == window_events // 2
    assert {int(_value(e, F.TIMESTAMP)[0]) for e in examples[splits.EVAL]} <= span_3_times
    first = min(examples[splits.TRAIN], key=lambda e: _value(e, F.TIMESTAMP)[0])
    assert list(_value(first, F.HISTORY)) == []
    longest = max(len(_value(e, F.HISTORY)) for e in examples[splits.EVAL])
    assert longest == 2 * RATINGS_PER_USER // 3 - 1  # history crosses from span 2 into 3
