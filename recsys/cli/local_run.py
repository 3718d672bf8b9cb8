"""A pipeline run on this machine, shared by `recsys run`, `recsys watch` and the benchmark:
its flags and settings, the input check, the run with its progress, log and summary.

Nothing here imports TensorFlow at module level (see `recsys.cli.common`). It prints through
`common.console`, never a copy of it: `output_to_log` replaces that console while a run's
output goes to its log.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from pipeline.configs import PipelineSettings
from recsys.cli import common
from recsys.cli.common import (
    CliError,
    add_pipeline_arguments,
    native_output_silenced,
    new_log_path,
    output_to_log,
    pipeline_options,
    table,
)


def add_local_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What a run on this machine takes besides the pipeline's options (recsys run, watch)."""
    parser.add_argument("--output-dir", default="runs/local",
                        help="pipeline root, ML Metadata, pushed models, batch "
                             "recommendations, report and logs (default: %(default)s)")
    parser.add_argument("--push-to", metavar="gs://BUCKET/PREFIX|DIR",
                        help="where blessed models go, as PREFIX/<model>/<version>/ "
                             "(default: OUTPUT_DIR/serving)")
    parser.add_argument("--beam-workers", type=int, default=1,
                        help="local Beam worker processes (default: %(default)s)")
    add_pipeline_arguments(parser)


def local_settings(args: argparse.Namespace,
                   data_source: Callable[[], str]) -> PipelineSettings:
    """A local run's PipelineSettings from `add_local_run_arguments`' flags, every one
    checked before any work starts; `data_source` gives the data directory after the checks
    (it may download)."""
    options = pipeline_options(args)
    if args.beam_workers < 1:
        raise CliError("--beam-workers must be at least 1")
    data_dir = data_source()
    if options["window"] is None:
        with native_output_silenced(args.verbose):  # TensorFlow's start-up lines
            from components.movielens_example_gen import spans  # TensorFlow: after the checks
        found = spans.span_directories(data_dir)
        if found:
            raise CliError(f"{data_dir} holds spans ({', '.join(found[:3])}"
                           f"{', ...' if len(found) > 3 else ''}): give --window N to train "
                           "on the latest N (0: all)")
    output_dir = os.path.abspath(args.output_dir)
    serving_dir = push_destination(args.push_to, output_dir)
    writable_directory("--output-dir", output_dir)
    if serving_dir and not serving_dir.startswith("gs://"):
        writable_directory("--push-to", serving_dir)
    return PipelineSettings.local(
        data_dir, output_dir, serving_dir=serving_dir, beam_workers=args.beam_workers,
        **options)


def writable_directory(flag: str, path: str) -> None:
    """Creates `path` if needed and writes a file in it; CliError naming `flag` if it cannot."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise CliError(f"{flag} {path}: cannot create or write to it: "
                       f"{error.strerror or error}") from None


def push_destination(push_to: str | None, output_dir: str) -> str | None:
    """--push-to as the Pusher takes it (None: the default under the output directory)."""
    if not push_to:
        return None
    if "://" in push_to and not push_to.startswith("gs://"):
        raise CliError(f"--push-to: {push_to!r}: only gs:// URLs and local paths are supported")
    if push_to.startswith("gs://") and len(push_to.rstrip("/")) <= len("gs://"):
        raise CliError("--push-to: gs:// needs a bucket, e.g. gs://my-bucket/models")
    return push_to.rstrip("/") if push_to.startswith("gs://") else os.path.abspath(push_to)


def run_locally(settings: PipelineSettings, verbose: bool, command: str = "run") -> None:
    """One local run as `recsys run` shows it: progress, then each model's line, where its
    batch recommendations are, and the HTML report; its output in a new log unless
    `verbose`. Raises as `output_to_log` does."""
    log = None if verbose else new_log_path(settings.output_dir, command)
    started = time.monotonic()
    with output_to_log(log):
        if log:
            common.console.print(f"log: {log}", markup=False)
        check_input(settings)
        execute_pipeline(settings)
        common.console.print(f"pipeline finished in {time.monotonic() - started:.0f} s")
        print_summary(settings.metadata_path)
        from recsys.inspection import report  # TensorFlow, matplotlib: once the run is done

        path = report.write_report(settings.metadata_path,
                                   os.path.join(settings.output_dir, "report"),
                                   data_dir=settings.data_dir)
        common.console.print(f"report: {path}", markup=False)


def check_input(settings: PipelineSettings) -> None:
    """The input directory and every file the run reads, before any work (TFX's ExampleGen
    driver would otherwise fail on an unreadable file with a file-system error). A directory
    of spans is checked by the ExampleGen's driver, which picks the spans to read."""
    if settings.window is not None:
        return
    from components.movielens_example_gen import formats  # TensorFlow: inside the log

    files = tuple(filter(None, (settings.train_file, settings.eval_file)))
    formats.check_input(settings.data_dir, files)


def print_summary(metadata_path: str) -> None:
    """Each model's evaluation, verdict, push location and batch recommendations, what the
    ExampleGen set aside and the spans the run read, from ML Metadata."""
    from recsys.inspection import run_summary  # TensorFlow: once the run is done

    nodes = run_summary.latest_run(run_summary.open_store(metadata_path))
    spans = run_summary.window_spans(nodes)
    if spans:
        common.console.print(f"spans: {', '.join(map(str, spans))} (latest {spans[-1]})",
                      markup=False)
    for note in run_summary.data_notes(nodes):
        common.console.print(f"data: {note}", markup=False)
    results = run_summary.model_results(nodes)
    if not results:
        return
    verdict = {True: "yes", False: "NO", None: ""}
    rows = [(r.name, r.hit_rate, r.ndcg, r.popularity_hit_rate, r.rmse, verdict[r.blessed],
             verdict[r.serves], r.pushed_to or "-") for r in results]
    common.console.print()
    common.console.print(table(
        ("model", "HR@10", "NDCG@10", "popular HR@10", "RMSE", "blessed", "serves",
         "pushed to"), rows))
    for result in results:  # why a model was refused: the thresholds it failed
        if result.failed_checks:
            common.console.print(f"{result.name} not blessed: "
                          f"{'; '.join(c.describe() for c in result.failed_checks)}",
                          markup=False)
        if result.serves is False:  # one line: why a blessed model was not pushed
            common.console.print(f"{result.name}: not pushed, the infra check refused it: "
                          f"{result.infra_reason}", markup=False)
    written = [r for r in results if r.recommendations]
    if written:
        common.console.print("\nbatch recommendations (top 10 per user, similar movies per movie):")
        for r in written:
            common.console.print(f"  {r.name:<11} {r.recommendations.destination} "
                          f"({r.recommendations.users:,} users, "
                          f"{r.recommendations.movies:,} movies)", markup=False)
    evaluation = next((r.evaluation_uri for r in results if r.evaluation_uri), None)
    if evaluation:
        common.console.print(
            f"\nTFMA results: {os.path.dirname(evaluation)}/<id>; Trainer metrics: "
            "pipeline_root/Trainer.<model>/model_run/<id>/metrics.json", markup=False)


def execute_pipeline(settings: Any) -> None:
    """Runs a local pipeline (PipelineSettings.local), printing each node's state as ML
    Metadata records it."""
    # Imported here, not at the top: TensorFlow and TFX load only once the arguments are checked
    # (`recsys --help` and argument errors stay instant).
    from pipeline import local_runner
    from recsys.inspection import progress

    def show(update: progress.NodeUpdate) -> None:
        seconds = "" if update.seconds is None else f" ({update.seconds:.0f} s)"
        common.console.print(f"  {update.node:<32} {update.state}{seconds}", markup=False)

    with progress.watch_run(settings.metadata_path, show):
        local_runner.run(settings)
