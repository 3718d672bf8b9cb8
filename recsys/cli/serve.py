"""`recsys serve` and `recsys ui`: the REST service and its UI (FastAPI, uvicorn).

Nothing here imports TensorFlow or FastAPI at import time, so `recsys --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging

from recsys.cli import common

DEFAULT_HOST = "127.0.0.1"  # loopback: exposing the service is a deliberate --host choice
DEFAULT_PORT = 8000


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    for name, help_text in (("serve", "serve recommendations over HTTP (FastAPI) with a UI"),
                            ("ui", "same as serve; prints the UI's URL")):
        command = commands.add_parser(name, parents=[parent], help=help_text)
        common.add_service_arguments(command)
        command.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
        command.add_argument("--port", type=int, default=DEFAULT_PORT,
                             help="default: %(default)s")
        command.add_argument("--tf-serving", metavar="URL",
                             help="forward model calls to TF Serving's REST API at URL "
                                  "(serving the same models dir) instead of loading them here")
        command.add_argument("--tf-serving-config", metavar="FILE",
                             help="with --tf-serving: TF Serving's models.config; a model with "
                                  "version labels is asked for --tf-serving-label's version")
        command.add_argument("--tf-serving-label", default="stable", metavar="LABEL",
                             help="the version label to ask for (default: %(default)s; a model "
                                  "without it gets `stable`, else its latest version)")
        command.add_argument("--poll-seconds", type=float, default=5.0,
                             help="how often to look for newer model versions (default 5)")
        command.set_defaults(handler=_serve, show_ui=name == "ui")


def _serve(args: argparse.Namespace) -> int:
    if args.tf_serving_config and not args.tf_serving:
        raise common.CliError("--tf-serving-config only applies with --tf-serving")
    import uvicorn

    from recsys.serving.app import build_app  # TensorFlow and FastAPI: after the arguments

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with common.native_output_silenced(args.verbose):  # TensorFlow's start-up lines
        service = build_app(args.models_dir, args.data_dir, args.tf_serving, args.poll_seconds,
                            tf_serving_config=args.tf_serving_config,
                            label=args.tf_serving_label)
    url = f"http://{args.host}:{args.port}/"
    loaded = ", ".join(f"{m.name} v{m.version}" for m in service.state.registry.models().values())
    common.console.print(f"serving {loaded}\n{'UI' if args.show_ui else 'API'}: {url}  "
                         f"(OpenAPI: {url}docs)", markup=False)
    uvicorn.run(service, host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0
