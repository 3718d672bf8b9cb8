"""The command line: every command parses without TensorFlow, and bad options of `recsys run`
are one-line errors before any work starts."""

import subprocess
import sys

import pytest

from recsys import cli
from recsys.cli import common


@pytest.mark.parametrize("args, message", [
    (["--models", "mf,deep"], "--models: unknown model 'deep'; choose from "),
    (["--models", ","], "--models: no model named"),
    (["--hparam", "retrieval.history_encoder=gru"], "does not read"),
    (["--hparam", "mf.no_such=1"], "--hparam: "),
    (["--hparam", "mf.epochs=many"], "--hparam: "),
    (["--hparam", "mf.epochs=3"], "--hparam: mf.epochs configures solver adam, and this model "
                                  "is fitted by solver gibbs"),
    (["--hparam", "epochs=3"], "--hparam: expected MODEL.KEY=VALUE"),
    (["--protocol", "presplit"], "--train-file and --eval-file go together"),
    (["--train-file", "u1.base", "--eval-file", "u1.test"], "go together with --protocol presplit"),
    (["--beam-workers", "0"], "--beam-workers must be at least 1"),
    (["--models", "mf", "--min-hit-rate", "retrieval=0.1"], "'retrieval' is not one of the models"),
    (["--min-hit-rate", "mf=high"], "--min-hit-rate: 'high' is not a number"),
    (["--min-hit-rate", "mf=1.5"], "--min-hit-rate: 1.5 is outside (0, 1]"),
    (["--min-hit-rate", "mf=0"], "--min-hit-rate: 0.0 is outside (0, 1]"),
    (["--min-eval-examples", "-3"], "--min-eval-examples must be at least 1, got -3"),
    (["--protocol", "presplit", "--train-file", "u1.base", "--eval-file", "./u1.base"],
     "--train-file and --eval-file are the same file (./u1.base)"),
    (["--hparam", "mf.learning_rate=nan"], "learning_rate must be a finite number, got nan"),
    (["--hparam", "ranking.dropout=-inf"], "dropout must be a finite number, got -inf"),
    (["--min-rating-date", "yesterday"], "--min-rating-date: 'yesterday' is not a date"),
    (["--max-rating-date", "2001-02-30"], "--max-rating-date: '2001-02-30' is not a date"),
    (["--min-rating-date", "2001-01-02", "--max-rating-date", "2001-01-01"],
     "--max-rating-date 2001-01-01 is before --min-rating-date 2001-01-02"),
    (["--push-to", "s3://bucket/models"], "only gs:// URLs and local paths are supported"),
    (["--push-to", "gs://"], "gs:// needs a bucket"),
    (["--history-length", "0"], "--history-length must be between 1 and 1000, got 0"),
    (["--window", "-2"], "--window must be 0 (every span) or more, got -2"),
    (["--span", "3"], "--span needs --window"),
    (["--window", "2", "--protocol", "presplit", "--train-file", "a", "--eval-file", "b"],
     "--protocol presplit reads two given files: it does not apply to spans"),
])
def test_bad_options_are_rejected_with_one_line(tmp_path, capsys, args, message):
    status = cli.main(["run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path), *args])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert error.startswith("recsys: error: ") and message in error and "\n" not in error


def test_an_output_dir_that_cannot_be_created_is_one_line_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    status = cli.main(["run", "--data-dir", str(tmp_path), "--output-dir",
                       str(tmp_path / "file" / "out")])
    assert status == 2
    assert capsys.readouterr().err == (
        f"recsys: error: --output-dir {tmp_path / 'file' / 'out'}: cannot create or write to "
        "it: Not a directory\n")
    assert not (tmp_path / "file" / "out").exists()


def test_a_local_push_destination_is_checked_like_the_output_dir(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    status = cli.main(["run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "o"),
                       "--push-to", str(tmp_path / "file")])
    assert status == 2
    assert capsys.readouterr().err.startswith(
        f"recsys: error: --push-to {tmp_path / 'file'}: cannot create or write to it: ")


def test_the_timestamp_window_includes_both_days():
    args = cli.build_parser().parse_args(
        ["run", "--data-dir", "d", "--min-rating-date", "2000-01-01",
         "--max-rating-date", "2000-01-01"])
    assert common.timestamp_window(args) == {"min_timestamp": 946684800,
                                             "max_timestamp": 946684800 + 86399}
    default = cli.build_parser().parse_args(["run", "--data-dir", "d"])
    assert common.timestamp_window(default) == {"min_timestamp": 788918400,
                                                "max_timestamp": None}


def test_unknown_dataset_name_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--dataset", "ml-5"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'ml-5'" in capsys.readouterr().err


def test_every_command_parses_without_importing_tensorflow():
    code = ("import sys; from recsys import cli; p = cli.build_parser(); "
            "[p.parse_args([c, '--help']) for c in ()]; "
            "commands = p._subparsers._group_actions[0].choices; "
            "assert {'run', 'watch', 'compile', 'submit', 'query', 'serving-config', 'serve', "
            "'ui', 'benchmark', 'bench-scale', 'bench-serve', 'bench-warm-start', 'synth', "
            "'make-spans'} <= set(commands), commands; "
            "p.parse_args(['benchmark', '--data-dir', 'd', '--output', 'o.json']); "
            "p.parse_args(['benchmark', '--dataset', 'ml-100k', '--history-length', '50']); "
            "assert 'tensorflow' not in sys.modules, 'the parser imported tensorflow'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_directory_of_spans_needs_a_window(tmp_path, capsys):
    for number in (1, 2):
        (tmp_path / f"span-{number}").mkdir()
    status = cli.main(["run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path)])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        f"recsys: error: {tmp_path} holds spans (span-1, span-2): give --window N to train on "
        "the latest N (0: all)")


@pytest.mark.parametrize("args, message", [
    (["--models", "deep"], "--models: unknown model 'deep'"),
    (["--tune", "--tune-trials", "0"], "--tune-trials must be at least 1, got 0"),
    (["--protocols", "topk,u1"], "--protocols: u1; choose from topk, rating, coldstart"),
    (["--models", "mf", "--protocols", "coldstart"],
     "--models mf --protocols coldstart: no protocol run measures these models"),
])
def test_bad_benchmark_selections_are_one_line(tmp_path, capsys, args, message):
    status = cli.main(["benchmark", "--data-dir", str(tmp_path), "--output",
                       str(tmp_path / "out.json"), *args])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert error.startswith("recsys: error: ") and message in error and "\n" not in error
    assert not (tmp_path / "out.json").exists()
