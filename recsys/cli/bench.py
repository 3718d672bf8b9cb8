"""`recsys benchmark | bench-scale | bench-serve | bench-warm-start`: quality against the
peers, scale, serving, warm start after a new span.

Each command checks its arguments, then hands typed options to its module in benchmarks/,
which prints nothing but returns results; tables and JSON are written here.
"""

from __future__ import annotations

import argparse
import time

from contract import catalogue
from recsys.cli import common, local_run
from recsys.cli.common import CliError


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    _add_benchmark(commands, parent)
    _add_bench_scale(commands, parent)
    _add_bench_serve(commands, parent)
    _add_bench_warm_start(commands, parent)


# -- benchmark -----------------------------------------------------------------------------------
def _add_benchmark(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    bench = commands.add_parser(
        "benchmark", parents=[parent],
        help="train every model and the peers on the same splits; one table")
    common.add_data_source_arguments(bench)
    bench.add_argument("--output", default="benchmarks/results/quality.json",
                       help="JSON results file (default: %(default)s)")
    bench.add_argument("--work-dir", default=None,
                       help="pipeline outputs (default: a temporary directory, removed after)")
    bench.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                       help="override a hyper-parameter, as in `recsys run` (repeatable)")
    bench.add_argument("--models", default=",".join(catalogue.MODEL_NAMES),
                       help="comma-separated models to train (default: all); each protocol "
                            "run trains those of them it measures")
    bench.add_argument("--protocols", default=None,
                       help="comma-separated protocol runs (topk, rating, coldstart, and u1 "
                            "when DATA_DIR has u1.base/u1.test; default: all); the peers run "
                            "on the chosen protocols' splits")
    common.add_tuning_arguments(bench)
    common.add_history_length_argument(bench)
    bench.set_defaults(handler=_benchmark)


def _protocol_labels(text: str | None, known: tuple[str, ...]) -> tuple[str, ...] | None:
    """--protocols, checked against the `known` runs; None for all of them."""
    if text is None:
        return None
    labels = tuple(label.strip() for label in text.split(",") if label.strip())
    unknown = [label for label in labels if label not in known]
    if unknown or not labels:
        raise CliError(f"--protocols: {', '.join(unknown) or 'none given'}; choose from "
                       f"{', '.join(known)}")
    return labels


def _benchmark(args: argparse.Namespace) -> int:
    hparams = common.hyper_parameters(args.hparam)
    history_length = common.history_length(args)
    models = common.model_names(args.models)
    trials = common.tune_trials(args)
    data_dir = common.data_dir(args)
    with common.native_output_silenced(args.verbose):  # TensorFlow's start-up lines
        from benchmarks import quality, run_peers  # TensorFlow: after the argument checks

    labels = _protocol_labels(args.protocols, quality.run_labels(data_dir))
    if not quality.protocol_runs(data_dir, models, labels):
        raise CliError(f"--models {args.models} --protocols {args.protocols}: no protocol run "
                       "measures these models")

    started = time.monotonic()

    def execute(settings) -> None:
        common.console.print(f"pipeline, protocol {settings.protocol}: "
                             f"{', '.join(settings.models)}", markup=False)
        _execute_logged(settings, args.verbose)

    results = quality.run(data_dir, hparams, args.work_dir, execute, history_length,
                          models, labels, trials)
    common.console.print(run_peers.format_table(results), markup=False)
    cold = quality.cold_start_rows(results)
    if cold:
        common.console.print(common.table(
            ("cold-start bucket", "model", "HR@10", "NDCG@10", "examples"), cold,
            title="\nprotocol coldstart: new users given k ratings, new movies"))
    path = quality.write(results, args.output)
    common.console.print(f"benchmark finished in {time.monotonic() - started:.0f} s; "
                         f"wrote {path}", markup=False)
    return 1 if any("error" in entry for entry in results.values()) else 0


def _execute_logged(settings, verbose: bool) -> None:
    log = None if verbose else common.new_log_path(settings.output_dir, "run")
    with common.output_to_log(log):
        local_run.execute_pipeline(settings)


# -- bench-scale ---------------------------------------------------------------------------------
def _add_bench_scale(commands: argparse._SubParsersAction,
                     parent: argparse.ArgumentParser) -> None:
    bench = commands.add_parser(
        "bench-scale", parents=[parent],
        help="synthesise MovieLens-shaped data of each size and time the local pipeline per "
             "component, with peak memory")
    bench.add_argument("--sizes", default="1000000,5000000,25000000",
                       help="comma-separated rating counts; users and movies scale like the "
                            "MovieLens releases (default: %(default)s)")
    bench.add_argument("--models", default="retrieval",
                       help="models to train (default: %(default)s; every model at 25M "
                            "ratings does not fit the 60-minute target)")
    bench.add_argument("--beam-workers", type=int, default=2,
                       help="local Beam worker processes (default: %(default)s)")
    bench.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                       help="override a hyper-parameter, as in `recsys run` (repeatable)")
    bench.add_argument("--seed", type=int, default=0, help="of the synthetic data")
    bench.add_argument("--output", default="benchmarks/results/scale.json",
                       help="JSON results file (default: %(default)s)")
    bench.add_argument("--work-dir", default=None,
                       help="data and pipeline outputs (default: a temporary directory, "
                            "removed after)")
    bench.add_argument("--skip-ann", action="store_true",
                       help="leave out the approximate-nearest-neighbour section")
    bench.set_defaults(handler=_bench_scale)


def _bench_scale(args: argparse.Namespace) -> int:
    from benchmarks import scale  # TensorFlow and ML Metadata: only for this command

    try:
        sizes = scale.parse_sizes(args.sizes)
    except ValueError as error:
        raise CliError(f"--sizes: {error}") from None
    if args.beam_workers < 1:
        raise CliError("--beam-workers must be at least 1")
    # Every check `recsys run` makes, before hours of synthesis and runs.
    options = scale.Options(models=common.model_names(args.models),
                            beam_workers=args.beam_workers,
                            hparams=common.hyper_parameters(args.hparam), seed=args.seed,
                            verbose=args.verbose)
    results = scale.run(sizes, options, args.work_dir, skip_ann=args.skip_ann)
    common.console.print(scale.format_table(results), markup=False)
    scale.write_results(results, args.output)
    common.console.print(f"wrote {args.output}", markup=False)
    return 1 if any("error" in entry for entry in results["sizes"].values()) else 0


# -- bench-serve ---------------------------------------------------------------------------------
def _add_bench_serve(commands: argparse._SubParsersAction,
                     parent: argparse.ArgumentParser) -> None:
    bench = commands.add_parser(
        "bench-serve", parents=[parent],
        help="load-test the service (wrk) on loopback; with --batching, measure batching on "
             "the models in process and choose TF Serving's batching parameters")
    bench.add_argument("--models-dir", required=True,
                       help="pushed models, TF Serving layout: DIR/<model>/<version>/")
    bench.add_argument("--data-dir",
                       help="the raw MovieLens files the models were trained on (the HTTP "
                            "load test's users and movies; not needed with --batching)")
    bench.add_argument("--batching", action="store_true",
                       help="latency by batch size per signature, the batching parameters "
                            "chosen from it and their effect on one-row requests "
                            "(benchmarks/serving_batching.py)")
    bench.add_argument("--threads", type=int, default=2,
                       help="with --batching: batch threads, one per core of the TF Serving "
                            "pod (default: %(default)s)")
    bench.add_argument("--duration", type=int, default=15, help="seconds per run (default 15)")
    bench.add_argument("--clients", default="1,8,32", help="concurrent connections per run")
    bench.add_argument("--output",
                       help="JSON results (default: benchmarks/results/serving.json, with "
                            "--batching benchmarks/results/batching.json)")
    bench.add_argument("--port", type=int, default=8765)
    bench.set_defaults(handler=_bench_serve)


def _bench_serve(args: argparse.Namespace) -> int:
    try:
        clients = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        raise CliError(f"--clients {args.clients!r}: expected numbers, e.g. 1,8,32") from None
    if args.batching:
        return _bench_batching(args, clients)
    if not args.data_dir:
        raise CliError("--data-dir is needed for the HTTP load test (or give --batching)")
    from benchmarks import serving  # TensorFlow and FastAPI: only for this command

    output = args.output or "benchmarks/results/serving.json"
    results = serving.run(args.models_dir, args.data_dir, clients, args.duration, args.port)
    serving.write(results, output)
    common.console.print(serving.table(results), markup=False)
    common.console.print(f"written to {output}", markup=False)
    return 0


def _bench_batching(args: argparse.Namespace, clients: list[int]) -> int:
    if args.threads < 1:
        raise CliError("--threads must be at least 1")
    from benchmarks import serving_batching  # TensorFlow: only for this command

    output = args.output or "benchmarks/results/batching.json"
    with common.native_output_silenced(args.verbose):
        try:
            results = serving_batching.run(args.models_dir, clients, args.duration,
                                           args.threads)
        except ValueError as error:
            raise CliError(str(error)) from None
    serving_batching.write(results, output)
    common.console.print(serving_batching.table(results), markup=False)
    common.console.print(f"written to {output}", markup=False)
    return 0


# -- bench-warm-start ----------------------------------------------------------------------------
def _add_bench_warm_start(commands: argparse._SubParsersAction,
                          parent: argparse.ArgumentParser) -> None:
    bench = commands.add_parser(
        "bench-warm-start", parents=[parent],
        help="cut a release into time-ordered spans; after the last one, compare each model "
             "warm-started from the previous run's with one trained from scratch")
    bench.add_argument("--data-dir", required=True, help="a MovieLens release")
    bench.add_argument("--spans", type=int, default=4, help="default: %(default)s")
    bench.add_argument("--window", type=int, default=3,
                       help="spans per run (0: all; default: %(default)s)")
    common.add_model_arguments(bench)
    bench.add_argument("--output", default="benchmarks/results/warm_start.json",
                       help="JSON results file (default: %(default)s)")
    bench.add_argument("--work-dir", default=None,
                       help="spans and pipeline outputs (default: a temporary directory, "
                            "removed after)")
    bench.set_defaults(handler=_bench_warm_start)


def _bench_warm_start(args: argparse.Namespace) -> int:
    models = common.model_names(args.models)
    hparams = common.hyper_parameters(args.hparam)
    if args.spans < 2 or args.window < 0:
        raise CliError("--spans must be at least 2 and --window at least 0")
    from benchmarks import quality, warm_start  # TensorFlow: after the argument checks

    started = time.monotonic()

    def execute(settings) -> None:
        common.console.print(f"pipeline, span {settings.span} (window {settings.window}), warm "
                             f"start {'on' if settings.warm_start else 'off'}", markup=False)
        _execute_logged(settings, args.verbose)

    results = warm_start.run(args.data_dir, args.spans, args.window, models, hparams,
                             args.work_dir, execute)
    results["wall_seconds"] = round(time.monotonic() - started)
    common.console.print(warm_start.format_table(results), markup=False)
    path = quality.write(results, args.output)
    common.console.print(f"bench-warm-start finished in {results['wall_seconds']} s; wrote "
                         f"{path}", markup=False)
    return 1 if any("error" in row for row in results["models"].values()) else 0
