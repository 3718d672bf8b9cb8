"""What every command shares: output sent to the run's log, one-line errors, the serving
config written from the catalogue."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.movielens_example_gen.errors import InputDataError
from contract.catalogue import MODEL_NAMES
from recsys.cli import common, deploy
from tests.fixtures.paths import REPO_ROOT

_LOGGED = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from recsys.cli import common

    log = Path(sys.argv[1])
    try:
        with common.output_to_log(log):
            common.console.print("for the user")
            print("from python")
            os.write(2, b"native noise\\n")
            raise RuntimeError("boom")
    except common.LoggedFailure as failure:
        common.console.print(f"failed, see {failure.log_path} ({failure.__cause__})")
    print("after the block")
""")


def test_output_goes_to_the_log_while_the_console_reaches_the_terminal(tmp_path):
    log = tmp_path / "logs" / "run.log"
    result = subprocess.run([sys.executable, "-c", _LOGGED, str(log)], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "for the user", f"failed, see {log} (boom)", "after the block"]
    assert result.stderr == ""
    text = log.read_text()
    assert "from python" in text and "native noise" in text
    assert "Traceback" in text and "RuntimeError: boom" in text
    assert "for the user" not in text


def _failing(error: Exception):
    def handler(_args: argparse.Namespace) -> int:
        raise error

    return argparse.Namespace(handler=handler)


def test_a_user_error_is_one_line_with_exit_status_2(capsys):
    error = InputDataError("/data/u.data", 51, "rating 'abc' is not a number")
    assert common.run_handler(_failing(error)) == 2
    assert capsys.readouterr().err == (
        "recsys: error: /data/u.data:51: rating 'abc' is not a number\n")


def test_an_error_wrapped_by_beam_is_found_in_its_text(capsys):
    wrapped = RuntimeError("Traceback ...\nInputDataError: /d/u.data:3: bad row "
                           "[while running 'ReadRatings']")
    assert common.run_handler(_failing(wrapped)) == 2
    assert capsys.readouterr().err == "recsys: error: /d/u.data:3: bad row\n"


def test_an_environment_error_before_any_log_is_one_line(capsys):
    error = PermissionError(13, "Permission denied", "/data/out/logs")
    assert common.run_handler(_failing(error)) == 2
    assert capsys.readouterr().err == "recsys: error: /data/out/logs: Permission denied\n"


def test_a_diverged_training_wrapped_by_the_orchestrator_is_found(capsys):
    wrapped = RuntimeError("Traceback ...\nTrainingDiverged: mf: training diverged: the loss "
                           "became nan at epoch 1, step 2; ...")
    assert common.run_handler(_failing(wrapped)) == 2
    assert capsys.readouterr().err.startswith("recsys: error: mf: training diverged: ")


def test_an_unexpected_failure_of_a_logged_command_names_its_log(capsys, tmp_path):
    failure = common.LoggedFailure(tmp_path / "run.log")
    failure.__cause__ = KeyError("Trainer.mf")
    assert common.run_handler(_failing(failure)) == 1
    assert capsys.readouterr().err == (
        f"recsys: error: KeyError: 'Trainer.mf' (log: {tmp_path / 'run.log'})\n")


def test_serving_config_lists_every_catalogue_model_under_the_base_path():
    text = deploy.models_config(MODEL_NAMES, "gs://bucket/serving")
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] \
        == [(name, f"gs://bucket/serving/{name}", "tensorflow") for name in MODEL_NAMES]
