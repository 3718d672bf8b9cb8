"""What every command group shares: one-line errors, quiet TensorFlow, the pipeline's options,
the console and its tables (a run on this machine: `recsys.cli.local_run`).

Command modules import this module, `local_run` and the layers below the CLI, never one
another.
Nothing here imports TensorFlow: `recsys --help` and argument errors stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from components.data_gate.errors import DataValidationError
from components.movielens_example_gen import rules
from components.movielens_example_gen.errors import InputDataError
from contract import catalogue, splits
from contract.features import DEFAULT_HISTORY_LENGTH
from contract.gates import DEFAULT_LATENCY_BUDGET_MS, DEFAULT_MIN_EVAL_EXAMPLES, Gate
from recsys.data import datasets
from recsys.data.datasets import DownloadError
from recsys.data.synth import SynthError
from recsys.serving.client import ServingError
from recsys.serving.registry import SetupError
from trainer.config import config_with_overrides, parse_hparam_flags
from trainer.errors import TrainingDiverged

EXIT_USAGE = 2  # a problem the user can fix: bad input, arguments or environment
LOG_DIR = "logs"
# Errors raised inside Beam workers reach us wrapped (RuntimeError and the like) whose text
# holds the original "InputDataError: FILE:LINE: problem [while running 'Step']".
_WRAPPED_ERROR = re.compile(
    r"(?:InputDataError|DataValidationError|TrainingDiverged): (?P<message>.+?)"
    r"(?: \[while running .*)?$", re.M)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


class LoggedFailure(Exception):
    """A command failed while its output went to `log_path`, where its traceback is."""

    def __init__(self, log_path: Path) -> None:
        super().__init__(f"see {log_path}")
        self.log_path = log_path


def _terminal(stream: TextIO | None = None, stderr: bool = False) -> Console:
    """A console on `stream` (None: sys.stdout or sys.stderr as they are at each write). Lines
    are never wrapped; off a terminal (logs, CI, pipes) tables get 160 columns, not 80."""
    shown = stream or (sys.stderr if stderr else sys.stdout)
    interactive = shown.isatty() if hasattr(shown, "isatty") else False
    return Console(file=stream, stderr=stderr, width=None if interactive else 160,
                   highlight=False, soft_wrap=True)


# What the user reads. While a run's output goes to its log file these point at the terminal.
console = _terminal()
error_console = _terminal(stderr=True)


def print_error(message: str) -> None:
    error_console.print(f"recsys: error: {message}", markup=False)


# -- errors ------------------------------------------------------------------------------------
# Exception types whose message is meant for the user as it stands.
USER_ERRORS = (CliError, catalogue.UnknownModel, InputDataError, DataValidationError,
               DownloadError, SynthError, ServingError, SetupError, TrainingDiverged)


def user_error_message(error: BaseException) -> str | None:
    """The message of the user error inside `error` (or its causes), or None."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, USER_ERRORS):
            return str(seen)
        match = _WRAPPED_ERROR.search(str(seen))
        if match:
            return match.group("message")
        seen = seen.__cause__ or seen.__context__
    return None


def run_handler(args: argparse.Namespace) -> int:
    """Runs the command. A user error is one line on stderr and exit status 2, and so is an
    environment error (OSError) met before the command's log exists; any other failure of a
    command that logs is one line naming its log (exit status 1), else raised."""
    try:
        return args.handler(args)
    except Exception as error:  # noqa: BLE001 - failures become one line
        return report_failure(error)


def report_failure(error: Exception) -> int:
    """Prints `error` as run_handler does and returns the exit status; raises it again when it
    is neither a user error nor a failure whose traceback went to a log."""
    log = error.log_path if isinstance(error, LoggedFailure) else None
    message = user_error_message(error)
    status = EXIT_USAGE
    if message is None and log is None and isinstance(error, OSError):
        message = os_error_message(error)
    if message is None:
        if log is None:
            raise error
        cause = error.__cause__ or error
        message, status = f"{type(cause).__name__}: {cause}".splitlines()[0], 1
    print_error(message if log is None else f"{message} (log: {log})")
    return status


def os_error_message(error: OSError) -> str:
    """'PATH: reason' of an OSError (the path it names, if any)."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


# -- TensorFlow's start-up noise -----------------------------------------------------------------
def quiet_tensorflow(verbose: bool) -> None:
    """Environment for TensorFlow, set before anything imports it.

    TensorFlow Recommenders needs Keras 2. Without `verbose`, TensorFlow's Python logs are
    kept to errors; its C++ start-up lines (oneDNN, CUDA) ignore that setting and are sent to
    the run's log file by `output_to_log`.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def output_to_log(log_path: Path | None) -> Iterator[None]:
    """Sends everything written to file descriptors 1 and 2 (TensorFlow's C++ logs, Beam's
    and Keras's output, Python logging, child processes) to `log_path`, while `console` and
    `error_console` keep writing to the terminal. A failure's traceback goes to the log too,
    and the error is re-raised as LoggedFailure. None: no redirection (--verbose)."""
    if log_path is None:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _redirected(str(log_path)):
        try:
            yield
        except Exception as error:
            sys.stderr.flush()
            with open(log_path, "a") as handle:
                handle.write(traceback.format_exc())
            raise LoggedFailure(log_path) from error


@contextlib.contextmanager
def native_output_silenced(verbose: bool) -> Iterator[None]:
    """File descriptors 1 and 2 to /dev/null inside the block (TensorFlow's start-up lines
    while a model loads), unless `verbose`; `console` and `error_console` still print."""
    if verbose:
        yield
        return
    with _redirected(os.devnull):
        yield


@contextlib.contextmanager
def _redirected(target: str) -> Iterator[None]:
    global console, error_console
    previous = console, error_console
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal_out, terminal_err = (os.fdopen(os.dup(saved[fd]), "w", buffering=1)
                                  for fd in (1, 2))
    if _is_fd(sys.stdout, 1):
        console = _terminal(terminal_out)
    if _is_fd(sys.stderr, 2):
        error_console = _terminal(terminal_err)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(target, "ab") as sink:
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        terminal_out.close()
        terminal_err.close()
        console, error_console = previous


def _is_fd(stream: TextIO, fd: int) -> bool:
    """Whether `stream` writes to file descriptor `fd` (not so under pytest's capsys)."""
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def new_log_path(output_dir: str, command: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(output_dir) / LOG_DIR / f"{command}-{stamp}.log"


# -- the pipeline's options ----------------------------------------------------------------------
DEFAULT_TUNE_TRIALS = 10
MAX_HISTORY_LENGTH = 1000  # far beyond any useful history; keeps a typo from exhausting memory


def add_data_source_arguments(parser: argparse.ArgumentParser,
                              data_dir_help: str = "directory with raw MovieLens files") -> None:
    """--data-dir or --dataset, one of them required (`data_dir` resolves them)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir", help=data_dir_help)
    source.add_argument("--dataset", choices=datasets.DATASETS,
                        help="download this GroupLens release into the cache")


def data_dir(args: argparse.Namespace) -> str:
    """The raw data's directory: --data-dir, or --dataset downloaded (MD5 checked) into the
    cache on first use."""
    return args.data_dir or str(datasets.fetch(args.dataset))


def add_history_length_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history-length", type=int, default=DEFAULT_HISTORY_LENGTH,
                        help="previous movies each example carries: the history the "
                             "sequence-aware models read (default: %(default)s)")


def history_length(args: argparse.Namespace) -> int:
    if not 1 <= args.history_length <= MAX_HISTORY_LENGTH:
        raise CliError(f"--history-length must be between 1 and {MAX_HISTORY_LENGTH}, got "
                       f"{args.history_length}")
    return args.history_length


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--models and --hparam."""
    parser.add_argument("--models", default=",".join(catalogue.MODEL_NAMES),
                        help=f"comma-separated models to train (default: all: "
                             f"{', '.join(catalogue.MODEL_NAMES)})")
    parser.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="override a hyper-parameter, e.g. ranking.epochs=10 (repeatable)")


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """--tune and --tune-trials (read back by `tune_trials`)."""
    parser.add_argument("--tune", action="store_true",
                        help="tune each model's hyper-parameters first (TFX Tuner, KerasTuner "
                             "Bayesian search fitting the train split, scored on the "
                             "validation split); --hparam values stay fixed")
    parser.add_argument("--tune-trials", type=int, default=DEFAULT_TUNE_TRIALS,
                        help="with --tune, trials per model (default: %(default)s)")


def tune_trials(args: argparse.Namespace) -> int:
    """Trials per model, checked; 0 without --tune."""
    if args.tune_trials < 1:
        raise CliError(f"--tune-trials must be at least 1, got {args.tune_trials}")
    return args.tune_trials if args.tune else 0


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that shape what a pipeline run does, shared by every command that builds one:
    models, protocol, hyper-parameters, gates and the data gate."""
    add_model_arguments(parser)
    parser.add_argument("--protocol", choices=[p.value for p in splits.Protocol],
                        default=splits.Protocol.TOPK.value,
                        help="train/eval split: leave-last-out (topk), seeded random 80/20 "
                             "(rating), given files (presplit), or held-out new users and "
                             "the latest new movies (coldstart)")
    parser.add_argument("--train-file", help="with --protocol presplit, e.g. u1.base")
    parser.add_argument("--eval-file", help="with --protocol presplit, e.g. u1.test")
    parser.add_argument("--min-hit-rate", action="append", default=[], metavar="MODEL=VALUE",
                        help="gate MODEL on a fixed Hit-Rate@10 instead of beating the "
                             "popularity baseline measured in the same run (repeatable)")
    parser.add_argument("--quarantine-bad-rows", action="store_true",
                        help="set bad input rows aside (with file, line and reason, in the "
                             "examples' quarantine/rows.jsonl) instead of stopping the run")
    parser.add_argument("--max-bad-row-fraction", type=float, default=0.01,
                        help="with --quarantine-bad-rows, fail above this fraction of bad rows "
                             "(default: %(default)s)")
    parser.add_argument("--drift-threshold", type=float,
                        help="fail when a feature's distance to the previous run's statistics "
                             "exceeds this (0..1; default: per feature, schema/schema.pbtxt)")
    add_tuning_arguments(parser)
    add_history_length_argument(parser)
    parser.add_argument("--duplicate-ratings", default=rules.DuplicatePolicy.KEEP_LATEST.value,
                        choices=[policy.value for policy in rules.DuplicatePolicy],
                        help="a user's repeated rating of a movie: keep the latest and count "
                             "the others, or stop the run (default: %(default)s)")
    parser.add_argument("--min-rating-date", metavar="YYYY-MM-DD",
                        default=rules.utc_date(rules.EARLIEST_TIMESTAMP),
                        help="reject ratings before this day, UTC (default: %(default)s)")
    parser.add_argument("--max-rating-date", metavar="YYYY-MM-DD",
                        help="reject ratings after this day, UTC (default: one day after the "
                             "run starts)")
    parser.add_argument("--min-eval-examples", type=int, default=DEFAULT_MIN_EVAL_EXAMPLES,
                        metavar="N",
                        help="bless no model evaluated on fewer examples (protocol topk: "
                             "users) than this (default: %(default)s)")
    parser.add_argument("--latency-budget-ms", type=float, default=DEFAULT_LATENCY_BUDGET_MS,
                        help="the infra check refuses to push a model whose median latency on "
                             "any warm-up request, served as TF Serving serves it, exceeds "
                             "this (default: %(default)s)")
    spans = parser.add_argument_group(
        "spans", "the data directory holds span-<N>/ directories, each complete once its "
                 "_SUCCESS marker is written (docs/operating.md)")
    spans.add_argument("--window", type=int, metavar="N",
                       help="train on the latest N spans (0: every span); the data directory "
                            "must hold spans")
    spans.add_argument("--span", type=int, metavar="N",
                       help="with --window: end the window at span N (default: the latest "
                            "complete span)")
    spans.add_argument("--warm-start", action=argparse.BooleanOptionalAction,
                       help="start each model from the last blessed model of its name, "
                            "training a share of its epochs (default: on with --window)")


def model_names(text: str) -> tuple[str, ...]:
    try:
        return catalogue.parse_names(text)
    except catalogue.UnknownModel as error:
        raise CliError(f"--models: {error}") from None


def hyper_parameters(flags: Sequence[str]) -> dict[str, dict[str, str]]:
    """--hparam flags per model, each checked against the model's config class now (not hours
    later in its Trainer)."""
    try:
        hparams = parse_hparam_flags(flags)
        for name, overrides in hparams.items():
            config_with_overrides(name, overrides)
    except ValueError as error:
        raise CliError(f"--hparam: {error}") from None
    return hparams


def gates(flags: Sequence[str], models: tuple[str, ...]) -> dict[str, Gate]:
    """The catalogue's gates with `--min-hit-rate MODEL=VALUE` overrides applied."""
    chosen = catalogue.default_gates()
    for flag in flags:
        model, _, text = flag.partition("=")
        if model not in models:
            raise CliError(f"--min-hit-rate: {model!r} is not one of the models run "
                           f"({', '.join(models)})")
        try:
            value = float(text)
        except ValueError:
            raise CliError(f"--min-hit-rate: {text!r} is not a number") from None
        if not 0.0 < value <= 1.0:
            raise CliError(f"--min-hit-rate: {value} is outside (0, 1]: a floor of 0 would "
                           "bless a model that never hits")
        chosen[model] = chosen[model].with_min_hit_rate(value)
    return chosen


def pipeline_options(args: argparse.Namespace) -> dict[str, Any]:
    """The PipelineSettings fields `add_pipeline_arguments` sets, checked."""
    models = model_names(args.models)
    for flag, value in (("--max-bad-row-fraction", args.max_bad_row_fraction),
                        ("--drift-threshold", args.drift_threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise CliError(f"{flag} must be between 0 and 1, got {value}")
    trials = tune_trials(args)
    if args.min_eval_examples < 1:
        raise CliError(f"--min-eval-examples must be at least 1, got {args.min_eval_examples}")
    if args.latency_budget_ms <= 0:
        raise CliError(f"--latency-budget-ms must be positive, got {args.latency_budget_ms}")
    presplit = args.protocol == splits.Protocol.PRESPLIT.value
    if presplit != bool(args.train_file and args.eval_file):
        raise CliError("--train-file and --eval-file go together with --protocol presplit")
    if presplit and os.path.normpath(args.train_file) == os.path.normpath(args.eval_file):
        raise CliError(f"--train-file and --eval-file are the same file ({args.eval_file}); "
                       "the eval file must hold other ratings")
    chosen_gates = {name: gate.with_min_eval_examples(args.min_eval_examples)
                    for name, gate in gates(args.min_hit_rate, models).items()}
    if args.window is not None:
        if args.window < 0:
            raise CliError(f"--window must be 0 (every span) or more, got {args.window}")
        if presplit:
            raise CliError("--protocol presplit reads two given files: it does not apply to "
                           "spans (--window)")
    if args.span is not None and args.window is None:
        raise CliError("--span needs --window: only a directory of spans has span numbers")
    warm_start = args.warm_start if args.warm_start is not None else args.window is not None
    return {"models": models, "protocol": args.protocol, "train_file": args.train_file,
            "eval_file": args.eval_file, "hparams": hyper_parameters(args.hparam),
            "gates": chosen_gates,
            "quarantine_bad_rows": args.quarantine_bad_rows,
            "max_bad_row_fraction": args.max_bad_row_fraction,
            "drift_threshold": args.drift_threshold,
            "tune_trials": trials,
            "history_length": history_length(args),
            "duplicate_ratings": args.duplicate_ratings, **timestamp_window(args),
            "latency_budget_ms": args.latency_budget_ms,
            "window": args.window, "span": args.span, "warm_start": warm_start}


def timestamp_window(args: argparse.Namespace) -> dict[str, int | None]:
    """--min-rating-date and --max-rating-date as PipelineSettings' min_timestamp and
    max_timestamp: seconds since the epoch, both days included (None: the default)."""
    window: dict[str, int | None] = {}
    for flag, key, text, day_part in (
            ("--min-rating-date", "min_timestamp", args.min_rating_date, 0),
            ("--max-rating-date", "max_timestamp", args.max_rating_date, 24 * 3600 - 1)):
        try:
            window[key] = None if text is None else rules.parse_utc_date(text) + day_part
        except ValueError:
            raise CliError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None
    if window["max_timestamp"] is not None and window["max_timestamp"] < window["min_timestamp"]:
        raise CliError(f"--max-rating-date {args.max_rating_date} is before --min-rating-date "
                       f"{args.min_rating_date}")
    return window


def add_service_arguments(command: argparse.ArgumentParser) -> None:
    """What every command that starts the REST service needs: the models and the raw data."""
    command.add_argument("--models-dir", required=True,
                         help="pushed models, TF Serving layout: DIR/<model>/<version>/ "
                              "(the run's <output-dir>/serving)")
    command.add_argument("--data-dir", required=True,
                         help="the raw MovieLens files the models were trained on: titles, "
                              "genres and users' ratings come from here")


# -- tables --------------------------------------------------------------------------------------
def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          ) -> Table:
    """A rich table; None cells are blank, floats get 4 decimals, numbers align right."""
    grid = Table(title=title, title_justify="left", box=None, pad_edge=False)
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows)
               for i in range(len(columns))]
    for column, is_number in zip(columns, numeric, strict=True):
        grid.add_column(column, justify="right" if is_number else "left", overflow="fold")
    for row in rows:
        grid.add_row(*(_cell(value) for value in row))
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
