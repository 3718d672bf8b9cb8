"""`recsys synth`: a synthetic MovieLens-shaped dataset of any size.

    recsys synth --users 162541 --movies 62423 --ratings 25000000 --output-dir data/synth-25m
"""

from __future__ import annotations

import argparse
import time

from recsys.cli import common
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


def _synth(args: argparse.Namespace) -> int:
    started = time.monotonic()
    summary = synth.write_dataset(args.output_dir, args.users, args.movies, args.ratings,
                                  args.seed, args.min_ratings_per_user)
    common.console.print(
        f"wrote {summary.ratings:,} ratings of {summary.users:,} users on "
        f"{summary.rated_movies:,} of {summary.movies:,} movies to {summary.directory} "
        f"in {time.monotonic() - started:.1f} s", markup=False)
    return 0
