"""`recsys compile | submit | query | serving-config`: the production path (Vertex AI Pipelines,
TF Serving).

Nothing heavy is imported at module import time: TensorFlow, TFX and the Vertex AI client load
inside the handlers, after argument checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from contract import catalogue, keys, splits
from pipeline import configs
from recsys.cli import common
from recsys.cli.common import CliError
from recsys.serving import client as serving_client
from trainer.config import config_with_overrides

_IMAGE_PINNED = re.compile(r"^[^\s@]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$")
_CRON = re.compile(r"^(TZ=\S+ )?\S+( \S+){4}$")
# Google Cloud labels (https://cloud.google.com/resource-manager/docs/labels-overview).
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_MAX_LABELS = 64
_EXPERIMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_DEFAULT_PIPELINE_FILE = "pipeline.json"


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    """Adds compile, submit, query and serving-config to the `recsys` sub-commands."""
    _add_compile(commands, parent)
    _add_submit(commands, parent)
    _add_query(commands, parent)
    _add_serving_config(commands, parent)


# -- compile ---------------------------------------------------------------------------------
def _add_compile(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "compile", parents=[parent],
        help="compile the pipeline for Vertex AI Pipelines (KFP v2 JSON)")
    parser.add_argument("--project", required=True, help="Google Cloud project")
    parser.add_argument("--region", required=True, help="e.g. us-central1")
    parser.add_argument("--pipeline-root", required=True, help="gs:// pipeline root")
    parser.add_argument("--data-dir", required=True, help="gs:// raw MovieLens files")
    parser.add_argument("--serving-dir",
                        help="gs:// where Pushers write <model>/<version>/ "
                             "(default: PIPELINE_ROOT/serving)")
    parser.add_argument("--recommendations-dir",
                        help="gs:// where each pushed version's batch recommendations go, as "
                             "<model>/<version>/ (default: PIPELINE_ROOT/recommendations)")
    parser.add_argument("--image", required=True,
                        help="pipeline image with a tag or digest, e.g. "
                             "us-docker.pkg.dev/P/recsys/pipeline:0.1.0")
    common.add_pipeline_arguments(parser)
    parser.add_argument("--beam-runner", choices=("direct", "dataflow"), default="direct",
                        help="where Beam components run (default: %(default)s, in the step)")
    parser.add_argument("--temp-location", "--temp_location", dest="temp_location",
                        help="gs:// Dataflow temp location (with --beam-runner dataflow)")
    parser.add_argument("--machine-type", "--machine_type", dest="machine_type",
                        default="n1-standard-4", help="Dataflow worker type")
    parser.add_argument("--max-num-workers", "--max_num_workers", dest="max_num_workers",
                        type=int, default=4, help="Dataflow autoscaling cap")
    training = parser.add_argument_group(
        "multi-worker training", "train each model as a Vertex AI training job of N machines "
        "(MultiWorkerMirroredStrategy) instead of inside its pipeline step")
    training.add_argument("--trainer-workers", metavar="N",
                          help="machines per training job, the chief included (default: none, "
                               "the Trainer trains in its step)")
    training.add_argument("--trainer-machine-type", metavar="TYPE",
                          help="machine type of every replica (default: n1-standard-8)")
    training.add_argument("--trainer-accelerator", metavar="TYPE:COUNT",
                          help="GPUs per replica, e.g. NVIDIA_TESLA_T4:1 (needs CUDA "
                               "libraries in the image)")
    training.add_argument("--trainer-service-account", metavar="EMAIL",
                          help="identity of the replicas (default: Vertex AI's Custom Code "
                               "Service Agent)")
    vertex = parser.add_argument_group(
        "inspection and registry", "where the run's training logs and blessed models go on "
        "Vertex AI")
    vertex.add_argument("--tensorboard", metavar="projects/P/locations/R/tensorboards/ID",
                        help="a Vertex AI TensorBoard instance: each Trainer uploads its "
                             "training and validation curves there")
    vertex.add_argument("--model-registry", action="store_true",
                        help="after each Pusher, upload the pushed model as a new version of "
                             f"registry model {configs.PIPELINE_NAME}-<model> (the 'default' "
                             "alias moves to it)")
    vertex.add_argument("--serving-image", metavar="IMAGE",
                        help="with --model-registry, the versions' serving container "
                             "(default: Vertex AI's prebuilt TensorFlow image closest to the "
                             "exported TensorFlow release)")
    parser.add_argument("--output", default=_DEFAULT_PIPELINE_FILE,
                        help="pipeline JSON to write (default: %(default)s)")
    parser.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    settings_kwargs = _compile_settings(args)
    from pipeline import kubeflow_v2_runner  # TensorFlow and TFX: after the argument checks

    if args.beam_runner == kubeflow_v2_runner.DATAFLOW:
        beam_args = kubeflow_v2_runner.dataflow_beam_args(
            args.project, args.region, args.temp_location, args.image,
            args.machine_type, args.max_num_workers)
    else:
        beam_args = kubeflow_v2_runner.direct_beam_args()
    settings = configs.PipelineSettings(
        beam_args=beam_args, orchestrator="vertex", **settings_kwargs)
    job = kubeflow_v2_runner.compile_pipeline(settings, args.image, args.output)
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    training = settings.vertex_training
    trainers = ("in their steps" if training is None else
                f"on Vertex AI training, {training.replica_count} x {training.machine_type}")
    print(f"wrote {args.output}: {len(tasks)} steps, image {args.image}, "
          f"Beam on {args.beam_runner}, Trainers {trainers}; parameters: "
          f"{', '.join(sorted(job['runtimeConfig']['parameterValues']))}")
    return 0


def _compile_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Checks compile's arguments; returns PipelineSettings fields except beam_args."""
    root = args.pipeline_root.rstrip("/")
    serving_dir = args.serving_dir or f"{root}/{configs.SERVING_DIR}"
    recommendations_dir = args.recommendations_dir or f"{root}/{configs.RECOMMENDATIONS_DIR}"
    for flag, value in (("--pipeline-root", args.pipeline_root), ("--data-dir", args.data_dir),
                        ("--serving-dir", serving_dir),
                        ("--recommendations-dir", recommendations_dir)):
        _require_gcs(flag, value)
    for flag, image in (("--image", args.image), ("--serving-image", args.serving_image)):
        if image is not None and not _IMAGE_PINNED.match(image):
            raise CliError(f"{flag} {image!r}: give a tag or @sha256 digest")
    if args.beam_runner == "dataflow":
        _require_gcs("--temp-location (needed by --beam-runner dataflow)", args.temp_location)
        if args.max_num_workers < 1:
            raise CliError("--max-num-workers must be at least 1")
    elif args.temp_location:
        raise CliError("--temp-location only applies to --beam-runner dataflow")
    return {"data_dir": args.data_dir, "pipeline_root": args.pipeline_root,
            "serving_dir": serving_dir, "recommendations_dir": recommendations_dir,
            "vertex_training": _vertex_training(args), "vertex": _vertex_pipeline(args),
            **common.pipeline_options(args)}


# VertexTraining and VertexPipeline fields -> the flags that set them.
_TRAINING_FLAGS = {"project": "--project", "region": "--region", "image": "--image",
                   "replica_count": "--trainer-workers", "machine_type": "--trainer-machine-type",
                   "accelerator": "--trainer-accelerator",
                   "service_account": "--trainer-service-account",
                   "tensorboard": "--tensorboard", "serving_image": "--serving-image"}


def _vertex_pipeline(args: argparse.Namespace) -> configs.VertexPipeline:
    try:
        return configs.VertexPipeline(
            project=args.project, region=args.region, tensorboard=args.tensorboard,
            model_registry=args.model_registry, serving_image=args.serving_image)
    except configs.InvalidVertexSetting as error:
        raise CliError(f"{_TRAINING_FLAGS[error.field]}: {error.message}") from None


def _vertex_training(args: argparse.Namespace):
    """The --trainer-* flags as a configs.VertexTraining, or None without --trainer-workers."""
    if args.trainer_workers is None:
        for flag, value in (("--trainer-machine-type", args.trainer_machine_type),
                            ("--trainer-accelerator", args.trainer_accelerator),
                            ("--trainer-service-account", args.trainer_service_account)):
            if value is not None:
                raise CliError(f"{flag} only applies with --trainer-workers")
        return None
    try:
        workers = int(args.trainer_workers)
    except ValueError:
        raise CliError(f"--trainer-workers: expected a number of machines, got "
                          f"{args.trainer_workers!r}") from None
    accelerator_type, accelerator_count = None, 0
    if args.trainer_accelerator is not None:
        accelerator_type, _, count = args.trainer_accelerator.partition(":")
        if not accelerator_type or not count.isdigit():
            raise CliError(f"--trainer-accelerator {args.trainer_accelerator!r}: expected "
                              "TYPE:COUNT, e.g. NVIDIA_TESLA_T4:1")
        accelerator_count = int(count)
    try:
        return configs.VertexTraining(
            project=args.project, region=args.region, image=args.image, replica_count=workers,
            machine_type=(configs.DEFAULT_TRAINER_MACHINE_TYPE if args.trainer_machine_type is None
                          else args.trainer_machine_type),
            accelerator_type=accelerator_type, accelerator_count=accelerator_count,
            service_account=args.trainer_service_account)
    except configs.InvalidVertexSetting as error:
        raise CliError(f"{_TRAINING_FLAGS[error.field]}: {error.message}") from None


def _require_gcs(flag: str, value: str | None) -> None:
    # Vertex AI steps run in containers that cannot see this machine's files.
    if not value or not value.startswith("gs://") or len(value) <= len("gs://"):
        raise CliError(f"{flag}: expected a gs://BUCKET/... path, got {value!r}")


# -- submit ----------------------------------------------------------------------------------
def _add_submit(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("submit", parents=[parent],
                                 help="run (or schedule) a compiled pipeline on Vertex AI "
                                      "Pipelines")
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--pipeline-spec", default=_DEFAULT_PIPELINE_FILE,
                        help="JSON written by `recsys compile` (default: %(default)s)")
    parser.add_argument("--display-name", help="default: the pipeline's name")
    parser.add_argument("--service-account", help="service account the steps run as")
    parser.add_argument("--schedule", metavar="CRON",
                        help='create a schedule instead of one run, e.g. "0 3 * * *"')
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter for this run instead of its compiled value: "
                             f"{configs.DATA_ROOT_PARAM}, {configs.SERVING_ROOT_PARAM}, "
                             f"{configs.PROTOCOL_PARAM}, {configs.TRAIN_FILE_PARAM}, "
                             f"{configs.EVAL_FILE_PARAM}, {configs.TRAINER_CONFIG_PARAM}<model> "
                             "(repeatable)")
    parser.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="override a hyper-parameter for this run, on top of the compiled "
                             "ones, e.g. ranking.epochs=10 (repeatable)")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                        help="a label on the pipeline job, e.g. team=recsys (repeatable)")
    parser.add_argument("--no-cache", action="store_true",
                        help="run every step, even those whose inputs have not changed")
    parser.add_argument("--experiment", metavar="NAME",
                        help="record the run in this Vertex AI experiment (created if "
                             "needed), with its parameters and each model's gate metrics")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the request as JSON instead of sending it")
    parser.set_defaults(handler=_submit)


def _submit(args: argparse.Namespace) -> int:
    request = submit_request(args)
    if args.dry_run:
        print(json.dumps(request, indent=2, sort_keys=True))
        return 0
    print(send_submit_request(request))
    return 0


def submit_request(args: argparse.Namespace) -> dict[str, Any]:
    """What `submit` sends: PipelineJob arguments plus the schedule, if any."""
    spec = _read_pipeline_spec(args.pipeline_spec)
    if args.service_account is not None and "@" not in args.service_account:
        raise CliError(f"--service-account {args.service_account!r}: expected an email, "
                          "e.g. pipelines@PROJECT.iam.gserviceaccount.com")
    if args.schedule is not None and not _CRON.match(args.schedule):
        raise CliError(f"--schedule {args.schedule!r}: expected 5 cron fields, "
                          'e.g. "0 3 * * *"')
    if args.experiment is not None:
        if not _EXPERIMENT.match(args.experiment):
            raise CliError(f"--experiment {args.experiment!r}: up to 128 lowercase letters, "
                           "digits and '-', starting with a letter or digit")
        if args.schedule is not None:
            raise CliError("--experiment records one run; it does not apply to --schedule")
    display_name = args.display_name or spec["displayName"]
    runtime = spec["runtimeConfig"]
    return {
        "project": args.project,
        "location": args.region,
        "display_name": display_name,
        "template_path": os.path.abspath(args.pipeline_spec),
        "pipeline_root": runtime["gcsOutputDirectory"],
        "parameter_values": parameter_values(
            runtime.get("parameterValues", {}), args.param, args.hparam),
        "labels": labels(args.label),
        "enable_caching": False if args.no_cache else None,  # None: as compiled (on)
        "experiment": args.experiment,
        "service_account": args.service_account,
        "schedule": None if args.schedule is None else {
            "cron": args.schedule, "display_name": f"{display_name}-schedule"},
    }


def parameter_values(compiled: dict[str, Any], params: list[str], hparams: list[str]
                     ) -> dict[str, Any]:
    """The compiled parameter values with --param NAME=VALUE, then --hparam, applied; each
    checked as the step that reads it would (paths, protocol, Trainer configs)."""
    values = dict(compiled)
    for flag in params:
        name, sep, value = flag.partition("=")
        if not sep or name not in compiled:
            raise CliError(f"--param {flag!r}: expected NAME=VALUE with NAME one of the "
                           f"pipeline's parameters: {', '.join(sorted(compiled)) or 'none'}")
        values[name] = _typed(flag, value, compiled[name])
    for model, overrides in common.hyper_parameters(hparams).items():
        name = configs.TRAINER_CONFIG_PARAM + model
        if name not in values:
            raise CliError(f"--hparam: {model} is not in this pipeline (compile it with "
                           f"--models ...,{model})")
        trainer_config = _trainer_config(name, values[name])
        trainer_config[keys.HPARAMS_KEY] = {**trainer_config.get(keys.HPARAMS_KEY, {}),
                                            **overrides}
        values[name] = json.dumps(trainer_config, sort_keys=True)
    _check_parameters(values)
    return values


def _typed(flag: str, value: str, compiled: Any) -> Any:
    """A --param value as the type the pipeline compiled for it (an int parameter such as
    `window` must reach Vertex AI as a number)."""
    # The compiled spec holds an int parameter's default as a JSON number (3.0).
    if not isinstance(compiled, int | float) or isinstance(compiled, bool):
        return value
    try:
        number = int(value)
    except ValueError:
        raise CliError(f"--param {flag!r}: expected an integer") from None
    if number < 0:
        raise CliError(f"--param {flag!r}: expected 0 or more")
    return number


def _trainer_config(name: str, text: str) -> dict[str, Any]:
    """A Trainer's custom_config parameter, as JSON, for the model its name ends with."""
    model = name.removeprefix(configs.TRAINER_CONFIG_PARAM)
    try:
        config = json.loads(text)
    except ValueError as error:
        raise CliError(f"--param {name}: not JSON ({error})") from None
    if not isinstance(config, dict) or config.get(keys.MODEL_NAME_KEY) != model:
        raise CliError(f"--param {name}: expected the Trainer's custom_config JSON, with "
                       f"{keys.MODEL_NAME_KEY!r}: {model!r}")
    return config


def _check_parameters(values: dict[str, Any]) -> None:
    for name in (configs.DATA_ROOT_PARAM, configs.SERVING_ROOT_PARAM):
        if name in values:
            _require_gcs(f"--param {name}", values[name])
    protocol = values.get(configs.PROTOCOL_PARAM)
    if protocol is not None:
        if protocol not in {p.value for p in splits.Protocol}:
            raise CliError(f"--param {configs.PROTOCOL_PARAM}={protocol}: expected one of "
                           f"{', '.join(p.value for p in splits.Protocol)}")
        files = (values.get(configs.TRAIN_FILE_PARAM), values.get(configs.EVAL_FILE_PARAM))
        if (protocol == splits.Protocol.PRESPLIT.value) != all(files):
            raise CliError(f"--param {configs.TRAIN_FILE_PARAM} and {configs.EVAL_FILE_PARAM} "
                           f"go together with {configs.PROTOCOL_PARAM}=presplit")
    for name, value in values.items():
        if name.startswith(configs.TRAINER_CONFIG_PARAM):
            config = _trainer_config(name, value)
            try:
                config_with_overrides(config[keys.MODEL_NAME_KEY],
                                      config.get(keys.HPARAMS_KEY) or {})
            except ValueError as error:
                raise CliError(f"--param {name}: {error}") from None


def labels(flags: list[str]) -> dict[str, str]:
    """--label KEY=VALUE flags, checked against Google Cloud's label rules."""
    result = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise CliError(f"--label {flag!r}: expected KEY=VALUE, KEY starting with a "
                           "lowercase letter, both up to 63 lowercase letters, digits, '_' "
                           "and '-'")
        result[key] = value
    if len(result) > _MAX_LABELS:
        raise CliError(f"--label: at most {_MAX_LABELS} labels, got {len(result)}")
    return result


def _read_pipeline_spec(path: str) -> dict[str, Any]:
    try:
        with open(path) as file:
            spec = json.load(file)
    except FileNotFoundError:
        raise CliError(f"--pipeline-spec {path}: no such file (run `recsys compile`)") from None
    except ValueError as error:
        raise CliError(f"--pipeline-spec {path}: not JSON ({error})") from None
    if "pipelineSpec" not in spec or "gcsOutputDirectory" not in spec.get("runtimeConfig", {}):
        raise CliError(f"--pipeline-spec {path}: not a pipeline job written by "
                          "`recsys compile`")
    return spec


def send_submit_request(request: dict[str, Any]) -> str:
    """Creates the PipelineJob (or its schedule) on Vertex AI; returns a line to print."""
    import google.auth.exceptions
    from google.cloud import aiplatform

    try:
        job = aiplatform.PipelineJob(
            display_name=request["display_name"],
            template_path=request["template_path"],
            pipeline_root=request["pipeline_root"],
            parameter_values=request["parameter_values"],
            labels=request["labels"] or None,
            enable_caching=request["enable_caching"],
            project=request["project"],
            location=request["location"])
        schedule = request["schedule"]
        if schedule is None:
            job.submit(service_account=request["service_account"],
                       experiment=request["experiment"])
            return f"submitted {job.resource_name}"
        created = job.create_schedule(
            cron=schedule["cron"], display_name=schedule["display_name"],
            service_account=request["service_account"])
        return f"scheduled {created.resource_name} ({schedule['cron']})"
    except google.auth.exceptions.DefaultCredentialsError:
        raise CliError("no Google Cloud credentials: run "
                          "`gcloud auth application-default login`") from None


# -- query -----------------------------------------------------------------------------------
def _add_query(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("query", parents=[parent],
                                 help="ask a TF Serving model (REST or gRPC)")
    server = parser.add_mutually_exclusive_group(required=True)
    server.add_argument("--url", help="REST endpoint, e.g. http://HOST:8501")
    server.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint, e.g. HOST:8500")
    parser.add_argument("--model", required=True, help="served model name, e.g. retrieval")
    parser.add_argument("--user", help="user id")
    parser.add_argument("--movie", help="movie id")
    parser.add_argument("--history", default="", help="comma-separated movie ids (new users)")
    parser.add_argument("--exclude", default="", help="comma-separated movie ids to skip")
    parser.add_argument("--signature", choices=tuple(serving_client.SIGNATURE_INPUTS),
                        help="default: recommend (--user), predict_rating (--user --movie), "
                             "similar_items (--movie)")
    parser.add_argument("--label", metavar="LABEL",
                        help="ask the version TF Serving labels LABEL (e.g. stable, canary; "
                             "see `recsys serving-config`) instead of the latest one")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.set_defaults(handler=_query)


def _query(args: argparse.Namespace) -> int:
    query = build_query(args)
    if args.url:
        result = serving_client.rest_predict(args.url, args.model, query, args.timeout,
                                             args.label)
    else:
        result = serving_client.grpc_predict(args.grpc, args.model, query, args.timeout,
                                             args.label)
    print(json.dumps(result, indent=2))
    return 0


def build_query(args: argparse.Namespace) -> serving_client.Query:
    if args.user is None and args.movie is None:
        raise CliError("give --user, --movie or both")
    signature = args.signature or serving_client.default_signature(args.user, args.movie)
    query = serving_client.Query(
        signature=signature, user_id=args.user, movie_id=args.movie,
        history=_id_list(args.history), exclude_movie_ids=_id_list(args.exclude))
    try:
        serving_client.instance(query)
    except ValueError as error:
        raise CliError(f"--signature: {error}") from None
    return query


def _id_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# -- serving-config --------------------------------------------------------------------------
def _add_serving_config(commands: argparse._SubParsersAction,
                        parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serving-config", parents=[parent],
        help="write TF Serving's models.config for the catalogue's models")
    parser.add_argument("--base-path", required=True,
                        help="where the Pushers write, e.g. gs://BUCKET/recsys/serving: each "
                             "model is served from BASE_PATH/<model>")
    parser.add_argument("--models", default=",".join(catalogue.MODEL_NAMES),
                        help="comma-separated (default: every model of the catalogue)")
    parser.add_argument("--stable", action="append", default=[], metavar="MODEL=VERSION",
                        help="serve MODEL's VERSION under the label `stable` (and only the "
                             "labelled versions) instead of its latest version (repeatable)")
    parser.add_argument("--canary", action="append", default=[], metavar="MODEL=VERSION",
                        help="also serve VERSION of a --stable MODEL, labelled `canary` "
                             "(repeatable)")
    parser.add_argument("--output", default="-", help="file to write (default: stdout)")
    parser.set_defaults(handler=_serving_config)


def _serving_config(args: argparse.Namespace) -> int:
    models = common.model_names(args.models)
    stable = _versions("--stable", args.stable, models)
    canary = _versions("--canary", args.canary, models)
    for name, version in canary.items():
        if name not in stable:
            raise CliError(f"--canary {name}={version}: give {name}'s --stable version too "
                           "(clients that name no label would get the canary)")
        if version == stable[name]:
            raise CliError(f"--canary {name}={version} is also its --stable version")
    text = models_config(models, args.base_path.rstrip("/"), stable, canary)
    if args.output == "-":
        common.console.out(text, end="")
    else:
        with open(args.output, "w") as handle:
            handle.write(text)
    return 0


def _versions(flag: str, values: list[str], models: tuple[str, ...]) -> dict[str, int]:
    """MODEL=VERSION flags -> {model: version}."""
    versions: dict[str, int] = {}
    for value in values:
        name, _, version = value.partition("=")
        if name not in models:
            raise CliError(f"{flag} {value!r}: {name!r} is not one of {', '.join(models)}")
        if not version.isdigit() or int(version) == 0:
            raise CliError(f"{flag} {value!r}: expected MODEL=VERSION, a version directory "
                           "number the Pusher wrote")
        if name in versions:
            raise CliError(f"{flag} gives {name} twice")
        versions[name] = int(version)
    return versions


def models_config(models: tuple[str, ...], base_path: str, stable: dict[str, int] | None = None,
                  canary: dict[str, int] | None = None) -> str:
    """TF Serving's ModelServerConfig text: one entry per model, polling BASE_PATH/<model>.

    A model in `stable` serves exactly its stable (and `canary`) version, under the version
    labels `stable` (and `canary`); the others serve their latest version, as pushed.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    stable, canary = stable or {}, canary or {}
    config = model_server_config_pb2.ModelServerConfig()
    for name in models:
        entry = config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, f"{base_path}/{name}", \
            "tensorflow"
        labels = {"stable": stable.get(name), "canary": canary.get(name)}
        labels = {label: version for label, version in labels.items() if version}
        if labels:
            entry.model_version_policy.specific.versions.extend(sorted(set(labels.values())))
            for label, version in labels.items():
                entry.version_labels[label] = version
    header = ("# Written by `recsys serving-config` from the model catalogue "
              "(contract/catalogue.py);\n# TF Serving polls each base_path for the <version>/ "
              "directories the Pushers write.\n")
    if stable:
        header += ("# Pinned: " + ", ".join(
            f"{name} stable={version}" + (f" canary={canary[name]}" if name in canary else "")
            for name, version in stable.items()) + " (docs/deploy.md: canary, promote, "
                                                   "rollback).\n")
    return header + text_format.MessageToString(config)
