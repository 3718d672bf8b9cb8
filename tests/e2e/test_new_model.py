"""A new model is one catalogue entry (docs/architecture.md): a two-tower variant added to the
catalogue, and nothing else changed, is trained, evaluated, gated and pushed by `recsys run`,
and the service and the serving config know it.

The entry is added in a child process before anything else imports the catalogue, as if it
were written in contract/catalogue.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures.movielens_files import write_ml100k
from tests.fixtures.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

_SCRIPT = textwrap.dedent("""
    import json, sys
    from contract import catalogue
    from contract.catalogue import Group, Kind, ModelEntry
    from contract.gates import TOP_K_GATE

    entry = ModelEntry(
        "demographic", Kind.RETRIEVAL, "movies for a user's demographics alone",
        "trainer.models.two_tower.TwoTowerModel", "trainer.config.RetrievalConfig",
        query=(Group.DEMOGRAPHICS,), candidate=(Group.MOVIE_ID, Group.CONTENT),
        gate=TOP_K_GATE.with_min_hit_rate(0.05))
    catalogue.CATALOGUE += (entry,)
    catalogue.MODEL_NAMES += (entry.name,)
    catalogue._BY_NAME[entry.name] = entry

    from recsys import cli
    from recsys.cli import deploy
    from recsys.serving import service

    data_dir, output_dir = sys.argv[1], sys.argv[2]
    status = cli.main(["run", "--data-dir", data_dir, "--output-dir", output_dir,
                       "--models", "demographic", "--hparam", "demographic.epochs=2",
                       "--hparam", "demographic.feature_dim=4"])
    print("RESULT " + json.dumps({
        "status": status, "serving": "demographic" in service.ANY_MODEL,
        "config": deploy.models_config(catalogue.MODEL_NAMES, "gs://b/serving")}))
""")


def test_a_catalogue_entry_alone_adds_a_model(tmp_path):
    data_dir = write_ml100k(tmp_path / "data", users=40)
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(data_dir), str(tmp_path / "out")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-2000:] + result.stderr[-3000:]
    found = json.loads(lines[0][len("RESULT "):])
    assert found["status"] == 0, result.stdout[-2000:]
    assert found["serving"]
    assert 'name: "demographic"' in found["config"]
    versions = list((tmp_path / "out" / "serving" / "demographic").iterdir())
    assert len(versions) == 1 and (versions[0] / "saved_model.pb").exists()
