"""A local run's own lines reach the terminal while everything else goes to its log.

Run in a child process: the redirection works on file descriptors 1 and 2, which pytest's
capture replaces."""

import subprocess
import sys
import textwrap

from tests.fixtures.paths import REPO_ROOT

_SCRIPT = textwrap.dedent("""
    import os, sys, types
    from recsys.cli import common, local_run
    from recsys.inspection import report

    def execute(settings):
        common.console.print("  Trainer.mf   done (1 s)")  # as the progress display prints
        print("Python noise", flush=True)
        os.write(1, b"native noise\\n")  # TensorFlow's C++ logging

    local_run.check_input = lambda settings: None
    local_run.execute_pipeline = execute
    local_run.print_summary = lambda path: common.console.print("mf  0.2  yes")
    report.write_report = lambda *args, **kwargs: "REPORT.html"
    settings = types.SimpleNamespace(output_dir=sys.argv[1], metadata_path="m.sqlite",
                                     data_dir="data")
    local_run.run_locally(settings, verbose=False)
""")


def test_progress_goes_to_the_terminal_and_library_output_to_the_log(tmp_path):
    child = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    for line in ("log: ", "Trainer.mf   done (1 s)", "pipeline finished in", "mf  0.2  yes",
                 "report: REPORT.html"):
        assert line in child.stdout
    assert "noise" not in child.stdout
    (log,) = (tmp_path / "logs").iterdir()
    assert "Python noise" in log.read_text() and "native noise" in log.read_text()
