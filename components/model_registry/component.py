"""ModelRegistryUpload: after a model's Pusher on Vertex AI Pipelines, the pushed SavedModel as
a new version of one Vertex AI Model Registry model per recommender (`recsys compile
--model-registry`)."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components import vertex_run
from components.model_registry import executor

# Vertex AI's prebuilt TensorFlow serving containers: us-, europe- and asia-docker.pkg.dev/
# vertex-ai/prediction/tf2-cpu.2-X, listed by the aiplatform SDK (its URI map is the catalogue).
_FRAMEWORK = "tensorflow"


def prebuilt_serving_image(tensorflow_version: str, region: str) -> str:
    """The prebuilt TF serving container of the newest TensorFlow release that is not newer
    than `tensorflow_version` (the export's): TF Serving loads SavedModels of its own or an
    older release, and Vertex AI builds containers for fewer releases than TensorFlow makes."""
    from google.cloud.aiplatform.constants import prediction
    from google.cloud.aiplatform.helpers import get_prebuilt_prediction_container_uri

    def release(text: str) -> tuple[int, int]:
        major, minor = text.split(".")[:2]
        return int(major), int(minor)

    available = prediction._SERVING_CONTAINER_URI_MAP[region.split("-")[0]][_FRAMEWORK]["cpu"]
    candidates = [v for v in available if release(v) <= release(tensorflow_version)]
    if not candidates:
        raise ValueError(f"no prebuilt Vertex AI serving container for TensorFlow <= "
                         f"{tensorflow_version}")
    return get_prebuilt_prediction_container_uri(
        _FRAMEWORK, max(candidates, key=release), region=region)


class ModelRegistryUploadSpec(ComponentSpec):
    INPUTS = {
        executor.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
        executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
    }
    OUTPUTS = {}
    PARAMETERS = {
        **vertex_run.STEP_PARAMETERS,
        executor.REGISTRY_MODEL_KEY: ExecutionParameter(type=str),
        executor.SERVING_IMAGE_KEY: ExecutionParameter(type=str),
    }


class ModelRegistryUpload(base_component.BaseComponent):
    """Uploads what `model_name`'s Pusher pushed as a version of registry model
    `registry_model`, served by `serving_image`; nothing when the Pusher did not push."""

    SPEC_CLASS = ModelRegistryUploadSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, pushed_model: types.BaseChannel, blessing: types.BaseChannel,
                 evaluation: types.BaseChannel, model_name: str, project: str, region: str,
                 registry_model: str, serving_image: str):
        executor.check_model_id(registry_model)
        super().__init__(spec=ModelRegistryUploadSpec(
            pushed_model=pushed_model, blessing=blessing, evaluation=evaluation,
            model_name=model_name, project=project, region=region,
            pipeline_run=vertex_run.PIPELINE_JOB_NAME, registry_model=registry_model,
            serving_image=serving_image))
