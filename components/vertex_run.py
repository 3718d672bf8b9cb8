"""What the Vertex AI steps of the pipeline share: the pipeline run they belong to, and the
gate's figures as they publish them (Vertex AI Experiments metrics, Model Registry labels)."""

from __future__ import annotations

import re

from tfx.types.component_spec import ExecutionParameter

from components.evaluation_results import Evaluation

# Vertex AI Pipelines replaces this in a step's parameters with the pipeline job's ID, which is
# also the name of the run's ML Metadata context (KFP's dsl.PIPELINE_JOB_NAME_PLACEHOLDER).
PIPELINE_JOB_NAME = "{{$.pipeline_job_name}}"
PIPELINE_RUN_KEY = "pipeline_run"  # the execution property that carries it
PROJECT_KEY = "project"
REGION_KEY = "region"
MODEL_NAME_KEY = "model_name"
# The execution properties every Vertex AI step of a model has (PIPELINE_RUN_KEY is always
# PIPELINE_JOB_NAME, filled in by Vertex AI).
STEP_PARAMETERS = {key: ExecutionParameter(type=str) for key in (
    MODEL_NAME_KEY, PROJECT_KEY, REGION_KEY, PIPELINE_RUN_KEY)}
# The TFMA metrics published as they are (TFMA's names); RMSE and the verdict are added.
GATE_METRICS = ("hit_rate_at_10", "ndcg_at_10", "popularity_hit_rate_at_10")
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]+")


def gate_figures(evaluation: Evaluation, blessed: bool) -> dict[str, float]:
    """HR@10, NDCG@10, the popularity HR@10, RMSE (rating models) and the verdict (1 or 0)."""
    candidate = evaluation.candidate
    figures = {name: candidate[name] for name in GATE_METRICS if name in candidate}
    if "mean_squared_error" in candidate:
        figures["rmse"] = candidate["mean_squared_error"] ** 0.5
    figures["blessed"] = 1.0 if blessed else 0.0
    return figures


def label_value(value: str | float) -> str:
    """A Google Cloud label value: at most 63 lowercase letters, digits, '_' and '-' (a figure
    keeps 4 decimals with '_' for the point: 0.2142 -> '0_2142')."""
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    return _LABEL_VALUE.sub("-", text.replace(".", "_").lower())[:63]


def metadata_store(project: str, region: str) -> str:
    return f"projects/{project}/locations/{region}/metadataStores/default"
