"""`recsys`: the command line. One module per command group, each registering its commands on
the parser built here; what they share lives in `common`.

| group | commands |
| --- | --- |
| run | run (the pipeline on this machine) |
| watch | watch (a run for every new complete span) |
| deploy | compile, submit, query, serving-config (Vertex AI Pipelines, TF Serving) |
| serve | serve, ui (the REST service and its UI) |
| bench | benchmark, bench-scale, bench-serve |
| data | synth (MovieLens-shaped data), make-spans (a release cut into time-ordered spans) |
"""

from __future__ import annotations

import argparse

from recsys.cli import bench, common, data, deploy, run, serve, watch

GROUPS = (run, watch, deploy, serve, bench, data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsys", description="A TFX recommender pipeline for MovieLens.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("--verbose", action="store_true",
                         help="show TensorFlow's, TFX's and Beam's own output")
    for group in GROUPS:
        group.register(commands, verbose)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.quiet_tensorflow(args.verbose)  # before any command imports TensorFlow
    return common.run_handler(args)


