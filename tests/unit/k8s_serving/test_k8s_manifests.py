"""k8s_serving/: every rendered manifest is schema-valid and internally consistent."""

import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from contract.catalogue import MODEL_NAMES
from tests.fixtures.paths import REPO_ROOT, VENV_BIN

ROOT = REPO_ROOT / "k8s_serving"
KUBERNETES_VERSION = "1.33.0"  # GKE regular channel at the time of writing
TARGETS = ("base", "overlays/dev", "overlays/prod")
KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
         "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}


def _kubectl() -> str:
    kubectl = shutil.which("kubectl", path=str(VENV_BIN))
    return kubectl or shutil.which("kubectl")


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request) -> dict[str, dict]:
    """kubectl kustomize TARGET, by kind (one object of each)."""
    out = subprocess.run([_kubectl(), "kustomize", str(ROOT / request.param)],
                         check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object per kind expected"
    return by_kind


def test_every_object_is_valid_for_the_pinned_kubernetes(rendered):
    assert set(rendered) == KINDS
    for doc in rendered.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_all_objects_share_one_namespace(rendered):
    namespace = rendered["Namespace"]["metadata"]["name"]
    for kind, doc in rendered.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, kind


def test_selectors_match_the_pod_labels(rendered):
    pod_labels = rendered["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selectors = [rendered["Deployment"]["spec"]["selector"]["matchLabels"],
                 rendered["Service"]["spec"]["selector"],
                 rendered["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
                 rendered["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]]
    for selector in selectors:
        assert selector and selector.items() <= pod_labels.items()
    # Clients are chosen by their own label, not by the server's.
    [source] = rendered["NetworkPolicy"]["spec"]["ingress"][0]["from"]
    assert source["podSelector"]["matchLabels"] == {"recsys/serving-client": "true"}
    assert rendered["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == \
        rendered["Deployment"]["metadata"]["name"]


def test_service_and_policy_ports_are_container_ports(rendered):
    [container] = rendered["Deployment"]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    for port in rendered["Service"]["spec"]["ports"]:
        target = port["targetPort"]
        assert ports.get(target, target) == port["port"] and target in ports
    policy_ports = {p["port"] for p in rendered["NetworkPolicy"]["spec"]["ingress"][0]["ports"]}
    assert policy_ports == set(ports.values())
    flags = dict(arg.split("=", 1) for arg in container["args"])
    assert flags["--port"] == "8500" and flags["--rest_api_port"] == "8501"


def test_server_reads_the_config_map_and_probes_a_served_model(rendered):
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+", container["image"])
    flags = dict(arg.split("=", 1) for arg in container["args"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config_volume = next(n for n, v in volumes.items() if "configMap" in v)
    assert volumes[config_volume]["configMap"]["name"] == rendered["ConfigMap"]["metadata"]["name"]
    assert flags["--model_config_file"] == f"{mounts[config_volume]}/models.config"
    assert int(flags["--file_system_poll_wait_seconds"]) > 0
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == "http"
        assert get["path"].removeprefix("/v1/models/") in MODEL_NAMES


def test_pod_is_locked_down(rendered):
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    account = rendered["ServiceAccount"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com")


def test_models_config_serves_exactly_the_pipeline_models(rendered):
    config = text_format.Parse(rendered["ConfigMap"]["data"]["models.config"],
                               model_server_config_pb2.ModelServerConfig())
    models = config.model_config_list.config
    assert sorted(m.name for m in models) == sorted(MODEL_NAMES)
    for model in models:
        assert re.fullmatch(rf"gs://[a-z0-9._-]+/.+/{model.name}", model.base_path)
        assert model.model_platform == "tensorflow"
    # One serving dir for all: the pipeline's --serving-dir.
    assert len({m.base_path.rsplit("/", 1)[0] for m in models}) == 1


def test_overlays_differ_where_they_should():
    def render(target):
        out = subprocess.run([_kubectl(), "kustomize", str(ROOT / target)], check=True,
                             capture_output=True, text=True).stdout
        return {d["kind"]: d for d in yaml.safe_load_all(out) if d}

    dev, prod = render("overlays/dev"), render("overlays/prod")
    assert dev["Namespace"]["metadata"]["name"] != prod["Namespace"]["metadata"]["name"]
    assert (dev["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
            < prod["HorizontalPodAutoscaler"]["spec"]["maxReplicas"])
    assert dev["ConfigMap"]["data"] != prod["ConfigMap"]["data"]
