"""Security basics: the dependency audit script's verdicts, no credentials in the tracked
source, no environment secrets in what `recsys run` prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import REPO_ROOT

ROOT = REPO_ROOT
AUDIT = ROOT / "scripts" / "audit.sh"
# Spelled in pieces so this file does not match itself.
CREDENTIALS = {
    "private key": re.compile(
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE" r" KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)" r"[0-9A-Z]{16}\b"),
    "GCP service-account key": re.compile(r'"private_key_id"\s*:\s*"[0-9a-f]{40}"'),
}


def _fake_pip_audit(tmp_path: Path, output: str, status: int) -> Path:
    script = tmp_path / "pip-audit"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\ncat <<'OUT'\n{output}\nOUT\n"
                      f"exit {status}\n")
    script.chmod(0o755)
    return script


def _audit(tmp_path: Path, output: str, status: int, allowlist: str = "") -> tuple[int, str, str]:
    (tmp_path / "allow.txt").write_text(allowlist)
    env = {**os.environ, "PIP_AUDIT": str(_fake_pip_audit(tmp_path, output, status)),
           "AUDIT_ALLOWLIST": str(tmp_path / "allow.txt")}
    done = subprocess.run(["bash", str(AUDIT)], capture_output=True, text=True, env=env,
                          timeout=60)
    return done.returncode, done.stdout, (tmp_path / "args").read_text()


def _pins() -> list[str]:
    lines = (ROOT / "requirements/lock.txt").read_text().splitlines()
    lines += (ROOT / "requirements/dev.txt").read_text().splitlines()
    return [line.split("==")[0] for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line)]


def test_audit_offline_says_it_was_not_possible_and_passes(tmp_path):
    skipped = "\n".join(f"{p} Dependency not found on PyPI and could not be audited: {p} (1)"
                        for p in _pins())
    status, out, _ = _audit(tmp_path, f"No known vulnerabilities found\n{skipped}", 0)
    assert status == 0 and "audit: NOT POSSIBLE" in out and "none was checked" in out


def test_audit_network_error_is_not_possible_not_ok(tmp_path):
    status, out, _ = _audit(tmp_path, "requests.exceptions.ConnectionError: Max retries", 1)
    assert status == 0 and "audit: NOT POSSIBLE" in out and "audit: OK" not in out


def test_audit_finding_fails_and_allowlist_is_passed_through(tmp_path):
    finding = "Found 1 known vulnerability in 1 package\nName Version ID\nfoo 1.0 GHSA-xxxx"
    status, out, args = _audit(tmp_path, finding, 1,
                               "# comment\nPYSEC-2024-1  not reachable: only used offline\n")
    assert status == 1 and "audit: FAILED" in out
    assert "--ignore-vuln PYSEC-2024-1" in args and "-r requirements/lock.txt" in args


def test_audit_partially_skipped_is_incomplete(tmp_path):
    status, out, _ = _audit(
        tmp_path, "No known vulnerabilities found\nfoo Dependency not found on PyPI and could "
        "not be audited: foo (1)", 0)
    assert status == 1 and "audit: INCOMPLETE - 1 of" in out


def test_audit_clean_passes(tmp_path):
    status, out, _ = _audit(tmp_path, "No known vulnerabilities found", 0)
    assert status == 0 and "audit: OK" in out


def test_allowlist_entries_have_a_justification():
    for line in (ROOT / "requirements/audit-allowlist.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert len(line.split(None, 1)) == 2, f"no justification: {line}"


def _repo_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def test_no_credentials_in_the_repository():
    found = []
    for path in _repo_files():
        text = path.read_bytes()[:2_000_000].decode("utf-8", "replace")
        found += [f"{path.relative_to(ROOT)}: {kind}"
                  for kind, pattern in CREDENTIALS.items() if pattern.search(text)]
    assert found == []


def test_the_credential_patterns_catch_real_looking_keys():
    samples = {"private key": "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIE",
               "AWS access key id": "key = AKIA" + "ABCDEFGHIJKLMNOP",
               "GCP service-account key": '{"private_key_id": "' + "a" * 40 + '"}'}
    assert {kind for kind, text in samples.items() if CREDENTIALS[kind].search(text)} == set(
        CREDENTIALS)


@pytest.mark.e2e
def test_recsys_run_prints_no_environment_secret(tmp_path):
    from tests.fixtures.movielens_files import write_ml100k

    data_dir = write_ml100k(tmp_path / "data", users=3, movies=6, ratings_per_user=4)
    with open(data_dir / "u.data", "a") as handle:
        handle.write("1\t2\tfive\t880000000\n")  # stops in ExampleGen, after TFX logged its set-up
    secret = "s3cr3t-" + "9f2c1e"
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": secret, "RECSYS_API_TOKEN": secret,
           "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / secret)}
    done = subprocess.run(
        [sys.executable, "-m", "recsys.cli", "run", "--data-dir", str(data_dir), "--output-dir",
         str(tmp_path / "out"), "--models", "mf", "--verbose"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and "rating 'five' is not a number" in done.stderr
    assert secret not in done.stdout + done.stderr
