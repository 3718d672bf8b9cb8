"""`recsys synth` and `recsys bench-scale`: synthetic MovieLens data and the scale benchmark.

    recsys synth --users 162541 --movies 62423 --ratings 25000000 --output-dir data/synth-25m
    recsys bench-scale --sizes 1000000,5000000,25000000

Registered into recsys.cli's parser by `register`; nothing here imports TensorFlow.
"""

from __future__ import annotations

import argparse
import time

DEFAULT_SIZES = "1000000,5000000,25000000"
DEFAULT_OUTPUT = "benchmarks/results/scale.json"


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the `synth` and `bench-scale` sub-commands to `recsys`."""
    synth = commands.add_parser(
        "synth", help="write a synthetic MovieLens dataset (ml-latest layout: ratings.csv, "
                      "movies.csv) with realistic skew, streaming")
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--movies", type=int, required=True)
    synth.add_argument("--ratings", type=int, required=True)
    synth.add_argument("--output-dir", required=True, help="created if missing")
    synth.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    synth.add_argument("--min-ratings-per-user", type=int, default=5,
                       help="default: %(default)s")
    synth.set_defaults(handler=_synth)

    bench = commands.add_parser(
        "bench-scale", help="synthesise MovieLens-shaped data of each size and time the local "
                            "pipeline per component, with peak memory")
    bench.add_argument("--sizes", default=DEFAULT_SIZES,
                       help="comma-separated rating counts; users and movies scale like the "
                            "MovieLens releases (default: %(default)s)")
    bench.add_argument("--models", default="retrieval",
                       help="models to train (default: %(default)s; all five at 25M ratings "
                            "do not fit the 60-minute target)")
    bench.add_argument("--beam-workers", type=int, default=2,
                       help="local Beam worker processes (default: %(default)s)")
    bench.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                       help="override a hyper-parameter, as in `recsys run` (repeatable)")
    bench.add_argument("--seed", type=int, default=0, help="of the synthetic data")
    bench.add_argument("--output", default=DEFAULT_OUTPUT,
                       help="JSON results file (default: %(default)s)")
    bench.add_argument("--work-dir", default=None,
                       help="data and pipeline outputs (default: a temporary directory, "
                            "removed after)")
    bench.add_argument("--skip-ann", action="store_true",
                       help="leave out the approximate-nearest-neighbour section")
    bench.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
    bench.set_defaults(handler=_bench_scale)


def _synth(args: argparse.Namespace) -> int:
    from recsys import synth
    from recsys.cli import CliError

    started = time.monotonic()
    try:
        summary = synth.write_dataset(args.output_dir, args.users, args.movies, args.ratings,
                                      args.seed, args.min_ratings_per_user)
    except synth.SynthError as error:
        raise CliError(str(error)) from None
    print(f"wrote {summary.ratings:,} ratings of {summary.users:,} users on "
          f"{summary.rated_movies:,} of {summary.movies:,} movies to {summary.directory} "
          f"in {time.monotonic() - started:.1f} s")
    return 0


def _bench_scale(args: argparse.Namespace) -> int:
    from benchmarks import scale
    from recsys import cli

    try:
        sizes = scale.parse_sizes(args.sizes)
    except ValueError as error:
        raise cli.CliError(f"--sizes: {error}") from None
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    options = scale.Options(models=models, beam_workers=args.beam_workers,
                            hparams=tuple(args.hparam), seed=args.seed, verbose=args.verbose)
    # `recsys run`'s own checks (models, workers, hparams) before hours of synthesis and runs.
    cli._settings(cli._parser().parse_args(options.run_flags("data", "out")))
    results = scale.run(sizes, options, args.work_dir, skip_ann=args.skip_ann)
    print(scale.format_table(results))
    scale.write_results(results, args.output)
    print(f"wrote {args.output}")
    return 1 if any("error" in entry for entry in results["sizes"].values()) else 0
