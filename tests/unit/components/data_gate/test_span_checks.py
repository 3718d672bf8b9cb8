"""The data gate's span checks (components/data_gate/executor.py): which split is compared for
drift, and a window holding a span the gate never accepted."""

from __future__ import annotations

import pytest
from tfx.types import artifact_utils, standard_artifacts

from components.data_gate import executor
from components.data_gate.errors import DataValidationError
from contract import splits
from tests.fixtures.documented import assert_documented


def _statistics(split_names, span=None):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.split_names = artifact_utils.encode_split_names(list(split_names))
    if span is not None:
        artifact.set_int_custom_property(executor.SPAN_PROPERTY, span)
    return artifact


def _examples(window_spans):
    artifact = standard_artifacts.Examples()
    if window_spans:
        artifact.set_string_custom_property(executor.WINDOW_SPANS_PROPERTY, window_spans)
    return artifact


def test_spans_compare_the_new_span_and_plain_directories_the_train_split():
    assert executor.drift_split(_statistics([*splits.SPLITS, splits.NEW_SPAN])) == "new_span"
    assert executor.drift_split(_statistics(splits.SPLITS)) == "train"
    assert executor.drift_split(_statistics(["new_span"])) == "new_span"  # accepted statistics


def test_the_window_of_plain_examples_is_none():
    assert executor.window_of(_examples("")) is None
    assert executor.window_of(_examples("3,4,5")) == executor.Window((3, 4, 5))


@pytest.mark.parametrize(("window", "last_accepted"), [
    ((3, 4, 5), 4), ((4, 5), 4), ((5,), 2), ((1, 2, 3), 7)])
def test_a_window_of_accepted_spans_and_its_new_one_passes(window, last_accepted):
    executor.check_window_accepted(executor.Window(window), _statistics(["new_span"],
                                                                        last_accepted))


def test_a_span_the_gate_never_accepted_refuses_the_window():
    with pytest.raises(DataValidationError) as error:
        executor.check_window_accepted(executor.Window((3, 4, 5, 6)), _statistics(["x"], 3))
    message = str(error.value)
    assert message.startswith("spans 4, 5 were never accepted by the data gate (the last "
                              "accepted span is 3): run it first (`recsys run --span 4`")
    assert message.endswith("then run span 6 again") and "\n" not in message


def test_one_span_never_accepted_is_the_documented_line():
    with pytest.raises(DataValidationError) as error:
        executor.check_window_accepted(executor.Window((8, 9, 10)), _statistics(["x"], 8))
    assert_documented(str(error.value), "span 9 was never accepted by the data gate (the last "
                      "accepted span is 8): run it first (`recsys run --span 9`, with a higher "
                      "--drift-threshold if its change is expected), or remove it from the data "
                      "directory, then run span 10 again")


def test_a_baseline_from_a_plain_directory_does_not_check_spans():
    executor.check_window_accepted(executor.Window((4, 5)), _statistics(["train"]))
