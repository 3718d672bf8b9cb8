"""ExperimentMetrics executor: one `system.Metrics` artifact in Vertex AI ML Metadata, in the
pipeline run's context.

Why not an output artifact of the step: TFX compiles a custom artifact type to a schema title
that must be its importable class path (`module.Class`), never `system.Metrics`, and Vertex AI
Experiments reads a pipeline run's metrics only from `system.Metrics` (or google.*Metrics)
artifacts of the run (aiplatform's PipelineJob._query_experiment_row). So the step creates that
artifact through the aiplatform SDK and attributes it to the run's context, whose name is the
pipeline job's ID (vertex_run.PIPELINE_JOB_NAME).
"""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components import evaluation_results, vertex_run

EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"


def experiment_metrics(model_name: str, evaluation: evaluation_results.Evaluation,
                       blessed: bool) -> dict[str, float]:
    """The gate figures named `<model>_<figure>`: one run holds every model's."""
    return {f"{model_name}_{name}": value
            for name, value in vertex_run.gate_figures(evaluation, blessed).items()}


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        from google.cloud import aiplatform

        model_name = exec_properties[vertex_run.MODEL_NAME_KEY]
        project = exec_properties[vertex_run.PROJECT_KEY]
        region = exec_properties[vertex_run.REGION_KEY]
        evaluation = evaluation_results.read_evaluation(
            artifact_utils.get_single_uri(input_dict[EVALUATION_KEY]))
        blessing = artifact_utils.get_single_instance(input_dict[BLESSING_KEY])
        metrics = experiment_metrics(
            model_name, evaluation, blessing.get_int_custom_property("blessed") == 1)
        artifact = aiplatform.Artifact.create(
            schema_title="system.Metrics", display_name=f"gate-{model_name}", metadata=metrics,
            project=project, location=region)
        run_context = (f"{vertex_run.metadata_store(project, region)}/contexts/"
                       f"{exec_properties[vertex_run.PIPELINE_RUN_KEY]}")
        aiplatform.Context(run_context, project=project, location=region) \
            .add_artifacts_and_executions(artifact_resource_names=[artifact.resource_name])
        logging.info("Metrics %s recorded in %s as %s", metrics, run_context,
                     artifact.resource_name)
