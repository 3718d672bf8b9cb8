"""`recsys submit`: the Vertex AI request, printed (--dry-run) or handed to the real client."""

import json

import google.auth
import google.auth.credentials
import google.auth.exceptions
import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform import initializer

from contract.catalogue import MODEL_NAMES
from recsys import cli

SA = "pipelines@my-project.iam.gserviceaccount.com"


def _submit(spec, *extra: str) -> list[str]:
    return ["submit", "--project", "my-project", "--region", "europe-west4",
            "--pipeline-spec", str(spec), *extra]


@pytest.fixture(autouse=True)
def fresh_client_config(monkeypatch):
    """aiplatform caches credentials process-wide: each test starts from none."""
    monkeypatch.setattr(initializer, "global_config", initializer._Config())


@pytest.fixture
def no_network(monkeypatch):
    """Anonymous credentials; PipelineJob.submit / create_schedule record their calls."""
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (
        google.auth.credentials.AnonymousCredentials(), "my-project"))
    calls = []

    def submit(self, **kwargs):
        calls.append(("submit", self, kwargs))

    def create_schedule(self, **kwargs):
        calls.append(("create_schedule", self, kwargs))
        return type("Schedule", (), {"resource_name": "projects/p/schedules/1"})()

    monkeypatch.setattr(aiplatform.PipelineJob, "submit", submit)
    monkeypatch.setattr(aiplatform.PipelineJob, "create_schedule", create_schedule)
    monkeypatch.setattr(aiplatform.PipelineJob, "resource_name", "projects/p/pipelineJobs/1")
    return calls


def test_dry_run_prints_the_request(dataflow_job_path, target, capsys):
    args = _submit(dataflow_job_path, "--service-account", SA, "--schedule", "0 3 * * *",
                   "--dry-run")
    assert cli.main(args) == 0
    request = json.loads(capsys.readouterr().out)
    assert request == {
        "project": "my-project",
        "location": "europe-west4",
        "display_name": "movielens-recsys",
        "template_path": str(dataflow_job_path),
        "pipeline_root": target.root,
        "parameter_values": {},
        "service_account": SA,
        "schedule": {"cron": "0 3 * * *", "display_name": "movielens-recsys-schedule"},
    }


def test_submit_hands_the_job_to_vertex(dataflow_job_path, target, no_network, capsys):
    assert cli.main(_submit(dataflow_job_path, "--service-account", SA)) == 0
    [(method, job, kwargs)] = no_network
    assert method == "submit" and kwargs == {"service_account": SA}
    assert job.project == "my-project" and job.location == "europe-west4"
    resource = job._gca_resource  # the PipelineJob proto the client would send
    assert resource.display_name == "movielens-recsys"
    assert resource.runtime_config.gcs_output_directory == target.root
    tasks = set(resource.pipeline_spec["root"]["dag"]["tasks"])
    assert {"Transform", *(f"Pusher.{m}" for m in MODEL_NAMES)} <= tasks
    assert "submitted projects/p/pipelineJobs/1" in capsys.readouterr().out


def test_schedule_creates_a_schedule_not_a_run(dataflow_job_path, no_network):
    assert cli.main(_submit(dataflow_job_path, "--schedule", "30 2 * * 1")) == 0
    [(method, _, kwargs)] = no_network
    assert method == "create_schedule"
    assert kwargs == {"cron": "30 2 * * 1", "display_name": "movielens-recsys-schedule",
                      "service_account": None}


def test_missing_credentials_is_one_line(dataflow_job_path, monkeypatch, capsys):
    def no_credentials(*args, **kwargs):
        raise google.auth.exceptions.DefaultCredentialsError("none")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    assert cli.main(_submit(dataflow_job_path)) == 2
    assert "gcloud auth application-default login" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (("--schedule", "daily"), "expected 5 cron fields"),
    (("--service-account", "pipelines"), "expected an email"),
])
def test_bad_arguments(dataflow_job_path, no_network, capsys, extra, message):
    assert cli.main(_submit(dataflow_job_path, *extra)) == 2
    assert message in capsys.readouterr().err
    assert no_network == []


def test_spec_must_be_a_compiled_job(tmp_path, capsys):
    assert cli.main(_submit(tmp_path / "missing.json", "--dry-run")) == 2
    assert "no such file (run `recsys compile`)" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"components": {}}')
    assert cli.main(_submit(other, "--dry-run")) == 2
    assert "not a pipeline job" in capsys.readouterr().err
