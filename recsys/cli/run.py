"""`recsys run`: the pipeline on this machine (LocalDagRunner, Beam DirectRunner, SQLite ML
Metadata), its progress read from ML Metadata, then a summary and the HTML report."""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from pipeline.configs import PipelineSettings
from recsys.cli import common
from recsys.cli.common import CliError
from recsys.data import datasets


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", parents=[parent],
                              help="run the pipeline on this machine (LocalDagRunner)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir", help="directory with raw MovieLens files")
    source.add_argument("--dataset", choices=datasets.DATASETS,
                        help="download this GroupLens release into the cache")
    run.add_argument("--output-dir", default="runs/local",
                     help="pipeline root, ML Metadata, pushed models, report and logs "
                          "(default: %(default)s)")
    run.add_argument("--push-to", metavar="gs://BUCKET/PREFIX|DIR",
                     help="where blessed models go, as PREFIX/<model>/<version>/ "
                          "(default: OUTPUT_DIR/serving)")
    run.add_argument("--beam-workers", type=int, default=1,
                     help="local Beam worker processes (default: %(default)s)")
    common.add_pipeline_arguments(run)
    run.set_defaults(handler=_run)


def settings(args: argparse.Namespace) -> PipelineSettings:
    """The run's PipelineSettings, every flag checked before any work starts; the output
    directory (and a local --push-to) created and tested for writing."""
    options = common.pipeline_options(args)
    if args.beam_workers < 1:
        raise CliError("--beam-workers must be at least 1")
    output_dir = os.path.abspath(args.output_dir)
    serving_dir = push_destination(args.push_to, output_dir)
    writable_directory("--output-dir", output_dir)
    if serving_dir and not serving_dir.startswith("gs://"):
        writable_directory("--push-to", serving_dir)
    data_dir = args.data_dir or str(datasets.fetch(args.dataset))
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


def _run(args: argparse.Namespace) -> int:
    run_settings = settings(args)
    log = None if args.verbose else common.new_log_path(run_settings.output_dir, "run")
    started = time.monotonic()
    with common.output_to_log(log):
        if log:
            common.console.print(f"log: {log}", markup=False)
        check_input(run_settings)
        common.execute_pipeline(run_settings)
        common.console.print(f"pipeline finished in {time.monotonic() - started:.0f} s")
        print_summary(run_settings.metadata_path)
        from recsys.inspection import report  # TensorFlow, matplotlib: once the run is done

        path = report.write_report(run_settings.metadata_path,
                                   os.path.join(run_settings.output_dir, "report"),
                                   data_dir=run_settings.data_dir)
        common.console.print(f"report: {path}", markup=False)
    return 0


def check_input(run_settings: PipelineSettings) -> None:
    """The input directory and every file the run reads, before any work (TFX's ExampleGen
    driver would otherwise fail on an unreadable file with a file-system error)."""
    from components.movielens_example_gen import formats  # TensorFlow: inside the log

    files = tuple(filter(None, (run_settings.train_file, run_settings.eval_file)))
    formats.check_input(run_settings.data_dir, files)


def print_summary(metadata_path: str) -> None:
    """Each model's evaluation, verdict and push location, read back from ML Metadata."""
    from recsys.inspection import run_summary  # TensorFlow: once the run is done

    nodes = run_summary.latest_run(run_summary.open_store(metadata_path))
    for note in run_summary.data_notes(nodes):
        common.console.print(f"data: {note}", markup=False)
    results = run_summary.model_results(nodes)
    if not results:
        return
    verdict = {True: "yes", False: "NO", None: ""}
    rows = [(r.name, r.hit_rate, r.ndcg, r.popularity_hit_rate, r.rmse, verdict[r.blessed],
             verdict[r.serves], r.pushed_to or "-") for r in results]
    common.console.print()
    common.console.print(common.table(
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
    evaluation = next((r.evaluation_uri for r in results if r.evaluation_uri), None)
    if evaluation:
        common.console.print(
            f"\nTFMA results: {os.path.dirname(evaluation)}/<id>; Trainer metrics: "
            "pipeline_root/Trainer.<model>/model_run/<id>/metrics.json", markup=False)
