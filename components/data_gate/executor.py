"""Executors of the data gate and of the curated-schema importer.

TFX's ExampleValidator only *records* anomalies, and takes no previous statistics; this gate
reads its anomalies, compares this run's statistics with the previous run's (the schema's drift
comparators) and raises DataValidationError, so Transform and everything after it never run
on bad data.

With spans (the Examples carry `span` and `window_spans`), drift is checked per span: the
statistics of the NEW_SPAN split (the latest span's events) against those accepted last, and
the accepted statistics record their span. A window holding a span that no gate accepted (its
run stopped on drift, or it was never run) is refused until that span is accepted or removed.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

# tfx.components first: it stubs tfx_bsl's missing sql_util, without which TFDV 1.16 does not
# import under tfx-bsl 1.21.
import tfx.components  # noqa: F401  isort: skip
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.components.schema_gen.import_schema_gen import executor as import_schema_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data_gate.errors import DataValidationError
from contract import features as F
from contract import schema as curated_schema
from contract import splits

STATISTICS_KEY = "statistics"
PREVIOUS_STATISTICS_KEY = "previous_statistics"
EXAMPLES_KEY = "examples"  # optional: their span properties (ExampleGen's)
SCHEMA_KEY = "schema"
ANOMALIES_KEY = "anomalies"
ACCEPTED_STATISTICS_KEY = "accepted_statistics"
DRIFT_ANOMALIES_KEY = "drift_anomalies"
DRIFT_THRESHOLD_KEY = "drift_threshold"
SCHEMA_DIGEST_KEY = "schema_digest"
HISTORY_LENGTH_KEY = "history_length"  # the run's: the most ids the history feature may hold
DRIFT_SPLIT = "train"  # eval holds one example per user: too few to compare distributions
SPAN_PROPERTY = "span"  # TFX's span property of Examples, copied onto accepted statistics
WINDOW_SPANS_PROPERTY = "window_spans"  # the ExampleGen's: the window's span numbers
ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's file name, one per split
SCHEMA_FILE = "schema.pbtxt"
_MAX_VALUE_TEXT = 300  # keep the one-line error readable on huge domains


class Executor(base_executor.BaseExecutor):
    """Fails on schema anomalies or drift; otherwise passes the schema on to Transform."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        schema_uri = artifact_utils.get_single_uri(input_dict[SCHEMA_KEY])
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
        anomalies = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        problems = schema_problems(anomalies)
        if problems:
            raise DataValidationError(
                f"data validation failed: {'; '.join(problems)} (curated schema "
                f"{curated_schema.resolve()}; report: {anomalies.uri})")
        current = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
        previous = previous_statistics(current, input_dict.get(PREVIOUS_STATISTICS_KEY, []))
        examples = input_dict.get(EXAMPLES_KEY) or []
        window = window_of(examples[0]) if examples else None
        if window is not None and previous is not None:
            check_window_accepted(window, previous)
        drift_artifact = artifact_utils.get_single_instance(output_dict[DRIFT_ANOMALIES_KEY])
        drift = check_drift(current, previous, schema, exec_properties.get(DRIFT_THRESHOLD_KEY))
        write_drift_report(drift_artifact, drift)
        if drift_reasons(drift):
            what = f"in span {window.latest}" if window else "since the previous run"
            raise DataValidationError(
                f"data drift {what}: {'; '.join(drift_reasons(drift))} "
                f"(previous statistics: {previous.uri}; report: {drift_artifact.uri}); if the "
                f"change is expected, re-run with a higher --drift-threshold")
        # Published only now that the data passed: the next run's drift baseline.
        accepted = artifact_utils.get_single_instance(output_dict[ACCEPTED_STATISTICS_KEY])
        accept(current, accepted)
        if window is not None:
            accepted.set_int_custom_property(SPAN_PROPERTY, window.latest)


def schema_problems(anomalies_artifact) -> list[str]:
    """One readable line per anomaly ExampleValidator recorded, over all splits."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(
            artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
        problems += [f"split '{split}': {text}" for text in describe(anomalies)]
    return problems


def describe(anomalies: anomalies_pb2.Anomalies, only_drift: bool = False) -> list[str]:
    """'feature 'genres': Unexpected string values (... Sci-Fy (<1%) ...)' per reason."""
    lines = []
    named = [(f"feature '{name}'", info) for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        named.append(("dataset", anomalies.dataset_anomaly_info))
    for name, info in named:
        for reason in info.reason:
            if only_drift and not _is_drift(reason):
                continue
            description = " ".join(reason.description.split())[:_MAX_VALUE_TEXT]
            lines.append(f"{name}: {reason.short_description} ({description})")
    return lines


def _is_drift(reason: anomalies_pb2.AnomalyInfo.Reason) -> bool:
    return anomalies_pb2.AnomalyInfo.Type.Name(reason.type).startswith("COMPARATOR_")


def previous_statistics(current, candidates: list):
    """The statistics the gate accepted last (None on a first run)."""
    return max(candidates, key=lambda a: a.id) if candidates else None


class Window(NamedTuple):
    """The spans an Examples artifact holds: its window's span numbers, the latest last."""

    spans: tuple[int, ...]

    @property
    def latest(self) -> int:
        return self.spans[-1]


def window_of(examples) -> Window | None:
    """The window of an ExampleGen's Examples artifact, None for a plain directory."""
    text = examples.get_string_custom_property(WINDOW_SPANS_PROPERTY)
    return Window(tuple(int(n) for n in text.split(","))) if text else None


def check_window_accepted(window: Window, previous) -> None:
    """Raises when the window holds a span newer than the last accepted one other than its
    latest: a span whose run stopped (drift) or that no run read, never checked for drift.
    Accepting that span's own run (`--span N`, with a higher --drift-threshold if it drifted)
    or removing it clears the way."""
    if not previous.has_custom_property(SPAN_PROPERTY):
        return  # the baseline came from a plain directory: nothing to compare spans with
    last_accepted = previous.get_int_custom_property(SPAN_PROPERTY)
    unchecked = [n for n in window.spans if last_accepted < n < window.latest]
    if unchecked:
        listed = ", ".join(map(str, unchecked))
        spans_were = f"spans {listed} were" if len(unchecked) > 1 else f"span {listed} was"
        raise DataValidationError(
            f"{spans_were} never accepted by the data gate (the last "
            f"accepted span is {last_accepted}): run it first (`recsys run --span "
            f"{unchecked[0]}`, with a higher --drift-threshold if its change is expected), or "
            f"remove it from the data directory, then run span {window.latest} again")


def check_drift(current, previous, schema: schema_pb2.Schema,
                threshold: float | None) -> anomalies_pb2.Anomalies:
    """TFDV's drift comparators between this run's drift split (drift_split) and the one the
    gate accepted last."""
    if previous is None:
        return anomalies_pb2.Anomalies()
    schema = with_drift_threshold(schema, threshold)
    return tfdv.validate_statistics(
        statistics=_split_statistics(current), schema=schema,
        previous_statistics=_split_statistics(previous))


def with_drift_threshold(schema: schema_pb2.Schema, threshold: float | None) -> schema_pb2.Schema:
    """A copy of `schema` with every drift threshold set to `threshold` (None: unchanged)."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    if threshold is None:
        return copy
    for feature in copy.feature:
        comparator = feature.drift_comparator
        if comparator.HasField("infinity_norm"):
            comparator.infinity_norm.threshold = threshold
        if comparator.HasField("jensen_shannon_divergence"):
            comparator.jensen_shannon_divergence.threshold = threshold
    return copy


def drift_reasons(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    return describe(anomalies, only_drift=True)


def write_drift_report(artifact, anomalies: anomalies_pb2.Anomalies) -> None:
    """ExampleValidator's layout (Split-train/SchemaDiff.pb), so TFDV's viewers read it."""
    artifact.split_names = artifact_utils.encode_split_names([DRIFT_SPLIT])
    path = os.path.join(artifact_utils.get_split_uri([artifact], DRIFT_SPLIT), ANOMALIES_FILE)
    io_utils.write_bytes_file(path, anomalies.SerializeToString())


def drift_split(statistics) -> str:
    """The split whose statistics are compared: the latest span's events (NEW_SPAN) when the
    examples are spans, else the train split. Accepted statistics hold that one split."""
    names = artifact_utils.decode_split_names(statistics.split_names)
    if len(names) == 1:
        return names[0]
    return splits.NEW_SPAN if splits.NEW_SPAN in names else DRIFT_SPLIT


def accept(current, accepted) -> None:
    """Copies the drift split's statistics of `current` into the `accepted` artifact."""
    split = drift_split(current)
    accepted.split_names = artifact_utils.encode_split_names([split])
    source = artifact_utils.get_split_uri([current], split)
    target = artifact_utils.get_split_uri([accepted], split)
    io_utils.copy_dir(source, target)


def _split_statistics(artifact) -> statistics_pb2.DatasetFeatureStatisticsList:
    return stats_artifact_utils.load_statistics(artifact, drift_split(artifact)).proto()


class ImportSchemaExecutor(import_schema_executor.Executor):
    """ImportSchemaGen's executor, resolving the curated schema inside the installed package;
    with a history length, the history feature's most ids becomes it (the curated file holds
    the default's)."""

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        props = dict(exec_properties)
        props["schema_file"] = curated_schema.resolve(props["schema_file"])
        super().Do(input_dict, output_dict, props)
        if props.get(HISTORY_LENGTH_KEY) is not None:
            path = os.path.join(artifact_utils.get_single_uri(output_dict[SCHEMA_KEY]),
                                SCHEMA_FILE)
            schema = io_utils.SchemaReader().read(path)
            with_history_length(schema, props[HISTORY_LENGTH_KEY])
            io_utils.write_pbtxt_file(path, schema)


def with_history_length(schema: schema_pb2.Schema, history_length: int) -> None:
    """Sets the most values of the history feature (HISTORY in contract/features.py) to
    `history_length`, in place."""
    (history,) = [feature for feature in schema.feature if feature.name == F.HISTORY]
    history.value_count.max = history_length
