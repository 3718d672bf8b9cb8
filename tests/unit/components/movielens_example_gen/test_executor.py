"""Per-user split and history logic of the MovieLens ExampleGen executor (pure functions)."""

import json

import pytest
import tensorflow as tf
from apache_beam.pvalue import TaggedOutput
from tfx.types import standard_component_specs

from components.movielens_example_gen import executor, formats, rules
from contract import features as F
from contract import splits

MOVIES = {m: formats.Movie(m, f"Movie {m}", 1990, ("Drama",)) for m in "abcde"}


def _event(movie, timestamp, line, split=None):
    return formats.Rating("u1", movie, 4.0, timestamp, "u.data", line), split


def _examples(events, protocol, history_length=3):
    out = []
    for split, payload in executor._user_examples(
            ("u1", events), protocol, history_length, 42, MOVIES, None):
        example = tf.train.Example.FromString(payload)
        values = example.features.feature
        out.append((split, values[F.MOVIE_ID].bytes_list.value[0].decode(),
                    [h.decode() for h in values[F.HISTORY].bytes_list.value]))
    return out


def test_topk_holds_out_the_latest_event_ties_broken_by_file_order():
    events = [_event("c", 300, 9), _event("a", 100, 1), _event("d", 300, 4), _event("b", 200, 2)]
    assigned = executor.assign_splits(events, splits.Protocol.TOPK, 42)
    assert [(r.movie_id, s) for r, s in assigned] == [
        ("a", "train"), ("b", "train"), ("d", "validation"), ("c", "eval")]


def test_topk_validation_is_the_latest_training_event_while_another_stays():
    two = [_event("a", 1, 1), _event("b", 2, 2)]
    assert [s for _, s in executor.assign_splits(two, splits.Protocol.TOPK, 42)] == [
        "train", "eval"]
    three = [*two, _event("c", 3, 3)]
    assert [s for _, s in executor.assign_splits(three, splits.Protocol.TOPK, 42)] == [
        "train", "validation", "eval"]


def test_history_holds_earlier_training_and_validation_movies_newest_last_and_capped():
    events = [_event(m, t, t) for m, t in zip("abcde", (1, 2, 3, 4, 5), strict=True)]
    assert _examples(events, splits.Protocol.TOPK) == [
        ("train", "a", []), ("train", "b", ["a"]), ("train", "c", ["a", "b"]),
        ("validation", "d", ["a", "b", "c"]), ("eval", "e", ["b", "c", "d"])]


def test_presplit_eval_events_never_enter_a_history():
    events = [_event("a", 1, 1, "train"), _event("b", 2, 1, "eval"), _event("c", 3, 2, "train")]
    assert _examples(events, splits.Protocol.PRESPLIT) == [
        ("train", "a", []), ("eval", "b", ["a"]), ("train", "c", ["a"])]


def test_rating_protocol_uses_the_shared_seeded_splits():
    events = [_event("a", t, line) for t, line in enumerate(range(1, 2001))]
    assigned = executor.assign_splits(events, splits.Protocol.RATING, 42)
    for rating, split in assigned:
        test = splits.rating_split_is_test(rating.line_number, 42)
        validation = splits.is_validation_share(rating.line_number, 42)
        assert split == ("eval" if test else "validation" if validation else "train")
    shares = {split: sum(s == split for _, s in assigned) / len(assigned)
              for split in splits.SPLITS}
    assert 0.15 < shares["eval"] < 0.25 and 0.02 < shares["validation"] < 0.06


def test_missing_demographics_use_the_unknown_token():
    example = executor.to_example(_event("a", 1, 1)[0], MOVIES["a"], None, [])
    values = example.features.feature
    assert values[F.GENDER].bytes_list.value == [F.UNKNOWN_TOKEN.encode()]
    assert values[F.AGE].int64_list.value == [0]


def test_a_repeated_movie_is_held_out_or_trained_on_never_both():
    # "a" rated at 1 and again, last, at 9: only the latest rating is kept, and it is the
    # held-out one, so "a" is not also in the eval example's history or the training rows.
    events = [_event("a", 1, 1), _event("b", 2, 2), _event("a", 9, 3)]
    out = list(executor._user_examples(("u1", events), splits.Protocol.TOPK, 3, 42, MOVIES,
                                       None))
    dropped = [json.loads(item.value) for item in out if isinstance(item, TaggedOutput)]
    examples = [item for item in out if not isinstance(item, TaggedOutput)]
    assert dropped == [{"file": "u.data", "line": 1, "user": "u1", "movie": "a",
                        "kept": "u.data:3"}]
    movies = [tf.train.Example.FromString(payload).features.feature for _, payload in examples]
    assert [(split, f[F.MOVIE_ID].bytes_list.value[0], list(f[F.HISTORY].bytes_list.value))
            for (split, _), f in zip(examples, movies, strict=True)] == [
        ("train", b"b", []), ("eval", b"a", [b"b"])]


def test_equal_timestamps_keep_the_later_line():
    kept, dropped = executor.latest_ratings(
        [_event("a", 5, 8), _event("a", 5, 2)], rules.DuplicatePolicy.KEEP_LATEST)
    assert [r.line_number for r, _ in kept] == [8]
    assert [(old.line_number, new.line_number) for old, new in dropped] == [(2, 8)]


def test_presplit_refuses_the_same_file_for_train_and_eval():
    props = {executor.TRAIN_FILE_KEY: "u1.base", executor.EVAL_FILE_KEY: "./u1.base"}
    with pytest.raises(formats.InputDataError) as error:
        executor.rating_sources("/d", formats.LAYOUTS[0], splits.Protocol.PRESPLIT, props)
    assert str(error.value) == (
        "/d/./u1.base: is both the train and the eval file; give two different files")


@pytest.mark.parametrize("protocol, counts, message", [
    ("topk", {"train": 0, "eval": 3}, "/d: the train split is empty: every user has a single "
     "rating, and protocol topk holds each user's last rating out"),
    ("rating", {"train": 4}, "/d: the eval split is empty: too few ratings for protocol "
     "rating's 80/20 split"),
    ("presplit", {"train": 4, "eval": 0}, "/d/u1.test: no eval rows are left (every row was "
     "rejected or repeats a rating)"),
])
def test_an_empty_split_stops_the_example_gen(protocol, counts, message):
    props = {standard_component_specs.INPUT_BASE_KEY: "/d", executor.PROTOCOL_KEY: protocol,
             executor.TRAIN_FILE_KEY: "u1.base", executor.EVAL_FILE_KEY: "u1.test"}
    with pytest.raises(formats.InputDataError) as error:
        executor.check_splits_have_examples(counts, props)
    assert str(error.value) == message
    executor.check_splits_have_examples({"train": 1, "eval": 1}, props)  # both: no error
