"""What the latest pipeline run did, read back from ML Metadata (not from logs)."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.movielens_example_gen import executor as example_gen
from contract.keys import METRICS_FILE

Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
STATE_NAMES = {value: name for name, value in Execution.State.items()}


@dataclasses.dataclass
class NodeResult:
    node: str
    state: str
    outputs: dict[str, list[metadata_store_pb2.Artifact]]  # output key -> artifacts


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    return metadata_store.MetadataStore(config)


def latest_run(store: metadata_store.MetadataStore) -> list[NodeResult]:
    """One NodeResult per node of the most recent pipeline run, in execution order."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        return []
    run = max(runs, key=lambda context: context.create_time_since_epoch)
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
    node_names = _node_names(store, executions)
    artifacts_by_execution = _outputs(store, [e.id for e in executions])
    return [
        NodeResult(
            node=node_names.get(execution.id, execution.type),
            state=STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
            outputs=artifacts_by_execution.get(execution.id, {}),
        )
        for execution in executions
    ]


def _node_names(store, executions) -> dict[int, str]:
    names = {}
    for execution in executions:
        for context in store.get_contexts_by_execution(execution.id):
            if store.get_context_types_by_id([context.type_id])[0].name == "node":
                names[execution.id] = context.name.split(".", 1)[-1]
    return names


def _outputs(store, execution_ids: list[int]) -> dict[int, dict[str, list]]:
    events = [e for e in store.get_events_by_execution_ids(execution_ids)
              if e.type in (Event.OUTPUT, Event.DECLARED_OUTPUT, Event.INTERNAL_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: dict[int, dict[str, list]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "output"
        outputs.setdefault(event.execution_id, {}).setdefault(key, []).append(
            artifacts[event.artifact_id])
    return outputs


def model_metrics(result: NodeResult) -> dict:
    """The Trainer's eval metrics (metrics.json in its model_run artifact), or {}."""
    for artifact in result.outputs.get("model_run", []):
        path = os.path.join(artifact.uri, METRICS_FILE)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as handle:
                return json.load(handle)
    return {}


def pushed_destination(result: NodeResult) -> str | None:
    """Where a Pusher put the model, or None when it did not push (model not blessed)."""
    for artifact in result.outputs.get("pushed_model", []):
        if _custom(artifact, "pushed") == 1:
            return _custom(artifact, "pushed_destination")
    return None


def blessed(result: NodeResult) -> bool | None:
    """An Evaluator's verdict, or None for other nodes."""
    for artifact in result.outputs.get("blessing", []):
        return _custom(artifact, "blessed") == 1
    return None


def _custom(artifact: metadata_store_pb2.Artifact, key: str):
    value = artifact.custom_properties.get(key)
    if value is None:
        return None
    return value.string_value if value.HasField("string_value") else value.int_value


def evaluation_metrics(result: NodeResult) -> dict[str, float]:
    """An Evaluator's TFMA metrics of the candidate model, overall slice: name -> value."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, float] = {}
    for artifact in result.outputs.get("evaluation", []):
        for slice_metrics in tfma.load_metrics(artifact.uri):
            if slice_metrics.slice_key.single_slice_keys:
                continue
            for entry in slice_metrics.metric_keys_and_values:
                if entry.key.model_name in ("", "candidate") and not entry.key.is_diff:
                    metrics[entry.key.name] = entry.value.double_value.value
    return metrics


# Why a failed threshold matters, by TFMA metric name (the gate's fields: contract/gates.py).
_THRESHOLD_MEANING = {
    "example_count": "too few evaluated examples, see --min-eval-examples",
    "hit_rate_lift_at_10": "must beat the popularity baseline by this margin",
    "hit_rate_at_10": "Hit-Rate@10 floor or drop vs the last blessed model",
    "rating_error_reduction": "must predict ratings better than a constant by this margin",
    "mean_squared_error": "rating error ceiling or rise vs the last blessed model",
}


def gate_failures(result: NodeResult) -> list[str]:
    """An Evaluator's failed thresholds, one phrase each, e.g. 'example_count 1 is below 30 (too
    few evaluated examples ...)'; [] when it blessed or wrote no validation."""
    import tensorflow_model_analysis as tfma

    failures = []
    for artifact in result.outputs.get("evaluation", []):
        try:
            validation = tfma.load_validation_result(artifact.uri)
        except (OSError, tf.errors.OpError, IndexError, ValueError):
            continue
        for slice_result in validation.metric_validations_per_slice:
            failures += [_failure_text(failure) for failure in slice_result.failures]
    return failures


def _failure_text(failure) -> str:
    name = failure.metric_key.name
    threshold, value = failure.metric_threshold, failure.metric_value.double_value.value
    meaning = _THRESHOLD_MEANING.get(name)
    suffix = f" ({meaning})" if meaning else ""
    if failure.message.strip() == "Metric not found.":
        return f"{name} was not computed{suffix}"
    if math.isnan(value):
        return f"{name} is NaN{suffix}"
    if threshold.HasField("change_threshold"):
        bound = threshold.change_threshold.absolute.value
        return (f"{name} changed by {value:+.4g} vs the last blessed model, allowed "
                f"{bound:+.4g}{suffix}")
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.4g} is below {bounds.lower_bound.value:.4g}{suffix}"
    return f"{name} {value:.4g} is above {bounds.upper_bound.value:.4g}{suffix}"


def data_notes(results: list[NodeResult]) -> list[str]:
    """What the ExampleGen of the run set aside or dropped, one line each: repeated ratings
    (kept the latest) and quarantined rows."""
    notes = []
    for result in results:
        if result.node != "MovieLensExampleGen":
            continue
        for artifact in result.outputs.get("examples", []):
            duplicates = _custom(artifact, example_gen.DUPLICATES_PROPERTY)
            if duplicates:
                plural = "s" if duplicates != 1 else ""
                notes.append(
                    f"dropped {duplicates} repeated (user, movie) rating{plural}, kept the "
                    f"latest of each: {os.path.join(artifact.uri, example_gen.DUPLICATES_DIR)}/"
                    f"{example_gen.QUARANTINE_ROWS}")
            summary = os.path.join(artifact.uri, example_gen.QUARANTINE_DIR,
                                   example_gen.QUARANTINE_SUMMARY)
            if tf.io.gfile.exists(summary):
                with tf.io.gfile.GFile(summary) as handle:
                    counts = json.load(handle)
                if counts["rejected"]:
                    notes.append(
                        f"quarantined {counts['rejected']} of {counts['rows']} rows "
                        f"({counts['fraction']:.2%}): {os.path.dirname(summary)}/"
                        f"{example_gen.QUARANTINE_ROWS}")
    return notes


def baseline_model_id(result: NodeResult) -> int | None:
    """The artifact id of the model an Evaluator compared against (None on a first run)."""
    for artifact in result.outputs.get("blessing", []):
        return _custom(artifact, "baseline_model_id")
    return None


@dataclasses.dataclass(frozen=True)
class ModelResult:
    """One model's line of a run: its Evaluator's figures, verdict and where it was pushed."""

    name: str
    hit_rate: float | None
    ndcg: float | None
    popularity_hit_rate: float | None
    rmse: float | None  # rating models only
    blessed: bool | None
    pushed_to: str | None
    evaluation_uri: str | None
    gate_failures: tuple[str, ...] = ()  # why it was not blessed


def model_results(results: list[NodeResult]) -> list[ModelResult]:
    """A ModelResult per Evaluator of the run, in execution order."""
    by_node = {result.node: result for result in results}
    rows = []
    for node, result in by_node.items():
        if not node.startswith("Evaluator."):
            continue
        name = node.split(".", 1)[1]
        metrics = evaluation_metrics(result)
        mse = metrics.get("mean_squared_error")
        pusher = by_node.get(f"Pusher.{name}")
        evaluations = result.outputs.get("evaluation", [])
        rows.append(ModelResult(
            name=name, hit_rate=metrics.get("hit_rate_at_10"), ndcg=metrics.get("ndcg_at_10"),
            popularity_hit_rate=metrics.get("popularity_hit_rate_at_10"),
            rmse=None if mse is None else mse ** 0.5, blessed=blessed(result),
            pushed_to=pusher and pushed_destination(pusher),
            evaluation_uri=evaluations[0].uri if evaluations else None,
            gate_failures=tuple(gate_failures(result))))
    return rows
