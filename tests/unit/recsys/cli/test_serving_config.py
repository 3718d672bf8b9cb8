"""`recsys serving-config` with version labels: what TF Serving gets for a canary, a promotion
and a rollback, and what the REST service reads back from the same file."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from contract.catalogue import MODEL_NAMES
from recsys import cli
from recsys.serving import registry

BASE = "gs://bucket/serving"


def _config(tmp_path, *flags: str) -> model_server_config_pb2.ModelServerConfig:
    path = tmp_path / "models.config"
    assert cli.main(["serving-config", "--base-path", BASE, "--output", str(path), *flags]) == 0
    return text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())


def _entries(config) -> dict:
    return {entry.name: entry for entry in config.model_config_list.config}


def test_without_labels_every_model_serves_its_latest_version(tmp_path):
    entries = _entries(_config(tmp_path))
    assert list(entries) == list(MODEL_NAMES)
    for entry in entries.values():
        assert not entry.version_labels
        assert not entry.HasField("model_version_policy")  # TF Serving's default: latest


def test_a_canary_serves_both_versions_under_their_labels(tmp_path):
    entries = _entries(_config(tmp_path, "--stable", "retrieval=100", "--canary",
                               "retrieval=200", "--stable", "mf=7"))
    retrieval = entries["retrieval"]
    assert list(retrieval.model_version_policy.specific.versions) == [100, 200]
    assert dict(retrieval.version_labels) == {"stable": 100, "canary": 200}
    assert list(entries["mf"].model_version_policy.specific.versions) == [7]
    assert dict(entries["mf"].version_labels) == {"stable": 7}
    assert not entries["hybrid"].version_labels  # untouched models follow their pushes


def test_promote_and_rollback_are_new_stable_versions(tmp_path):
    promoted = _entries(_config(tmp_path, "--stable", "retrieval=200"))["retrieval"]
    assert dict(promoted.version_labels) == {"stable": 200}
    assert list(promoted.model_version_policy.specific.versions) == [200]
    rolled_back = _entries(_config(tmp_path, "--stable", "retrieval=100"))["retrieval"]
    assert dict(rolled_back.version_labels) == {"stable": 100}


@pytest.mark.parametrize(("flags", "message"), [
    (["--canary", "retrieval=2"], "give retrieval's --stable version too"),
    (["--stable", "retrieval=2", "--canary", "retrieval=2"], "is also its --stable version"),
    (["--stable", "nope=2"], "'nope' is not one of"),
    (["--stable", "retrieval=latest"], "expected MODEL=VERSION"),
    (["--stable", "retrieval=1", "--stable", "retrieval=2"], "gives retrieval twice"),
])
def test_bad_labels_are_one_line_errors(capsys, flags, message):
    assert cli.main(["serving-config", "--base-path", BASE, *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_rest_service_follows_the_labels_it_reads_back(tmp_path):
    """The service reads the same file: stable (or the label it is told) per labelled model,
    the latest version otherwise."""
    _config(tmp_path, "--stable", "retrieval=100", "--canary", "retrieval=200")
    labels = registry.version_labels(str(tmp_path / "models.config"))
    assert labels["retrieval"] == {"stable": 100, "canary": 200} and labels["mf"] == {}
    models = tmp_path / "serving"
    for name, version in (("retrieval", 100), ("retrieval", 200), ("retrieval", 300),
                          ("mf", 5), ("mf", 6)):
        (models / name / str(version)).mkdir(parents=True)
        (models / name / str(version) / "saved_model.pb").write_bytes(b"")
    stable = registry.labelled_versions(labels, "stable")(str(models))
    assert {(name, version) for name, version, _ in stable} == {("retrieval", 100), ("mf", 6)}
    canary = registry.labelled_versions(labels, "canary")(str(models))
    assert ("retrieval", 200) in {(name, version) for name, version, _ in canary}
    assert registry.label_for(labels["retrieval"], "canary") == "canary"
    assert registry.label_for(labels["mf"], "canary") is None
    assert registry.label_for({"stable": 1}, "canary") == "stable"


def test_a_missing_tf_serving_config_is_a_setup_error(tmp_path):
    with pytest.raises(registry.SetupError, match="TF Serving config"):
        registry.version_labels(str(tmp_path / "missing.config"))
