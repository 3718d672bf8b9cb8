"""`recsys run`: the pipeline on this machine (LocalDagRunner, Beam DirectRunner, SQLite ML
Metadata), its progress read from ML Metadata, then a summary and the HTML report."""

from __future__ import annotations

import argparse

from recsys.cli import common
from recsys.data import datasets


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", parents=[parent],
                              help="run the pipeline on this machine (LocalDagRunner)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir", help="directory with raw MovieLens files, or of spans")
    source.add_argument("--dataset", choices=datasets.DATASETS,
                        help="download this GroupLens release into the cache")
    common.add_local_run_arguments(run)
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    def data_dir() -> str:
        return args.data_dir or str(datasets.fetch(args.dataset))

    common.run_locally(common.local_settings(args, data_dir), args.verbose)
    return 0
