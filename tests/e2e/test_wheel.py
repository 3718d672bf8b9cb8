"""The wheel carries what the code reads at run time: built from pyproject.toml, installed into
a fresh virtual environment, and used from a directory outside the source tree, it serves the
UI at / and runs the data gate with the curated schema it ships.

The fresh environment gets the project from the wheel only; its dependencies come from the
project's .venv through a .pth path entry (which adds the directory to sys.path but, unlike a
site directory, does not run the .pth files there, such as the editable install's finder).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.movielens_files import write_ml100k
from tests.fixtures.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

# Runs inside the fresh environment, from a directory outside the checkout.
_PROBE = textwrap.dedent("""
    import json, os, sys
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import contract, recsys
    from fastapi.testclient import TestClient
    from tfx import v1 as tfx
    from components.data_gate.component import validation_nodes
    from components.movielens_example_gen.component import MovieLensExampleGen
    from contract import schema
    from recsys.cli import common
    from recsys.serving import catalogue
    from recsys.serving.app import create_app
    from recsys.serving.registry import ModelRegistry

    data_dir, work = sys.argv[1], sys.argv[2]
    page = TestClient(create_app(ModelRegistry(work, lambda *a: None),
                                 catalogue.load(data_dir))).get("/")

    def gate(data, root):
        example_gen = MovieLensExampleGen(input_base=data)
        statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
        nodes, _, _ = validation_nodes(statistics.outputs["statistics"])
        try:
            tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
                pipeline_name="wheel", pipeline_root=os.path.join(root, "root"),
                components=[example_gen, statistics, *nodes],
                metadata_connection_config=tfx.orchestration.metadata
                .sqlite_metadata_connection_config(os.path.join(root, "mlmd.sqlite"))))
        except Exception as error:
            return common.user_error_message(error) or repr(error)
        return None

    print("RESULT " + json.dumps({
        "modules": [contract.__file__, recsys.__file__], "schema": schema.resolve(),
        "status": page.status_code, "page": page.text,
        "good": gate(data_dir, os.path.join(work, "good")),
        "bad": gate(sys.argv[3], os.path.join(work, "bad"))}))
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tracked files: setuptools writes build/ into the source tree."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(source)], check=True)
    (path,) = out.glob("recsys_tfx-*.whl")
    return path


def test_the_wheel_lists_the_ui_the_schema_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"contract/schema.pbtxt", "recsys/serving/static/index.html",
            "recsys/serving/static/app.js", "recsys/serving/static/style.css"} <= names
    assert any(name.endswith("licenses/LICENSE") for name in names)
    assert not any(name.startswith("tests/") for name in names)


def test_installed_wheel_serves_the_ui_and_runs_the_data_gate(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    good = write_ml100k(tmp_path / "good", users=30)
    bad = write_ml100k(tmp_path / "bad", users=30)
    (bad / "u.user").write_text((bad / "u.user").read_text().replace("|M|", "|X|"))
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", _PROBE, str(good), str(work), str(bad)],
        cwd=work, capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    found = json.loads(lines[0][len("RESULT "):])
    assert all(module.startswith(str(site)) for module in found["modules"]), found["modules"]
    assert found["schema"].startswith(str(site)) and Path(found["schema"]).is_file()
    assert found["status"] == 200 and "<title>" in found["page"]
    assert found["good"] is None
    assert "feature 'gender'" in found["bad"] and found["schema"] in found["bad"]
