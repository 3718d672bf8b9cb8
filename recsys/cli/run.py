"""`recsys run`: the pipeline on this machine (LocalDagRunner, Beam DirectRunner, SQLite ML
Metadata), its progress read from ML Metadata, then a summary and the HTML report."""

from __future__ import annotations

import argparse

from recsys.cli import common, local_run


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", parents=[parent],
                              help="run the pipeline on this machine (LocalDagRunner)")
    common.add_data_source_arguments(
        run, data_dir_help="directory with raw MovieLens files, or of spans")
    local_run.add_local_run_arguments(run)
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = local_run.local_settings(args, lambda: common.data_dir(args))
    local_run.run_locally(settings, args.verbose)
    return 0
