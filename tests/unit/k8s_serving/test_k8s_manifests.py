"""k8s_serving/: every rendered manifest is schema-valid and internally consistent: TF Serving
with its batching, monitoring and models files mounted, the REST service in front of it, the
policies between them and the Prometheus scraping of both."""

import json
import math
import re
import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from benchmarks import serving_batching
from contract import keys
from contract.catalogue import MODEL_NAMES
from recsys.serving import explain
from tests.fixtures.paths import REPO_ROOT, VENV_BIN
from tests.fixtures.tf_serving_protos import compile_protos

ROOT = REPO_ROOT / "k8s_serving"
KUBERNETES_VERSION = "1.33.0"  # GKE regular channel at the time of writing
TARGETS = ("base", "overlays/dev", "overlays/prod")
KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
         "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "PodMonitoring"}
TF_SERVING, REST = "tf-serving", "recsys-serve"
CONFIG_DIR = "/etc/tf-serving"
# PodMonitoring is a custom resource (GKE Managed Prometheus): no Kubernetes schema knows it.
# It is checked against its CRD's OpenAPI schema, vendored from the operator's repository.
POD_MONITORING_CRD = REPO_ROOT / "tests/fixtures/crds/monitoring.googleapis.com_podmonitorings.yaml"
BATCHING_RESULTS = REPO_ROOT / "benchmarks/results/batching.json"


def _kubectl() -> str:
    kubectl = shutil.which("kubectl", path=str(VENV_BIN))
    return kubectl or shutil.which("kubectl")


def _render(target: str) -> dict[tuple[str, str], dict]:
    out = subprocess.run([_kubectl(), "kustomize", str(ROOT / target)],
                         check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(objects) == len(docs), "kind and name identify each object"
    return objects


class Rendered(dict):
    """(kind, name) -> object; `one(kind)` for kinds with a single object."""

    def one(self, kind: str) -> dict:
        [found] = [doc for (k, _), doc in self.items() if k == kind]
        return found

    def obj(self, kind: str, name: str) -> dict:
        return self[(kind, name)]

    def config(self) -> dict[str, str]:
        return self.one("ConfigMap")["data"]


@pytest.fixture(scope="module")
def protos() -> dict:
    return compile_protos()


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request) -> Rendered:
    return Rendered(_render(request.param))


def _pod(rendered: Rendered, app: str) -> dict:
    return rendered.obj("Deployment", app)["spec"]["template"]


def _container(rendered: Rendered, app: str) -> dict:
    [container] = _pod(rendered, app)["spec"]["containers"]
    return container


def _flags(container: dict) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in container["args"] if arg.startswith("--"))


def _mounted_file(rendered: Rendered, app: str, path: str) -> str:
    """The ConfigMap entry a container sees at `path`."""
    pod = _pod(rendered, app)["spec"]
    mounts = {m["mountPath"]: m["name"] for m in _container(rendered, app)["volumeMounts"]}
    directory, name = path.rsplit("/", 1)
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[directory])
    config_map = rendered.one("ConfigMap")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    keys = {item["path"]: item["key"] for item in volume["configMap"].get("items", [])} or {
        key: key for key in config_map["data"]}
    return config_map["data"][keys[name]]


# -- schema ------------------------------------------------------------------------------------
def test_every_object_is_valid_for_the_pinned_kubernetes(rendered):
    assert {kind for kind, _ in rendered} == KINDS
    for (kind, _), doc in rendered.items():
        if kind != "PodMonitoring":
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _unknown_fields(value, schema: dict, path: str = "") -> list[str]:
    """Fields the schema does not declare (the API server would prune or, strict, refuse
    them); jsonschema alone accepts them."""
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += _unknown_fields(item, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [f for i, item in enumerate(value)
                for f in _unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def test_pod_monitorings_are_valid_for_their_crd(rendered):
    """The CRD's structural schema (types, required fields, enums, patterns) and no undeclared
    field; its CEL rules (x-kubernetes-validations) need an API server and are not run."""
    crd = yaml.safe_load(POD_MONITORING_CRD.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["storage"]]  # v1
    schema = version["schema"]["openAPIV3Schema"]
    monitorings = [doc for (kind, _), doc in rendered.items() if kind == "PodMonitoring"]
    assert {doc["metadata"]["name"] for doc in monitorings} == {TF_SERVING, REST}
    for doc in monitorings:
        assert doc["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
        jsonschema.validate(doc, schema)
        assert _unknown_fields({k: v for k, v in doc.items() if k != "metadata"}, schema) == []


# -- consistency -------------------------------------------------------------------------------
def test_all_objects_share_one_namespace(rendered):
    namespace = rendered.one("Namespace")["metadata"]["name"]
    for (kind, name), doc in rendered.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, (kind, name)


@pytest.mark.parametrize("app", [TF_SERVING, REST])
def test_selectors_match_the_pod_labels(rendered, app):
    pod_labels = _pod(rendered, app)["metadata"]["labels"]
    selectors = [rendered.obj("Deployment", app)["spec"]["selector"]["matchLabels"],
                 rendered.obj("Service", app)["spec"]["selector"],
                 rendered.obj("PodDisruptionBudget", app)["spec"]["selector"]["matchLabels"],
                 rendered.obj("NetworkPolicy", app)["spec"]["podSelector"]["matchLabels"],
                 rendered.obj("PodMonitoring", app)["spec"]["selector"]["matchLabels"]]
    for selector in selectors:
        assert selector and selector.items() <= pod_labels.items()
    assert rendered.obj("HorizontalPodAutoscaler", app)["spec"]["scaleTargetRef"]["name"] == app
    assert _pod(rendered, app)["spec"]["serviceAccountName"] == app


@pytest.mark.parametrize("app", [TF_SERVING, REST])
def test_service_policy_and_scrape_ports_are_container_ports(rendered, app):
    container = _container(rendered, app)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in rendered.obj("Service", app)["spec"]["ports"]:
        assert port["targetPort"] in ports
    policy_ports = {p["port"] for rule in rendered.obj("NetworkPolicy", app)["spec"]["ingress"]
                    for p in rule["ports"]}
    assert policy_ports == set(ports.values())
    [endpoint] = rendered.obj("PodMonitoring", app)["spec"]["endpoints"]
    annotations = _pod(rendered, app)["metadata"]["annotations"]
    assert endpoint["port"] in ports
    assert annotations["prometheus.io/port"] == str(ports[endpoint["port"]])
    assert annotations["prometheus.io/path"] == endpoint["path"]


def test_tf_serving_ports_and_its_clients(rendered):
    container = _container(rendered, TF_SERVING)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    flags = _flags(container)
    assert flags["--port"] == "8500" and flags["--rest_api_port"] == "8501"
    clients, collectors = rendered.obj("NetworkPolicy", TF_SERVING)["spec"]["ingress"]
    [source] = clients["from"]
    assert source["podSelector"]["matchLabels"] == {"recsys/serving-client": "true"}
    [collector] = collectors["from"]  # GKE Managed Prometheus scrapes the metrics port only
    assert collector["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "gmp-system"}
    assert [p["port"] for p in collectors["ports"]] == [ports["http"]]


def test_tf_serving_image_matches_the_tensorflow_that_exports_the_models(rendered):
    image = _container(rendered, TF_SERVING)["image"]
    match = re.fullmatch(r"tensorflow/serving:(\d+)\.(\d+)\.\d+", image)
    locked = re.search(r"^tensorflow==(\d+)\.(\d+)\.", (REPO_ROOT / "requirements/lock.txt")
                       .read_text(), re.M)
    assert match and match.groups() == locked.groups()


def test_tf_serving_reads_its_mounted_files_and_probes_a_served_model(rendered):
    container = _container(rendered, TF_SERVING)
    flags = _flags(container)
    models = _mounted_file(rendered, TF_SERVING, flags["--model_config_file"])
    assert models == rendered.config()["models.config"]
    assert int(flags["--file_system_poll_wait_seconds"]) > 0
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == "http"
        assert get["path"].removeprefix("/v1/models/") in MODEL_NAMES
    assert flags["--enable_model_warmup"] == "true"
    # Labels are applied before the labelled versions load (server_core.cc ReloadConfig).
    assert flags["--allow_version_labels_for_unavailable_models"] == "true"


def test_batching_is_on_with_a_valid_batching_parameters_file(rendered, protos):
    container = _container(rendered, TF_SERVING)
    flags = _flags(container)
    assert flags["--enable_batching"] == "true"
    text = _mounted_file(rendered, TF_SERVING, flags["--batching_parameters_file"])
    params = text_format.Parse(text, protos["batching_parameters"].BatchingParameters())
    for field in ("max_batch_size", "max_execution_batch_size", "batch_timeout_micros",
                  "num_batch_threads", "max_enqueued_batches"):
        assert params.HasField(field), field
    # The largest request the clients send (an explanation's coalitions, the catalogue in
    # chunks) is accepted, and split into execution batches of the measured size.
    assert params.max_batch_size.value == keys.MAX_REQUEST_ROWS
    assert 2 ** (len(keys.USER_GROUPS) + explain.HISTORY_PLAYERS + 1) <= keys.MAX_REQUEST_ROWS
    assert params.enable_large_batch_splitting.value
    assert params.max_execution_batch_size.value in serving_batching.BATCH_SIZES
    # The queue holds one largest request, split, and a batch per thread besides.
    assert params.max_enqueued_batches.value >= math.ceil(
        params.max_batch_size.value / params.max_execution_batch_size.value)
    # A shorter list would be padded with a real id: the signatures need no padding.
    assert not params.pad_variable_length_inputs
    # One batch thread per core the container may use.
    cpus = _cpus(container["resources"]["limits"]["cpu"])
    assert params.num_batch_threads.value == max(1, int(cpus))
    # The measured choice (docs/benchmarks.md); only the threads differ per environment.
    choice = json.loads(BATCHING_RESULTS.read_text())["choice"]
    assert (params.max_execution_batch_size.value, params.batch_timeout_micros.value) == (
        choice["max_execution_batch_size"], choice["batch_timeout_micros"])


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_monitoring_exposes_prometheus_where_it_is_scraped(rendered, protos):
    flags = _flags(_container(rendered, TF_SERVING))
    text = _mounted_file(rendered, TF_SERVING, flags["--monitoring_config_file"])
    config = text_format.Parse(text, protos["monitoring_config"].MonitoringConfig())
    assert config.prometheus_config.enable
    [endpoint] = rendered.obj("PodMonitoring", TF_SERVING)["spec"]["endpoints"]
    assert endpoint["path"] == config.prometheus_config.path
    assert endpoint["port"] == "http"  # the REST port serves the metrics


@pytest.mark.parametrize("app", [TF_SERVING, REST])
def test_pods_are_locked_down(rendered, app):
    pod = _pod(rendered, app)["spec"]
    container = _container(rendered, app)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    account = rendered.obj("ServiceAccount", app)
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com")


def _models_config(rendered: Rendered) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(rendered.config()["models.config"],
                             model_server_config_pb2.ModelServerConfig())


def test_models_config_serves_exactly_the_pipeline_models(rendered):
    models = _models_config(rendered).model_config_list.config
    assert sorted(m.name for m in models) == sorted(MODEL_NAMES)
    for model in models:
        assert re.fullmatch(rf"gs://[a-z0-9._-]+/.+/{model.name}", model.base_path)
        assert model.model_platform == "tensorflow"
    # One serving dir for all: the pipeline's --serving-dir.
    assert len({m.base_path.rsplit("/", 1)[0] for m in models}) == 1


# -- the REST service --------------------------------------------------------------------------
def test_the_rest_service_calls_tf_serving_through_its_service(rendered):
    flags = _flags(_container(rendered, REST))
    service = rendered.obj("Service", TF_SERVING)
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
    assert flags["--tf-serving"] == f"http://{service['metadata']['name']}:{http['port']}"
    assert _container(rendered, REST)["args"][0] == "serve"
    assert flags["--host"] == "0.0.0.0"
    assert int(flags["--port"]) == _container(rendered, REST)["ports"][0]["containerPort"]
    # It reads the labels TF Serving serves from the same models.config.
    assert _mounted_file(rendered, REST, flags["--tf-serving-config"]) == (
        rendered.config()["models.config"])


def test_the_rest_service_mounts_the_pushed_models_and_the_raw_data_from_gcs(rendered):
    pod = _pod(rendered, REST)
    flags = _flags(_container(rendered, REST))
    assert pod["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
    mounts = {m["mountPath"]: m for m in _container(rendered, REST)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}

    def gcs_path(directory: str) -> str:
        mount = mounts[directory]
        assert mount["readOnly"] is True
        csi = volumes[mount["name"]]["csi"]
        assert csi["driver"] == "gcsfuse.csi.storage.gke.io" and csi["readOnly"] is True
        options = dict(o.partition("=")[::2] for o in csi["volumeAttributes"]["mountOptions"]
                       .split(","))
        return f"gs://{csi['volumeAttributes']['bucketName']}/{options['only-dir']}"

    [base_path] = {m.base_path.rsplit("/", 1)[0]
                   for m in _models_config(rendered).model_config_list.config}
    assert gcs_path(flags["--models-dir"]) == base_path  # what TF Serving serves
    assert gcs_path(flags["--data-dir"]).startswith(base_path.split("/recsys/")[0] + "/")


def test_the_rest_service_probes_readiness_and_reaches_tf_serving_only(rendered):
    container = _container(rendered, REST)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "startupProbe" in container
    assert _pod(rendered, REST)["metadata"]["labels"]["recsys/serving-client"] == "true"
    policy = rendered.obj("NetworkPolicy", REST)["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    in_cluster = [rule for rule in policy["egress"]
                  if any("podSelector" in peer and "namespaceSelector" not in peer
                         for peer in rule["to"])]
    [to_tf_serving] = in_cluster
    tf_serving_pods = _pod(rendered, TF_SERVING)["metadata"]["labels"]
    [peer] = to_tf_serving["to"]
    assert peer["podSelector"]["matchLabels"].items() <= tf_serving_pods.items()
    http = {p["name"]: p["containerPort"] for p in _container(rendered, TF_SERVING)["ports"]}
    assert [p["port"] for p in to_tf_serving["ports"]] == [http["http"]]
    others = [peer for rule in policy["egress"] if rule is not to_tf_serving
              for peer in rule["to"]]
    for peer in others:  # DNS in kube-system, or fixed Google addresses; no other pod
        assert "ipBlock" in peer or peer["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "kube-system"}


def test_overlays_differ_where_they_should():
    dev, prod = Rendered(_render("overlays/dev")), Rendered(_render("overlays/prod"))
    assert dev.one("Namespace")["metadata"]["name"] != prod.one("Namespace")["metadata"]["name"]
    for app in (TF_SERVING, REST):
        assert (dev.obj("HorizontalPodAutoscaler", app)["spec"]["maxReplicas"]
                < prod.obj("HorizontalPodAutoscaler", app)["spec"]["maxReplicas"])
    assert dev.config()["models.config"] != prod.config()["models.config"]
    assert _container(dev, REST)["image"] != _container(prod, REST)["image"]


def test_every_models_config_is_what_serving_config_writes():
    """The checked-in lists are `make serving-configs` output, not hand edits."""
    from recsys.cli import deploy

    for target in TARGETS:
        text = (ROOT / target / "models.config").read_text()
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
        base = config.model_config_list.config[0].base_path.rsplit("/", 1)[0]
        assert text == deploy.models_config(MODEL_NAMES, base), target
