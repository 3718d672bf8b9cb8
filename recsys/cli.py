"""`recsys`: the command line. `recsys run` runs the TFX pipeline on this machine."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time

# TensorFlow Recommenders needs Keras 2; this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from recsys import (  # noqa: E402
    benchmark_cli,
    datasets,
    deploy_cli,
    protocols,
    scale_cli,
    serve_cli,  # noqa: E402
)

# trainer.models.registry.MODEL_NAMES, spelled here so that parsing arguments needs no
# TensorFlow import (tests/test_cli.py checks they agree).
MODEL_NAMES = ("mf", "retrieval", "ranking", "hybrid", "sequential")
# Errors raised inside Beam workers reach us wrapped in a RuntimeError whose text holds the
# original "InputDataError: FILE:LINE: problem [while running 'Step']".
_INPUT_ERROR = re.compile(
    r"(?:InputDataError|DataValidationError): (?P<message>.+?)(?: \[while running .*)?$", re.M)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CliError as error:
        print(f"recsys: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - turn known input errors into one line
        message = input_error_message(error)
        if message is None:
            raise
        print(f"recsys: error: {message}", file=sys.stderr)
        return 2


def input_error_message(error: BaseException) -> str | None:
    """The located input problem inside `error` (or its causes), or None."""
    from components.data_gate.errors import DataValidationError
    from components.movielens_example_gen.formats import InputDataError

    seen = error
    while seen is not None:
        if isinstance(seen, InputDataError | DataValidationError | datasets.DownloadError):
            return str(seen)
        match = _INPUT_ERROR.search(str(seen))
        if match:
            return match.group("message")
        seen = seen.__cause__ or seen.__context__
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the pipeline locally (LocalDagRunner)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir", help="directory with raw MovieLens files")
    source.add_argument("--dataset", choices=datasets.DATASETS,
                        help="download this GroupLens release into the cache")
    run.add_argument("--output-dir", default="runs/local",
                     help="pipeline root, ML Metadata and pushed models (default: %(default)s)")
    run.add_argument("--push-to", metavar="gs://BUCKET/PREFIX|DIR",
                     help="where blessed models go, as PREFIX/<model>/<version>/ "
                          "(default: OUTPUT_DIR/serving)")
    run.add_argument("--models", default=",".join(MODEL_NAMES),
                     help="comma-separated models to train (default: all five)")
    run.add_argument("--protocol", choices=[p.value for p in protocols.Protocol],
                     default=protocols.Protocol.TOPK.value,
                     help="train/eval split: leave-last-out (topk), seeded random 80/20 "
                          "(rating) or given files (presplit)")
    run.add_argument("--train-file", help="with --protocol presplit, e.g. u1.base")
    run.add_argument("--eval-file", help="with --protocol presplit, e.g. u1.test")
    run.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                     help="override a hyper-parameter, e.g. mf.epochs=10 (repeatable)")
    run.add_argument("--min-hit-rate", action="append", default=[], metavar="MODEL=VALUE",
                     help="gate MODEL on a fixed Hit-Rate@10 instead of beating the popularity "
                          "baseline measured in the same run (repeatable)")
    run.add_argument("--beam-workers", type=int, default=1,
                     help="local Beam worker processes (default: %(default)s)")
    run.add_argument("--quarantine-bad-rows", action="store_true",
                     help="set bad input rows aside (with file, line and reason, in the "
                          "examples' quarantine/rows.jsonl) instead of stopping the run")
    run.add_argument("--max-bad-row-fraction", type=float, default=0.01,
                     help="with --quarantine-bad-rows, fail above this fraction of bad rows "
                          "(default: %(default)s)")
    run.add_argument("--drift-threshold", type=float,
                     help="fail when a feature's distance to the previous run's statistics "
                          "exceeds this (0..1; default: per feature, schema/schema.pbtxt)")
    run.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
    run.set_defaults(handler=_run)
    deploy_cli.register(commands)
    serve_cli.register(commands)
    benchmark_cli.register(commands)
    scale_cli.register(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    settings, metadata_path = _settings(args)
    from pipeline import local_runner  # imports TensorFlow: after argument checks

    _show_progress(args.verbose)
    started = time.monotonic()
    local_runner.run(settings, metadata_path)
    print(f"pipeline finished in {time.monotonic() - started:.0f} s")
    _print_summary(metadata_path)
    from recsys import report  # TensorFlow and matplotlib: only once the run is done

    path = report.write_report(metadata_path, os.path.join(os.path.dirname(metadata_path),
                                                           "report"), data_dir=settings.data_dir)
    print(f"report: {path}")
    return 0


def _settings(args: argparse.Namespace):
    from pipeline import configs
    from trainer.config import config_with_overrides, parse_hparam_flags

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = sorted(set(models) - set(MODEL_NAMES))
    if unknown or not models:
        raise CliError(f"--models: unknown {unknown or 'empty list'}; choose from "
                       f"{', '.join(MODEL_NAMES)}")
    if args.beam_workers < 1:
        raise CliError("--beam-workers must be at least 1")
    for flag, value in (("--max-bad-row-fraction", args.max_bad_row_fraction),
                        ("--drift-threshold", args.drift_threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise CliError(f"{flag} must be between 0 and 1, got {value}")
    try:
        hparams = parse_hparam_flags(args.hparam)
        for name, overrides in hparams.items():
            config_with_overrides(name, overrides)  # validate now, not in the Trainer
    except ValueError as error:
        raise CliError(f"--hparam: {error}") from None
    gates = _gates(args.min_hit_rate, models)
    presplit = args.protocol == protocols.Protocol.PRESPLIT.value
    if presplit != bool(args.train_file and args.eval_file):
        raise CliError("--train-file and --eval-file go together with --protocol presplit")
    data_dir = args.data_dir or str(datasets.fetch(args.dataset))
    output_dir = os.path.abspath(args.output_dir)
    beam_args = configs.local_beam_args(args.beam_workers) if args.beam_workers > 1 else ()
    settings = configs.PipelineSettings(
        data_dir=os.path.abspath(data_dir),
        pipeline_root=os.path.join(output_dir, configs.PIPELINE_ROOT_DIR),
        serving_dir=_push_destination(args.push_to, output_dir),
        models=models, protocol=args.protocol, train_file=args.train_file,
        eval_file=args.eval_file, hparams=hparams, gates=gates, beam_args=beam_args,
        quarantine_bad_rows=args.quarantine_bad_rows,
        max_bad_row_fraction=args.max_bad_row_fraction, drift_threshold=args.drift_threshold)
    return settings, os.path.join(output_dir, configs.METADATA_FILE)


def _push_destination(push_to: str | None, output_dir: str) -> str:
    from pipeline.configs import SERVING_DIR

    if not push_to:
        return os.path.join(output_dir, SERVING_DIR)
    if "://" in push_to and not push_to.startswith("gs://"):
        raise CliError(f"--push-to: {push_to!r}: only gs:// URLs and local paths are supported")
    if push_to.startswith("gs://") and len(push_to.rstrip("/")) <= len("gs://"):
        raise CliError("--push-to: gs:// needs a bucket, e.g. gs://my-bucket/models")
    return push_to.rstrip("/") if push_to.startswith("gs://") else os.path.abspath(push_to)


def _gates(flags: list[str], models: tuple[str, ...]) -> dict:
    """The default gates with `--min-hit-rate MODEL=VALUE` overrides applied."""
    import dataclasses

    from pipeline.configs import DEFAULT_GATES

    gates = dict(DEFAULT_GATES)
    for flag in flags:
        model, _, text = flag.partition("=")
        if model not in models:
            raise CliError(f"--min-hit-rate: {model!r} is not one of the models run "
                           f"({', '.join(models)})")
        try:
            value = float(text)
        except ValueError:
            raise CliError(f"--min-hit-rate: {text!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise CliError(f"--min-hit-rate: {value} is outside 0..1")
        gates[model] = dataclasses.replace(gates[model], min_hit_rate=value,
                                           beat_popularity=False)
    return gates


class _ProgressHandler(logging.Handler):
    """Turns the runner's per-component log lines into short progress lines on stdout."""

    _RUNNING = re.compile(r"Component (\S+) is running")
    _FINISHED = re.compile(r"Component (\S+) is finished")
    _CACHED = "A cached execution"

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._started: dict[str, float] = {}
        self._cached = False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := self._RUNNING.search(message):
            self._started[match.group(1)], self._cached = time.monotonic(), False
            print(f"  {match.group(1):<28} running", flush=True)
        elif message.startswith(self._CACHED):
            self._cached = True
        elif match := self._FINISHED.search(message):
            node = match.group(1)
            seconds = time.monotonic() - self._started.get(node, time.monotonic())
            state = "cached" if self._cached else "done"
            print(f"  {node:<28} {state} ({seconds:.0f} s)", flush=True)
        elif record.levelno == logging.WARNING and not message.startswith(_KNOWN_WARNINGS):
            print(f"  warning: {message.splitlines()[0]}", file=sys.stderr, flush=True)


# Harmless: ML Metadata 1.17 under TFX 1.21 (the newest MLMD with Linux wheels).
_KNOWN_WARNINGS = (
    "ArtifactQuery.property_predicate is not supported",
    "Examples artifact does not have payload_format",  # Transform output; TF Example assumed
    "Tables initialized inside a tf.function",  # TFT's vocabulary lookups, by design
)


def _show_progress(verbose: bool) -> None:
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    absl = logging.getLogger("absl")
    for handler in [h for h in absl.handlers if isinstance(h, _ProgressHandler)]:
        absl.removeHandler(handler)  # a second main() in one process: one handler only
    absl.addHandler(_ProgressHandler())
    if not verbose:
        absl.propagate = False
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _print_summary(metadata_path: str) -> None:
    from recsys import run_summary

    results = run_summary.latest_run(run_summary.open_store(metadata_path))
    print("\ncomponent states (ML Metadata):")
    for result in results:
        print(f"  {result.node:<30} {result.state}")
    by_node = {result.node: result for result in results}
    print(f"\n  {'model':<11} {'HR@10':>7} {'NDCG@10':>8} {'popular':>8} {'RMSE':>7}  "
          "blessed  pushed to")
    for node, result in by_node.items():
        if node.startswith("Evaluator."):
            name = node.split(".", 1)[1]
            metrics = run_summary.evaluation_metrics(result)
            mse = metrics.get("mean_squared_error")
            pusher = by_node.get(f"Pusher.{name}")
            where = pusher and run_summary.pushed_destination(pusher)
            print(f"  {name:<11} {metrics.get('hit_rate_at_10', float('nan')):>7.4f} "
                  f"{metrics.get('ndcg_at_10', float('nan')):>8.4f} "
                  f"{metrics.get('popularity_hit_rate_at_10', float('nan')):>8.4f} "
                  f"{mse ** 0.5 if mse is not None else float('nan'):>7.4f}  "
                  f"{'yes' if run_summary.blessed(result) else 'NO':<7}  {where or '-'}")
            for artifact in result.outputs.get("evaluation", []):
                evaluation_dir = artifact.uri
    if by_node:
        print(f"\nTFMA results: {os.path.dirname(evaluation_dir)}/<id>; "
              "Trainer metrics: pipeline_root/Trainer.<model>/model_run/<id>/metrics.json")


if __name__ == "__main__":
    sys.exit(main())
