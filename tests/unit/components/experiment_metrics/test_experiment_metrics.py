"""Each compiled ExperimentMetrics.<model> step, run as Vertex AI runs it, records the gate's
figures as a `system.Metrics` artifact in the pipeline run's ML Metadata context (where Vertex
AI Experiments reads a pipeline run's metrics), through the real aiplatform client."""

import pytest

from tests.fixtures import kfp_job
from tests.fixtures.tfma_outputs import write_evaluation

STORE = "/projects/my-project/locations/us-central1/metadataStores/default"
RUN_CONTEXT = f"{STORE}/contexts/{kfp_job.JOB_NAME}"


@pytest.fixture
def metadata(vertex_api):
    """The project's metadata store and the run's context exist (Vertex AI Pipelines made
    them); artifacts get created."""
    vertex_api.route("GET", STORE, lambda r: (200, {"name": STORE.lstrip("/")}))
    vertex_api.route("GET", RUN_CONTEXT, lambda r: (200, {
        "name": RUN_CONTEXT.lstrip("/"), "schemaTitle": "system.PipelineRun"}))
    vertex_api.route("POST", f"{STORE}/artifacts", lambda r: (200, {
        **r.body, "name": f"{STORE.lstrip('/')}/artifacts/a1"}))
    return vertex_api


def _inputs(tmp_path, blessed: bool, figures: dict) -> dict:
    return {"evaluation": [(write_evaluation(tmp_path / "evaluation", figures), {})],
            "blessing": [(str(tmp_path / "blessing"), {"blessed": 1.0 if blessed else 0.0})]}


def test_the_gate_metrics_go_into_the_pipeline_runs_context(registry_job, metadata, tmp_path):
    kfp_job.run_task(registry_job, "ExperimentMetrics.mf", tmp_path, _inputs(
        tmp_path, False, {"hit_rate_at_10": 0.02, "ndcg_at_10": 0.01,
                          "popularity_hit_rate_at_10": 0.08, "mean_squared_error": 1.44}))
    [created] = metadata.calls("POST", f"{STORE}/artifacts")
    assert created.body["schemaTitle"] == "system.Metrics"
    assert created.body["metadata"] == {
        "mf_hit_rate_at_10": 0.02, "mf_ndcg_at_10": 0.01, "mf_popularity_hit_rate_at_10": 0.08,
        "mf_rmse": pytest.approx(1.2), "mf_blessed": 0.0}
    [attached] = metadata.calls("POST", f"{RUN_CONTEXT}:addContextArtifactsAndExecutions")
    assert attached.body["artifacts"] == [f"{STORE.lstrip('/')}/artifacts/a1"]


def test_every_model_has_its_own_metric_names(registry_job, metadata, tmp_path):
    kfp_job.run_task(registry_job, "ExperimentMetrics.retrieval", tmp_path, _inputs(
        tmp_path, True, {"hit_rate_at_10": 0.2, "ndcg_at_10": 0.1}))
    [created] = metadata.calls("POST", f"{STORE}/artifacts")
    assert created.body["metadata"] == {"retrieval_hit_rate_at_10": 0.2,
                                        "retrieval_ndcg_at_10": 0.1, "retrieval_blessed": 1.0}
