"""`recsys serve`, `recsys ui` and `recsys bench-serve`: the web service and its benchmark.

Registered into recsys.cli's parser by `register`; nothing here imports TensorFlow or FastAPI
at import time, so `recsys --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os

DEFAULT_HOST = "127.0.0.1"  # loopback: exposing the service is a deliberate --host choice
DEFAULT_PORT = 8000


def register(commands) -> None:
    for name, help_text in (("serve", "serve recommendations over HTTP (FastAPI) with a UI"),
                            ("ui", "same as serve; prints the UI's URL")):
        command = commands.add_parser(name, help=help_text)
        _serve_arguments(command)
        command.set_defaults(handler=_serve, show_ui=name == "ui")
    bench = commands.add_parser("bench-serve", help="load-test the service (wrk) on loopback")
    bench.add_argument("--models-dir", required=True, help="pushed models: DIR/<model>/<version>")
    bench.add_argument("--data-dir", required=True, help="the raw MovieLens files")
    bench.add_argument("--duration", type=int, default=15, help="seconds per run (default 15)")
    bench.add_argument("--clients", default="1,8,32", help="concurrent connections per run")
    bench.add_argument("--output", default="benchmarks/results/serving.json")
    bench.add_argument("--port", type=int, default=8765)
    bench.set_defaults(handler=_bench)


def _serve_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--models-dir", required=True,
                         help="pushed models, TF Serving layout: DIR/<model>/<version>/ "
                              "(the run's <output-dir>/serving)")
    command.add_argument("--data-dir", required=True,
                         help="the raw MovieLens files the models were trained on: titles, "
                              "genres and users' ratings come from here")
    command.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    command.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    command.add_argument("--tf-serving", metavar="URL",
                         help="forward model calls to TF Serving's REST API at URL "
                              "(serving the same models dir) instead of loading them here")
    command.add_argument("--poll-seconds", type=float, default=5.0,
                         help="how often to look for newer model versions (default 5)")


def build_app(models_dir: str, data_dir: str, tf_serving: str | None = None,
              poll_seconds: float = 5.0, start_polling: bool = True):
    """The FastAPI app with the catalogue loaded and every model's latest version in memory."""
    from recsys import cli
    from recsys.serving import app, catalogue, registry

    if not os.path.isdir(models_dir):
        raise cli.CliError(f"--models-dir {models_dir}: no such directory")
    data = catalogue.load(data_dir)  # before the models: loading them freezes the heap
    models = registry.ModelRegistry(models_dir, _loader(tf_serving), poll_seconds)
    if not models.refresh(wait_for_settle=False):
        raise cli.CliError(f"--models-dir {models_dir}: no model versions "
                           "(expected <model>/<version>/saved_model.pb)")
    service = app.create_app(models, data)
    if start_polling:
        models.start()
    return service


def _loader(tf_serving: str | None):
    from recsys.serving import backends

    if tf_serving:
        return lambda name, _version, path: backends.RestBackend(
            tf_serving, name, backends.saved_signatures(path))
    return lambda _name, _version, path: backends.InProcessBackend(path)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    service = build_app(args.models_dir, args.data_dir, args.tf_serving, args.poll_seconds)
    url = f"http://{args.host}:{args.port}/"
    loaded = ", ".join(f"{m.name} v{m.version}" for m in service.state.registry.models().values())
    print(f"serving {loaded}\n{'UI' if args.show_ui else 'API'}: {url}  (OpenAPI: {url}docs)",
          flush=True)
    uvicorn.run(service, host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from recsys.serving import bench

    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    results = bench.run(args.models_dir, args.data_dir, clients, args.duration, args.port)
    bench.write(results, args.output)
    print(bench.table(results))
    print(f"written to {args.output}")
    return 0
