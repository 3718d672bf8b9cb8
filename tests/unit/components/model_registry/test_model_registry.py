"""`recsys compile --model-registry`: each ModelRegistry.<model> step, run as Vertex AI runs it
(TFX's KFP v2 entrypoint), sends its upload through the real aiplatform client to a stand-in
of the Vertex AI REST API: one upload per pushed (blessed) model, none for a refused one."""

import pytest

from components.model_registry import component, executor
from tests.fixtures import kfp_job
from tests.fixtures.tfma_outputs import write_evaluation

MODEL_PATH = "/projects/my-project/locations/us-central1/models/movielens-recsys-mf"
UPLOAD = "/projects/my-project/locations/us-central1/models:upload"
FIGURES = {"hit_rate_at_10": 0.2142, "ndcg_at_10": 0.1092,
           "popularity_hit_rate_at_10": 0.0859, "mean_squared_error": 0.81}


def _inputs(tmp_path, pushed: bool, blessed: bool) -> dict:
    evaluation = write_evaluation(tmp_path / "evaluation", FIGURES)
    pushed_metadata = {"pushed": 1.0, "pushed_destination": "gs://b/serving/mf/1796063863",
                       "pushed_version": "1796063863"} if pushed else {"pushed": 0.0}
    return {"pushed_model": [(str(tmp_path / "pushed"), pushed_metadata)],
            "blessing": [(str(tmp_path / "blessing"), {"blessed": 1.0 if blessed else 0.0})],
            "evaluation": [(evaluation, {})]}


def _upload_answer(request):
    return 200, {"name": "projects/my-project/locations/us-central1/operations/7", "done": True,
                 "response": {
                     "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                     "model": MODEL_PATH.lstrip("/"), "modelVersionId": "3"}}


def _registered(request):
    return 200, {"name": MODEL_PATH.lstrip("/"), "displayName": "movielens-recsys-mf",
                 "versionId": "3"}


def test_the_first_blessed_model_creates_the_registry_model(registry_job, vertex_api, tmp_path):
    vertex_api.route("POST", UPLOAD, _upload_answer)
    vertex_api.route("GET", MODEL_PATH + "@3", _registered)
    kfp_job.run_task(registry_job, "ModelRegistry.mf", tmp_path, _inputs(tmp_path, True, True))
    [upload] = vertex_api.calls("POST", UPLOAD)
    model = upload.body["model"]
    assert upload.body["modelId"] == "movielens-recsys-mf" and "parentModel" not in upload.body
    assert model["artifactUri"] == "gs://b/serving/mf/1796063863"
    assert model["containerSpec"]["imageUri"] == (
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest")
    assert model["versionAliases"] == ["v1796063863", "default"]
    assert model["labels"] == {
        "recommender": "mf", "pipeline_run": kfp_job.JOB_NAME, "blessed": "true",
        "hit_rate_at_10": "0_2142", "ndcg_at_10": "0_1092",
        "popularity_hit_rate_at_10": "0_0859", "rmse": "0_9000"}
    assert kfp_job.JOB_NAME in model["versionDescription"]


def test_a_later_model_is_a_new_version_of_the_same_registry_model(
        registry_job, vertex_api, tmp_path):
    vertex_api.route("GET", MODEL_PATH, _registered)  # registered by an earlier run
    vertex_api.route("POST", UPLOAD, _upload_answer)
    vertex_api.route("GET", MODEL_PATH + "@3", _registered)
    kfp_job.run_task(registry_job, "ModelRegistry.mf", tmp_path, _inputs(tmp_path, True, True))
    [upload] = vertex_api.calls("POST", UPLOAD)
    assert upload.body["parentModel"] == MODEL_PATH.lstrip("/")
    assert "modelId" not in upload.body
    assert vertex_api.calls("GET", MODEL_PATH + "@v1796063863")  # not registered twice


def test_a_refused_model_sends_nothing(registry_job, vertex_api, tmp_path):
    kfp_job.run_task(registry_job, "ModelRegistry.mf", tmp_path,
                     _inputs(tmp_path, pushed=False, blessed=False))
    assert vertex_api.requests == []


def test_a_version_registered_already_is_not_uploaded_again(registry_job, vertex_api, tmp_path):
    vertex_api.route("GET", MODEL_PATH + r"(@v1796063863)?", _registered)
    kfp_job.run_task(registry_job, "ModelRegistry.mf", tmp_path, _inputs(tmp_path, True, True))
    assert vertex_api.calls("POST", UPLOAD) == []


def test_the_default_alias_moves_only_to_a_blessed_version(vertex_api):
    vertex_api.route("POST", UPLOAD, _upload_answer)
    vertex_api.route("GET", MODEL_PATH + "@3", _registered)
    executor.register(
        model_name="mf", registry_model="movielens-recsys-mf", project="my-project",
        region="us-central1", destination="gs://b/serving/mf/7", version="7",
        figures={"rmse": 0.95, "blessed": 0.0}, pipeline_run="run-1",
        serving_image="us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest")
    [upload] = vertex_api.calls("POST", UPLOAD)
    assert upload.body["model"]["versionAliases"] == ["v7"]
    assert upload.body["model"]["labels"]["blessed"] == "false"


@pytest.mark.parametrize(("tensorflow", "region", "image"), [
    ("2.21.0", "us-central1", "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"),
    ("2.21.0", "europe-west4",
     "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"),
    ("2.12.1", "asia-east1", "asia-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-12:latest"),
])
def test_the_serving_image_is_the_newest_prebuilt_one_not_newer_than_the_export(
        tensorflow, region, image):
    assert component.prebuilt_serving_image(tensorflow, region) == image


def test_registry_model_ids_are_checked():
    with pytest.raises(ValueError, match="not a Model Registry ID"):
        executor.check_model_id("Movielens recsys")
