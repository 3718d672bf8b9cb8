"""The REST service's image (serving.Dockerfile), checked statically (no Docker engine here),
against the pipeline image's pins and the Kubernetes Deployment that runs it, and linted."""

import argparse
import json
import re
import shlex
import shutil
import subprocess

import yaml

from recsys.cli import serve
from tests.fixtures import dockerfiles
from tests.fixtures.paths import REPO_ROOT, VENV_BIN

DOCKERFILE = REPO_ROOT / "serving.Dockerfile"


def _exec_form(args: str) -> list[str]:
    return json.loads(args)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys")
    commands = parser.add_subparsers(dest="command")
    serve.register(commands, argparse.ArgumentParser(add_help=False))
    return parser


def test_hadolint_passes():
    result = dockerfiles.hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copy_source_exists_in_the_build_context():
    sources = dockerfiles.copy_sources(DOCKERFILE)
    assert "requirements/lock.txt" in sources and "recsys/" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not dockerfiles.ignored(source), f"{source} is excluded by .dockerignore"


def test_installs_the_pipelines_lock_without_the_resolver_on_the_same_python():
    commands = dockerfiles.run_commands(DOCKERFILE)
    lock = commands.index("pip install --no-deps -r requirements/lock.txt")
    project = next(i for i, c in enumerate(commands)
                   if c.startswith("pip install --no-deps") and c.endswith(" ."))
    assert lock < project and not any("--editable" in c or "-e " in c for c in commands)
    [base] = [shlex.split(args)[0] for args in dockerfiles.of(DOCKERFILE, "FROM")]
    pipeline_bases = [shlex.split(args)[0]
                      for args in dockerfiles.of(REPO_ROOT / "Dockerfile", "FROM")]
    assert base in pipeline_bases and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base)
    assert set(dockerfiles.copy_sources(DOCKERFILE)) == {
        s for s in dockerfiles.copy_sources(REPO_ROOT / "Dockerfile")}


def test_runs_recsys_serve_as_a_non_root_user():
    user = dockerfiles.of(DOCKERFILE, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    assert _exec_form(dockerfiles.of(DOCKERFILE, "ENTRYPOINT")[0]) == ["recsys"]
    command = _exec_form(dockerfiles.of(DOCKERFILE, "CMD")[0])
    args = _serve_parser().parse_args(command)  # what `recsys` makes of the default command
    assert (args.command, args.host, args.models_dir, args.data_dir) == (
        "serve", "0.0.0.0", "/models", "/data")
    [exposed] = dockerfiles.of(DOCKERFILE, "EXPOSE")
    assert int(exposed) == args.port
    [healthcheck] = dockerfiles.of(DOCKERFILE, "HEALTHCHECK")
    assert f"http://127.0.0.1:{args.port}/healthz" in healthcheck


def test_the_cluster_runs_it_with_arguments_recsys_accepts():
    """k8s_serving's Deployment gives the image's entrypoint arguments `recsys serve` parses,
    on the port the image exposes."""
    kubectl = shutil.which("kubectl", path=str(VENV_BIN)) or shutil.which("kubectl")
    out = subprocess.run([kubectl, "kustomize", str(REPO_ROOT / "k8s_serving/base")],
                         check=True, capture_output=True, text=True).stdout
    [deployment] = [d for d in yaml.safe_load_all(out)
                    if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "recsys-serve"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container  # the image's ENTRYPOINT (recsys) runs
    args = _serve_parser().parse_args(container["args"])
    assert args.tf_serving and args.tf_serving_config
    [exposed] = dockerfiles.of(DOCKERFILE, "EXPOSE")
    assert container["ports"][0]["containerPort"] == args.port == int(exposed)
