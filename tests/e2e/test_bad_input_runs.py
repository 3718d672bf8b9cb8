"""`recsys run` as a user runs it (its own process, a terminal's file descriptors) on the bad
inputs and arguments of issue #18: exit status 2 and exactly one line on stderr, no traceback,
the trace in the log the line names (when the run got far enough to have one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli_output import run_error
from tests.fixtures.documented import README, as_documented, documented_errors
from tests.fixtures.movielens_files import write_ml100k, write_ml_latest
from tests.fixtures.paths import REPO_ROOT

pytestmark = pytest.mark.e2e


def _recsys_run(data_dir: Path, output_dir: str, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "recsys.cli", "run", "--data-dir", str(data_dir),
         "--output-dir", output_dir, "--models", "mf", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=environment)


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "ERROR:" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_the_readme_example_through_beam_workers_is_one_line(tmp_path):
    data_dir = write_ml100k(tmp_path / "ml-100k", users=30)
    lines = (data_dir / "u.data").read_text().splitlines()
    fields = lines[50].split("\t")
    lines[50] = "\t".join([*fields[:2], "abc", fields[3]])
    (data_dir / "u.data").write_text("\n".join(lines) + "\n")
    # Two Beam worker processes: the row fails in a child process.
    result = _recsys_run(data_dir, str(tmp_path / "out"), "--beam-workers", "2")
    message, log = run_error(_one_line(result))
    assert as_documented(message, tmp_path) == documented_errors(README)[0]
    assert "Traceback" in log.read_text()


def test_a_symlink_loop_is_one_line_before_any_work(tmp_path):
    data_dir = write_ml_latest(tmp_path / "ml-latest")
    os.remove(data_dir / "ratings.csv")
    os.symlink("ratings.csv", data_dir / "ratings.csv")
    message, _ = run_error(_one_line(_recsys_run(data_dir, str(tmp_path / "out"))))
    assert message == f"{data_dir / 'ratings.csv'}: cannot read: Too many levels of symbolic links"


@pytest.mark.parametrize("args, line", [
    (["--output-dir", "/proc/x"],
     "recsys: error: --output-dir /proc/x: cannot create or write to it: No such file or "
     "directory"),
    (["--protocol", "presplit", "--train-file", "u1.base", "--eval-file", "u1.base"],
     "recsys: error: --train-file and --eval-file are the same file (u1.base); the eval file "
     "must hold other ratings"),
    (["--hparam", "mf.learning_rate=inf"],
     "recsys: error: --hparam: invalid mf hyper-parameters {'learning_rate': 'inf'}: "
     "learning_rate must be a finite number, got inf"),
])
def test_bad_arguments_and_environment_are_one_line_without_a_log(tmp_path, args, line):
    data_dir = write_ml100k(tmp_path / "ml-100k", users=3, movies=6, ratings_per_user=4)
    result = _recsys_run(data_dir, str(tmp_path / "out"), *args)
    assert _one_line(result) == line
    assert not (tmp_path / "out").exists()  # refused before anything was written
