"""ModelRegistryUpload executor: one `models:upload` request per pushed model.

- The registry model is `projects/P/locations/R/models/<registry_model>`: the first upload
  creates it under that ID, later ones add versions to it (`parent_model`).
- The version points at the pushed TF Serving version directory (`artifact_uri`), is served
  by the prebuilt TF serving container, is aliased `v<pushed version>` (the serving
  directory's version number), carries the gate's figures and the pipeline run as labels, and
  takes the `default` alias only if its Evaluator blessed it.
- A model the Pusher did not push is not uploaded, and a version already registered under
  its alias (a re-run of the step) is not uploaded twice.
"""

from __future__ import annotations

import re
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components import evaluation_results, vertex_run

PUSHED_MODEL_KEY = "pushed_model"
BLESSING_KEY = "blessing"
EVALUATION_KEY = "evaluation"
REGISTRY_MODEL_KEY = "registry_model"
SERVING_IMAGE_KEY = "serving_image"
_MODEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def check_model_id(model_id: str) -> str:
    if not _MODEL_ID.match(model_id):
        raise ValueError(f"{model_id!r} is not a Model Registry ID: up to 63 lowercase "
                         "letters, digits, '_' and '-', starting with a letter")
    return model_id


def version_labels(model_name: str, figures: dict[str, float], pipeline_run: str
                   ) -> dict[str, str]:
    """The labels of a registry version: the recommender, the gate's figures, the run."""
    labels = {"recommender": vertex_run.label_value(model_name),
              "pipeline_run": vertex_run.label_value(pipeline_run)}
    labels.update({name: vertex_run.label_value(value) for name, value in figures.items()
                   if name != "blessed"})
    labels["blessed"] = "true" if figures.get("blessed") else "false"
    return labels


def version_description(figures: dict[str, float], pipeline_run: str, destination: str) -> str:
    shown = ", ".join(f"{name} {value:.4f}" for name, value in figures.items()
                      if name != "blessed")
    return f"{shown} (TFMA, eval split); pipeline run {pipeline_run}; pushed to {destination}"


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
        model_name = exec_properties[vertex_run.MODEL_NAME_KEY]
        if pushed.get_int_custom_property("pushed") != 1:
            logging.info("%s was not pushed (not blessed): nothing to register.", model_name)
            return
        blessing = artifact_utils.get_single_instance(input_dict[BLESSING_KEY])
        blessed = blessing.get_int_custom_property("blessed") == 1
        evaluation = evaluation_results.read_evaluation(
            artifact_utils.get_single_uri(input_dict[EVALUATION_KEY]))
        register(
            model_name=model_name, registry_model=exec_properties[REGISTRY_MODEL_KEY],
            project=exec_properties[vertex_run.PROJECT_KEY],
            region=exec_properties[vertex_run.REGION_KEY],
            destination=pushed.get_string_custom_property("pushed_destination"),
            version=pushed.get_string_custom_property("pushed_version"),
            figures=vertex_run.gate_figures(evaluation, blessed),
            pipeline_run=exec_properties[vertex_run.PIPELINE_RUN_KEY],
            serving_image=exec_properties[SERVING_IMAGE_KEY])


def register(*, model_name: str, registry_model: str, project: str, region: str,
             destination: str, version: str, figures: dict[str, float], pipeline_run: str,
             serving_image: str) -> str | None:
    """Uploads the version (see the module docstring); returns its resource name, or None if
    it was registered already."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    model_path = f"projects/{project}/locations/{region}/models/{check_model_id(registry_model)}"
    alias = f"v{version}"
    try:
        existing = aiplatform.Model(model_path, project=project, location=region)
    except exceptions.NotFound:
        existing = None
    if existing is not None:
        try:
            aiplatform.Model(f"{model_path}@{alias}", project=project, location=region)
            logging.info("%s@%s is registered already.", model_path, alias)
            return None
        except exceptions.NotFound:
            pass
    uploaded = aiplatform.Model.upload(
        display_name=registry_model,
        model_id=None if existing else registry_model,
        parent_model=existing.resource_name if existing else None,
        artifact_uri=destination,
        serving_container_image_uri=serving_image,
        is_default_version=bool(figures.get("blessed")),
        version_aliases=[alias],
        version_description=version_description(figures, pipeline_run, destination),
        labels=version_labels(model_name, figures, pipeline_run),
        project=project, location=region, sync=True)
    logging.info("Registered %s as %s version %s.", destination, uploaded.resource_name,
                 uploaded.version_id)
    return f"{uploaded.resource_name}@{uploaded.version_id}"
