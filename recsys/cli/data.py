"""`recsys synth`: a synthetic MovieLens-shaped dataset of any size; `recsys make-spans`: a
release cut into time-ordered spans, the layout `recsys run --window` and `recsys watch` read.

    recsys synth --users 162541 --movies 62423 --ratings 25000000 --output-dir data/synth-25m
    recsys make-spans --data-dir ../shared/data/ml-100k --spans 4 --output-dir data/spans
"""

from __future__ import annotations

import argparse
import time

from recsys.cli import common
from recsys.cli.common import CliError
from recsys.data import synth


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    synth = commands.add_parser(
        "synth", parents=[parent],
        help="write a synthetic MovieLens dataset (ml-latest layout: ratings.csv, movies.csv) "
             "with realistic skew, streaming")
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--movies", type=int, required=True)
    synth.add_argument("--ratings", type=int, required=True)
    synth.add_argument("--output-dir", required=True, help="created if missing")
    synth.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    synth.add_argument("--min-ratings-per-user", type=int, default=5,
                       help="default: %(default)s")
    synth.set_defaults(handler=_synth)
    make_spans = commands.add_parser(
        "make-spans", parents=[parent],
        help="cut a MovieLens release into time-ordered spans (span-<N>/ with _SUCCESS)")
    make_spans.add_argument("--data-dir", required=True, help="a MovieLens release")
    make_spans.add_argument("--spans", type=int, required=True,
                            help="how many spans, each an equal share of the ratings")
    make_spans.add_argument("--output-dir", required=True, help="created if missing")
    make_spans.add_argument("--first", type=int, default=1,
                            help="number of the first span (default: %(default)s)")
    make_spans.set_defaults(handler=_make_spans)


def _synth(args: argparse.Namespace) -> int:
    started = time.monotonic()
    summary = synth.write_dataset(args.output_dir, args.users, args.movies, args.ratings,
                                  args.seed, args.min_ratings_per_user)
    common.console.print(
        f"wrote {summary.ratings:,} ratings of {summary.users:,} users on "
        f"{summary.rated_movies:,} of {summary.movies:,} movies to {summary.directory} "
        f"in {time.monotonic() - started:.1f} s", markup=False)
    return 0


def _make_spans(args: argparse.Namespace) -> int:
    if args.spans < 1 or args.first < 0:
        raise CliError("--spans must be at least 1 and --first at least 0")
    with common.native_output_silenced(args.verbose):  # TensorFlow's start-up lines
        from recsys.data import span_split  # the ExampleGen's readers: after the checks
    written = span_split.write_spans(args.data_dir, args.output_dir, args.spans, args.first)
    common.console.print(f"wrote {len(written)} spans to {args.output_dir}: "
                         f"{', '.join(path.name for path in written)}", markup=False)
    return 0
