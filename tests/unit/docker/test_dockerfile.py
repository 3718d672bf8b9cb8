"""The pipeline image's Dockerfile, checked statically (no Docker engine here) and linted."""

import importlib.metadata
import importlib.util
import re
import shlex
import tomllib

from pipeline import configs
from tests.fixtures import dockerfiles
from tests.fixtures.paths import REPO_ROOT

REPO = REPO_ROOT
DOCKERFILE = REPO / "Dockerfile"
KFP_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


def _of(kind: str) -> list[str]:
    return dockerfiles.of(DOCKERFILE, kind)


def _copy_sources() -> list[str]:
    return dockerfiles.copy_sources(DOCKERFILE)


def test_every_copy_source_exists_in_the_build_context():
    sources = _copy_sources()
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerfiles.ignored(source), f"{source} is excluded by .dockerignore"


def test_user_modules_and_their_function_paths_are_in_the_image():
    copied = {source.rstrip("/") for source in _copy_sources()}
    assert {"contract", "transform", "trainer", "components", "pipeline", "recsys"} <= copied
    for function_path in (configs.PREPROCESSING_FN, configs.RUN_FN):
        assert function_path.split(".")[0] in copied
        module, _, name = function_path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), function_path


def test_installs_the_lock_file_without_the_resolver_then_the_project():
    commands = dockerfiles.run_commands(DOCKERFILE)
    lock = commands.index("pip install --no-deps -r requirements/lock.txt")
    project = next(i for i, c in enumerate(commands)
                   if c.startswith("pip install --no-deps") and c.endswith(" ."))
    assert lock < project
    assert not any("-e " in c or "--editable" in c for c in commands)
    assert "requirements/lock.txt" in _copy_sources()


def test_base_images_are_pinned_and_beam_matches_the_lock():
    images = [shlex.split(args)[0] for args in _of("FROM")]
    for image in images:
        assert "@sha256:" in image or re.search(r":[\w.-]+$", image), image
        assert not image.endswith(":latest")
    assert any(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image) for image in images)
    beam = next(image for image in images if image.startswith("apache/beam_python3.11_sdk:"))
    locked = re.search(r"^apache-beam==(\S+)$", (REPO / "requirements/lock.txt").read_text(),
                       re.M).group(1)
    assert beam.endswith(f":{locked}")


def test_runs_as_a_non_root_user_with_legacy_keras():
    user = _of("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    assert re.search(r"\bTF_USE_LEGACY_KERAS=1\b", " ".join(_of("ENV")))


def test_entrypoints_are_importable():
    # Vertex AI runs each step as `python -m KFP_ENTRYPOINT`; people run `recsys`.
    assert importlib.util.find_spec(KFP_ENTRYPOINT) is not None
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["recsys"] == "recsys.cli:main"
    [entry] = importlib.metadata.entry_points(group="console_scripts", name="recsys")
    assert callable(entry.load())
    assert _of("ENTRYPOINT") == ['["/opt/apache/beam/boot"]']  # Dataflow's worker boot


def test_hadolint_passes():
    result = dockerfiles.hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
