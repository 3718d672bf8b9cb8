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
        "parameter_values": json.loads(dataflow_job_path.read_text())["runtimeConfig"][
            "parameterValues"],
        "labels": {},
        "enable_caching": None,
        "experiment": None,
        "service_account": SA,
        "schedule": {"cron": "0 3 * * *", "display_name": "movielens-recsys-schedule"},
    }


def test_submit_hands_the_job_to_vertex(dataflow_job_path, target, no_network, capsys):
    assert cli.main(_submit(dataflow_job_path, "--service-account", SA)) == 0
    [(method, job, kwargs)] = no_network
    assert method == "submit" and kwargs == {"service_account": SA, "experiment": None}
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
    (("--label", "Team=recsys"), "--label 'Team=recsys': expected KEY=VALUE"),
    (("--label", "team"), "--label 'team': expected KEY=VALUE"),
    (("--label", "team=Rec Sys"), "--label 'team=Rec Sys': expected KEY=VALUE"),
    (("--label", f"k={'x' * 64}"), "expected KEY=VALUE"),
    (("--experiment", "My_Experiment"), "--experiment 'My_Experiment': up to 128"),
    (("--experiment", "nightly", "--schedule", "0 3 * * *"), "does not apply to --schedule"),
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


# -- the request itself, through the real client over HTTP ------------------------------------
JOB = "/projects/my-project/locations/europe-west4/pipelineJobs"
STORE = "/projects/my-project/locations/europe-west4/metadataStores/default"


@pytest.fixture
def vertex(vertex_api, gcs_emulator, target, monkeypatch):
    """Vertex AI as a run sees it: the job is created and running, its ML Metadata context
    exists, experiments get created. The client's check that the pipeline root's bucket is
    the project's goes to the GCS emulator, where it is, and to Cloud Resource Manager for the
    project's number, answered here."""
    from google.cloud import storage
    from google.cloud.aiplatform.utils import resource_manager_utils

    name = target.root.removeprefix("gs://").split("/")[0]
    client = storage.Client.create_anonymous_client()
    bucket = client.lookup_bucket(name) or client.create_bucket(name)
    monkeypatch.setattr(resource_manager_utils, "get_project_number",
                        lambda project, credentials=None: str(bucket.project_number))

    def running(request):
        name = request.path.lstrip("/")
        return 200, {"name": name, "state": 3, "jobDetail": {"pipelineRunContext": {
            "name": f"{STORE.lstrip('/')}/contexts/{name.rsplit('/', 1)[1]}"}}}

    vertex_api.route("GET", STORE, lambda r: (200, {"name": STORE.lstrip("/")}))
    vertex_api.route("GET", JOB + "/[^/]+", running)
    return vertex_api


def test_labels_caching_and_parameters_reach_the_pipeline_job_request(
        dataflow_job_path, vertex, capsys):
    assert cli.main(_submit(dataflow_job_path, "--label", "team=recsys", "--label",
                            "env=dev", "--no-cache", "--param", "protocol=rating",
                            "--hparam", "mf.sweeps=2")) == 0
    [create] = vertex.calls("POST", JOB)
    job = create.body
    assert job["labels"] == {"team": "recsys", "env": "dev"}
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert {task["cachingOptions"]["enableCache"] for task in tasks.values()
            if "cachingOptions" in task} == {False}
    values = job["runtimeConfig"]["parameterValues"]
    assert values["protocol"] == "rating"
    assert json.loads(values["trainer_config_mf"])["hparams"] == {"sweeps": "2"}
    job_id = create.query["pipelineJobId"][0]
    assert capsys.readouterr().out.strip().endswith(f"submitted {JOB.lstrip('/')}/{job_id}")


def test_without_no_cache_the_steps_cache_as_compiled(dataflow_job_path, vertex):
    assert cli.main(_submit(dataflow_job_path)) == 0
    [create] = vertex.calls("POST", JOB)
    tasks = create.body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert {task["cachingOptions"]["enableCache"] for task in tasks.values()
            if "cachingOptions" in task} == {True}
    assert not vertex.calls("POST", STORE + "/contexts.*")  # no experiment


def test_experiment_records_the_run_in_a_vertex_experiment(dataflow_job_path, vertex):
    assert cli.main(_submit(dataflow_job_path, "--experiment", "nightly")) == 0
    created = vertex.calls("POST", STORE + "/contexts")
    assert created and created[0].query["contextId"] == ["nightly"]
    assert created[0].body["schemaTitle"] == "system.Experiment"
    [create] = vertex.calls("POST", JOB)
    run_context = f"{STORE.lstrip('/')}/contexts/{create.query['pipelineJobId'][0]}"
    [link] = vertex.calls("POST", STORE + "/contexts/nightly:addContextChildren")
    assert link.body["childContexts"] == [run_context]
