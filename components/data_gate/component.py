"""DataValidationGate and CuratedSchemaGen (ImportSchemaGen of contract/schema.pbtxt).

Wiring (pipeline/pipeline.py):

    StatisticsGen ---+--> ExampleValidator --anomalies--+
    CuratedSchemaGen +                                  +--> DataValidationGate ··> Transform
    Resolver(latest accepted_statistics of the gate) ---+

Transform runs after the gate (`add_upstream_node`, compiled to a task dependency on Vertex
too), so a failed gate stops the run before Transform. The drift baseline is the statistics the
gate last *accepted*: re-running the same drifted data fails again until it is accepted (with a
higher --drift-threshold), instead of becoming its own baseline.
"""

from __future__ import annotations

import hashlib

from tfx import v1 as tfx
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils

from components.data_gate import executor
from contract import schema as curated_schema
from contract.features import DEFAULT_HISTORY_LENGTH
from contract.schema import CURATED_SCHEMA

GATE_ID = "DataValidationGate"


class DataValidationGateSpec(ComponentSpec):
    INPUTS = {
        executor.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        executor.PREVIOUS_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True),
        # The ExampleGen's Examples, for their span properties only (spans: drift per span).
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {
        executor.ACCEPTED_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics),
        executor.DRIFT_ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
    PARAMETERS = {executor.DRIFT_THRESHOLD_KEY: ExecutionParameter(type=float, optional=True)}


class DataValidationGate(base_component.BaseComponent):
    """Raises DataValidationError on ExampleValidator anomalies or drift past the threshold."""

    SPEC_CLASS = DataValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, statistics, schema, anomalies, previous_statistics=None,
                 drift_threshold: float | None = None, examples=None):
        if drift_threshold is not None and not 0.0 <= drift_threshold <= 1.0:
            raise ValueError(f"drift_threshold {drift_threshold} is not in 0..1")
        super().__init__(spec=DataValidationGateSpec(
            statistics=statistics, schema=schema, anomalies=anomalies,
            previous_statistics=previous_statistics, drift_threshold=drift_threshold,
            examples=examples,
            accepted_statistics=channel.Channel(type=standard_artifacts.ExampleStatistics),
            drift_anomalies=channel.Channel(type=standard_artifacts.ExampleAnomalies)))


class LatestArtifactIfAny(tfx.dsl.experimental.LatestArtifactStrategy):
    """LatestArtifactStrategy that resolves to nothing on a first run instead of failing.

    The stock strategy returns None when no artifact exists yet, which LocalDagRunner records
    as a FAILED node although the run goes on; the gate then simply has no baseline.
    """

    def resolve_artifacts(self, store, input_dict):
        return self._resolve(input_dict)


def previous_statistics_resolver(stock_strategy: bool = False) -> tfx.dsl.Resolver:
    """The statistics the gate accepted last, in any earlier run (none on a first run).

    A channel by producer id, not the gate's output channel: the resolver has no upstream node,
    so it resolves before this run's gate publishes anything. One artifact, LatestArtifact:
    the only form Vertex (KubeflowV2DagRunner) compiles, hence `stock_strategy` there.
    """
    return tfx.dsl.Resolver(
        strategy_class=(tfx.dsl.experimental.LatestArtifactStrategy if stock_strategy
                        else LatestArtifactIfAny),
        statistics=tfx.dsl.Channel(
            type=standard_artifacts.ExampleStatistics, producer_component_id=GATE_ID,
            output_key=executor.ACCEPTED_STATISTICS_KEY),
    ).with_id("PreviousStatistics")


class CuratedSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {
        **standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
        # Only for the cache key: ImportSchemaGen's key holds the path, not the content, so an
        # edited schema would otherwise be served from the cache.
        executor.SCHEMA_DIGEST_KEY: ExecutionParameter(type=str, optional=True),
        executor.HISTORY_LENGTH_KEY: ExecutionParameter(type=int, optional=True),
    }


class CuratedSchemaGen(tfx.components.ImportSchemaGen):
    """ImportSchemaGen of a checked-in schema, re-run whenever the file's content changes; a
    run's history length other than the default replaces the schema's limit on history ids."""

    SPEC_CLASS = CuratedSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.ImportSchemaExecutor)

    def __init__(self, schema_file: str = CURATED_SCHEMA,
                 history_length: int = DEFAULT_HISTORY_LENGTH):
        content = io_utils.read_bytes_file(curated_schema.resolve(schema_file))
        digest = hashlib.sha256(content).hexdigest()[:16]
        spec = CuratedSchemaGenSpec(
            schema_file=schema_file, schema_digest=digest,
            # Left unset at the default, so the cache key of existing runs does not change.
            history_length=None if history_length == DEFAULT_HISTORY_LENGTH else history_length,
            schema=channel.Channel(type=standard_artifacts.Schema))
        base_component.BaseComponent.__init__(self, spec=spec)


def validation_nodes(
    statistics, schema_file: str = CURATED_SCHEMA, drift_threshold: float | None = None,
    stock_resolver: bool = False, history_length: int = DEFAULT_HISTORY_LENGTH,
    examples=None,
) -> tuple[list, CuratedSchemaGen, DataValidationGate]:
    """ImportSchemaGen -> ExampleValidator -> (previous statistics) -> DataValidationGate.

    `examples`: the ExampleGen's output, whose span properties make drift per span.

    The pipeline's wiring between StatisticsGen and Transform, in one place so that tests run
    exactly this part on its own. Use the ImportSchemaGen's schema downstream and make the
    consumer run after the gate: `node.add_upstream_node(gate)`. (A schema copied by the gate
    would be a new artifact every run and defeat Transform's cache.)
    """
    # The curated, checked-in schema, not one inferred from this run's data: inference would
    # accept whatever the data hold.
    schema = CuratedSchemaGen(schema_file, history_length).with_id("ImportSchemaGen")
    validator = tfx.components.ExampleValidator(
        statistics=statistics, schema=schema.outputs["schema"])
    previous = previous_statistics_resolver(stock_resolver)
    gate = DataValidationGate(
        statistics=statistics, schema=schema.outputs["schema"],
        anomalies=validator.outputs["anomalies"],
        previous_statistics=previous.outputs["statistics"],
        drift_threshold=drift_threshold, examples=examples).with_id(GATE_ID)
    return [schema, validator, previous, gate], schema, gate
