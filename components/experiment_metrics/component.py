"""ExperimentMetrics: after a model's Evaluator on Vertex AI Pipelines, its gate figures as a
`system.Metrics` artifact of the pipeline run, which is what Vertex AI Experiments shows as
the run's metrics when the run belongs to an experiment (`recsys submit --experiment`)."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from components import vertex_run
from components.experiment_metrics import executor


class ExperimentMetricsSpec(ComponentSpec):
    INPUTS = {
        executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }
    OUTPUTS = {}
    PARAMETERS = vertex_run.STEP_PARAMETERS


class ExperimentMetrics(base_component.BaseComponent):
    """Publishes `model_name`'s HR@10, NDCG@10, popularity HR@10, RMSE and verdict, prefixed
    with the model name, into the ML Metadata context of the pipeline run."""

    SPEC_CLASS = ExperimentMetricsSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, evaluation: types.BaseChannel, blessing: types.BaseChannel,
                 model_name: str, project: str, region: str):
        super().__init__(spec=ExperimentMetricsSpec(
            evaluation=evaluation, blessing=blessing, model_name=model_name, project=project,
            region=region, pipeline_run=vertex_run.PIPELINE_JOB_NAME))
