"""Compiles the DAG for Vertex AI Pipelines (KFP v2): the same `create_pipeline`, one image."""

from __future__ import annotations

import os

from tfx import v1 as tfx

from pipeline import configs
from pipeline.pipeline import create_pipeline, runtime_parameters

DIRECT = "direct"
DATAFLOW = "dataflow"
BEAM_RUNNERS = (DIRECT, DATAFLOW)


def dataflow_beam_args(
    project: str,
    region: str,
    temp_location: str,
    image: str,
    machine_type: str = "n1-standard-4",
    max_num_workers: int = 4,
) -> tuple[str, ...]:
    """Beam args that send Beam-powered components to Dataflow, with the pipeline image as the
    worker container so workers import the same transform/trainer modules."""
    return (
        "--runner=DataflowRunner",
        f"--project={project}",
        f"--region={region}",
        f"--temp_location={temp_location}",
        f"--machine_type={machine_type}",
        f"--max_num_workers={max_num_workers}",
        f"--sdk_container_image={image}",
        "--sdk_location=container",  # the SDK is in the image: no staging from PyPI
        *configs.WORKER_PLUGINS,
    )


def direct_beam_args() -> tuple[str, ...]:
    """In-container DirectRunner, using every core the component's VM has."""
    return configs.local_beam_args(workers=0)


def compile_pipeline(settings: configs.PipelineSettings, image: str, output_path: str) -> dict:
    """Writes the PipelineJob JSON to `output_path` (local or gs://) and returns it as a dict.

    Pipeline spec schema 2.1: its `runtimeConfig.parameterValues` holds every pipeline
    parameter's default as a plain JSON value, which `recsys submit --param` overrides.
    """
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(output_path) or ".",
        output_filename=os.path.basename(output_path))
    # No metadata config: Vertex AI Pipelines keeps ML Metadata itself.
    pipeline = create_pipeline(settings)
    return runner.run(pipeline, parameter_values=runtime_parameters(pipeline))
