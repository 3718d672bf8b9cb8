"""What the latest pipeline run did, read back from ML Metadata (not from logs)."""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components import evaluation_results
from components.movielens_example_gen import executor as example_gen
from contract.keys import INFRA_CHECKED, INFRA_REASON, METRICS_FILE

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
    """An Evaluator's or InfraCheck's verdict, or None for other nodes."""
    for artifact in result.outputs.get("blessing", []):
        return _custom(artifact, "blessed") == 1
    return None


def infra_verdict(result: NodeResult | None) -> tuple[bool | None, str | None]:
    """An InfraCheck's (blessed, reason); (None, None) when it did not run or wrote no verdict
    (it checks only what the Evaluator blessed)."""
    for artifact in (result.outputs.get("blessing", []) if result else []):
        if _custom(artifact, INFRA_CHECKED) == 1:
            return _custom(artifact, "blessed") == 1, _custom(artifact, INFRA_REASON)
    return None, None


def _custom(artifact: metadata_store_pb2.Artifact, key: str):
    value = artifact.custom_properties.get(key)
    if value is None:
        return None
    return value.string_value if value.HasField("string_value") else value.int_value


def evaluation_uri(result: NodeResult) -> str | None:
    """An Evaluator's `evaluation` artifact, or None for other nodes."""
    evaluations = result.outputs.get("evaluation", [])
    return evaluations[0].uri if evaluations else None


def evaluation(result: NodeResult) -> evaluation_results.Evaluation | None:
    """An Evaluator's TFMA metrics: the candidate's, the last blessed model's, the change."""
    uri = evaluation_uri(result)
    return None if uri is None else evaluation_results.read_evaluation(uri)


def evaluation_metrics(result: NodeResult) -> dict[str, float]:
    """An Evaluator's TFMA metrics of the candidate model, overall slice: name -> value."""
    found = evaluation(result)
    return {} if found is None else found.candidate


def gate_checks(result: NodeResult) -> list[evaluation_results.ThresholdCheck]:
    """Each threshold an Evaluator applied, with the measured value and the outcome."""
    uri = evaluation_uri(result)
    return [] if uri is None else evaluation_results.threshold_checks(uri)


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


def window_spans(results: list[NodeResult]) -> list[int]:
    """The span numbers the run's ExampleGen read (its Examples' `window_spans`), [] for a
    plain MovieLens directory."""
    for result in results:
        for artifact in result.outputs.get("examples", []):
            text = _custom(artifact, "window_spans")
            if text and result.node.endswith("ExampleGen"):
                return [int(span) for span in text.split(",")]
    return []


def accepted_spans(metadata_path: str) -> set[int]:
    """Every span the data gate accepted in this store (the `span` of its accepted
    statistics; empty for a new output directory)."""
    if not os.path.exists(metadata_path):
        return set()
    store = open_store(metadata_path)
    return {artifact.custom_properties["span"].int_value
            for artifact in store.get_artifacts_by_type("ExampleStatistics")
            if "span" in artifact.custom_properties
            and artifact.state == metadata_store_pb2.Artifact.LIVE}


@dataclasses.dataclass(frozen=True)
class Recommendations:
    """Where a BatchRecommender wrote a pushed version's batch recommendations."""

    destination: str
    users: int
    movies: int


def recommendations(result: NodeResult | None) -> Recommendations | None:
    """A BatchRecommender's output, None when it wrote nothing (no push) or did not run."""
    for artifact in (result.outputs.get("recommendations", []) if result else []):
        if _custom(artifact, "written") == 1:
            return Recommendations(_custom(artifact, "destination"), _custom(artifact, "users"),
                                   _custom(artifact, "movies"))
    return None


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
    failed_checks: tuple[evaluation_results.ThresholdCheck, ...] = ()  # why it was refused
    # The infra check's verdict on a blessed model (None: not checked) and why, in one line.
    serves: bool | None = None
    infra_reason: str | None = None
    recommendations: Recommendations | None = None


def model_results(results: list[NodeResult]) -> list[ModelResult]:
    """A ModelResult per Evaluator of the run, in execution order."""
    by_node = {result.node: result for result in results}
    rows = []
    for node, result in by_node.items():
        if not node.startswith("Evaluator."):
            continue
        name = node.split(".", 1)[1]
        metrics = evaluation_metrics(result)
        pusher = by_node.get(f"Pusher.{name}")
        verdict = blessed(result)
        serves, reason = infra_verdict(by_node.get(f"InfraCheck.{name}"))
        rows.append(ModelResult(
            name=name, hit_rate=metrics.get("hit_rate_at_10"), ndcg=metrics.get("ndcg_at_10"),
            popularity_hit_rate=metrics.get("popularity_hit_rate_at_10"),
            rmse=rmse(metrics), blessed=verdict,
            pushed_to=pusher and pushed_destination(pusher),
            evaluation_uri=evaluation_uri(result),
            failed_checks=tuple(c for c in gate_checks(result) if not c.passed)
            if verdict is False else (),
            serves=serves, infra_reason=reason,
            recommendations=recommendations(by_node.get(f"BatchRecommender.{name}"))))
    return rows


def rmse(metrics: dict[str, float]) -> float | None:
    """The RMSE of the predicted rating (TFMA measures its square), None for models without."""
    mse = metrics.get("mean_squared_error")
    return None if mse is None else mse ** 0.5
