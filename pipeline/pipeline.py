"""The DAG, and nothing else: ExampleGen -> StatisticsGen -> ImportSchemaGen (curated schema) ->
ExampleValidator -> DataValidationGate (anomalies, drift) -> Transform -> (Trainer -> Evaluator ->
InfraCheck -> Pusher -> BatchRecommender) for each model; on Vertex AI also ExperimentMetrics
after each Evaluator and, if asked, ModelRegistryUpload after each Pusher. The last blessed
model of each name is both the Evaluator's baseline and, with warm start, the Trainer's base
model.

On Vertex AI the data root, serving root, protocol (with its train/eval files) and each
Trainer's config are pipeline parameters (`runtime_parameters`), set per run without
recompiling; see docs/deploy.md for the settings that cannot be.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import tfma_metrics
from components.batch_recommender.component import BatchRecommender
from components.data_gate.component import validation_nodes
from components.experiment_metrics.component import ExperimentMetrics
from components.gcs_pusher.component import GcsPusher
from components.infra_check.component import InfraCheck
from components.model_registry.component import ModelRegistryUpload, prebuilt_serving_image
from components.movielens_example_gen.component import MovieLensExampleGen
from contract import catalogue, keys, splits
from contract.features import LABEL
from contract.gates import Gate
from pipeline import configs
from trainer.config import search_space

RuntimeParameter = tfx.dsl.experimental.RuntimeParameter


def create_pipeline(
    settings: configs.PipelineSettings,
    metadata_connection_config=None,
) -> tfx.dsl.Pipeline:
    example_gen = MovieLensExampleGen(
        input_base=_parameter(settings, configs.DATA_ROOT_PARAM, settings.data_dir),
        protocol=_parameter(settings, configs.PROTOCOL_PARAM, settings.protocol),
        history_length=settings.history_length, seed=settings.seed,
        train_file=_parameter(settings, configs.TRAIN_FILE_PARAM, settings.train_file),
        eval_file=_parameter(settings, configs.EVAL_FILE_PARAM, settings.eval_file),
        quarantine_bad_rows=settings.quarantine_bad_rows,
        max_bad_row_fraction=settings.max_bad_row_fraction,
        min_timestamp=settings.min_timestamp, max_timestamp=settings.max_timestamp,
        duplicate_ratings=settings.duplicate_ratings,
        window=_window(settings), span=settings.span)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    # Curated schema, ExampleValidator and a gate that stops the run on anomalies or drift
    # (for spans: the latest span's drift, and spans of the window it never accepted).
    validation, schema, gate = validation_nodes(
        statistics.outputs["statistics"], settings.schema_file, settings.drift_threshold,
        stock_resolver=settings.orchestrator == "vertex", history_length=settings.history_length,
        examples=example_gen.outputs["examples"])
    # Vocabularies and statistics over all training data (validation counts as seen data).
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(
            analyze=[splits.TRAIN, splits.VALIDATION], transform=list(splits.SPLITS)),
        custom_config={keys.CODE_VERSION_KEY: configs.code_version(configs.TRANSFORM_CODE),
                       keys.HISTORY_LENGTH_KEY: settings.history_length})
    transform.add_upstream_node(gate)  # never on data the gate stopped
    components = [example_gen, statistics, *validation, transform]
    for name in settings.models:
        components += _model_branch(name, settings, transform, example_gen)
    return tfx.dsl.Pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=settings.pipeline_root,
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(settings.beam_args),
    )


def runtime_parameters(pipeline: tfx.dsl.Pipeline) -> dict[str, Any]:
    """Each pipeline parameter of `pipeline` and its default (the compiled settings)."""
    return {value.name: value.default for node in pipeline.components
            for value in node.exec_properties.values() if isinstance(value, RuntimeParameter)}


def _parameter(settings: configs.PipelineSettings, name: str, value: str | None
               ) -> str | RuntimeParameter | None:
    """On Vertex AI, a string pipeline parameter `name` defaulting to `value` ("" for None);
    `value` itself elsewhere (LocalDagRunner has no parameters)."""
    if settings.vertex is None:
        return value
    return RuntimeParameter(name=name, ptype=str, default=value or "")


def _window(settings: configs.PipelineSettings) -> int | RuntimeParameter | None:
    """The spans' window; on Vertex AI an int pipeline parameter (set per run at submit)."""
    if settings.vertex is None or settings.window is None:
        return settings.window
    return RuntimeParameter(name=configs.WINDOW_PARAM, ptype=int, default=settings.window)


def _model_branch(name, settings, transform, example_gen) -> list:
    """Trainer -> Evaluator -> InfraCheck -> Pusher (-> BatchRecommender) for one model, each
    node suffixed with the model name (on Vertex AI: -> ExperimentMetrics, and
    ModelRegistryUpload if asked)."""
    custom_config = {keys.MODEL_NAME_KEY: name, keys.HPARAMS_KEY: settings.hparams.get(name, {}),
                     keys.CODE_VERSION_KEY: configs.code_version(configs.TRAINER_CODE)}
    tuner = _tuner(name, settings, transform)
    trainer_class = tfx.components.Trainer
    if settings.vertex_training is not None:  # one Vertex AI training job (multi-worker)
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        custom_config.update(settings.vertex_training.trainer_custom_config(name))
    vertex = settings.vertex
    if vertex is not None and vertex.tensorboard is not None:
        custom_config[keys.TENSORBOARD_KEY] = vertex.tensorboard_config(name)
    trainer_id = f"Trainer.{name}"
    # The latest model of the same name that its Evaluator blessed: the Evaluator's baseline
    # and, with warm start, the Trainer's base model (one resolver node for both).
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model,
                              producer_component_id=trainer_id),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=f"Evaluator.{name}"),
    ).with_id(f"LatestBlessedModel.{name}")
    trainer = trainer_class(
        run_fn=configs.RUN_FN,
        base_model=latest_blessed.outputs["model"] if settings.warm_start else None,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=transform.outputs["post_transform_schema"],
        train_args=tfx.proto.TrainArgs(splits=[splits.TRAIN]),
        # The test split for the Trainer's own report, the validation split for its curves.
        eval_args=tfx.proto.EvalArgs(splits=[splits.EVAL, splits.VALIDATION]),
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        # A dict inside which a RuntimeParameter would be compiled as a constant: on Vertex AI
        # the whole config is one JSON-string parameter (what TFX does for proto parameters).
        custom_config=custom_config if vertex is None else RuntimeParameter(
            name=configs.TRAINER_CONFIG_PARAM + name, ptype=str,
            default=json.dumps(custom_config, sort_keys=True)),
    ).with_id(trainer_id)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"],
        eval_config=_eval_config(name, settings.gates[name]),
    ).with_id(f"Evaluator.{name}")
    # The candidate served as TF Serving would, in a fresh process (blessed models only).
    infra_check = InfraCheck(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        latency_budget_ms=settings.latency_budget_ms,
    ).with_id(f"InfraCheck.{name}")
    pusher = GcsPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_check.outputs["blessing"],
        # gs://BUCKET/PREFIX or local; the model's versions go to <serving root>/<name>/.
        serving_root=_parameter(settings, configs.SERVING_ROOT_PARAM, settings.serving_dir),
        model_name=name,
    ).with_id(f"Pusher.{name}")
    nodes = [*([tuner] if tuner else []), latest_blessed, trainer, evaluator, infra_check,
             pusher]
    if vertex is not None:
        nodes.append(ExperimentMetrics(
            evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"],
            model_name=name, project=vertex.project, region=vertex.region,
        ).with_id(f"ExperimentMetrics.{name}"))
    if vertex is not None and vertex.model_registry:
        nodes.append(ModelRegistryUpload(
            pushed_model=pusher.outputs["pushed_model"], blessing=evaluator.outputs["blessing"],
            evaluation=evaluator.outputs["evaluation"], model_name=name,
            project=vertex.project, region=vertex.region,
            registry_model=vertex.registry_model(name),
            serving_image=vertex.serving_image or prebuilt_serving_image(
                tf.__version__, vertex.region),
        ).with_id(f"ModelRegistry.{name}"))
    if settings.recommendations_dir:
        nodes.append(BatchRecommender(
            pushed_model=pusher.outputs["pushed_model"], model=trainer.outputs["model"],
            examples=example_gen.outputs["examples"],
            destination=os.path.join(settings.recommendations_dir, name),
        ).with_id(f"BatchRecommender.{name}"))
    return nodes


def _tuner(name, settings, transform):
    """The Tuner of model `name` (`--tune`): searches its space (trainer/config.py) fitting the
    train split and scoring the validation split, never the test split; None when not tuning
    or when the model has nothing to search (a cascade's stages tune on their own)."""
    if not settings.tune_trials or not search_space(name, settings.hparams.get(name)):
        return None
    custom_config = {keys.MODEL_NAME_KEY: name, keys.HPARAMS_KEY: settings.hparams.get(name, {}),
                     keys.TUNER_TRIALS_KEY: settings.tune_trials,
                     keys.CODE_VERSION_KEY: configs.code_version(configs.TRAINER_CODE)}
    tuner_class = tfx.components.Tuner
    if settings.vertex_training is not None:
        tuner_class = tfx.extensions.google_cloud_ai_platform.Tuner
        custom_config.update(settings.vertex_training.tuner_custom_config(name))
    return tuner_class(
        tuner_fn=configs.TUNER_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=transform.outputs["post_transform_schema"],
        train_args=tfx.proto.TrainArgs(splits=[splits.TRAIN]),
        eval_args=tfx.proto.EvalArgs(splits=[splits.VALIDATION]),
        custom_config=custom_config,
    ).with_id(f"Tuner.{name}")


def _eval_config(name: str, gate: Gate) -> tfma.EvalConfig:
    """TFMA on the raw eval split through the model's serving_tf_example signature: protocol
    TOPK metrics for every model, the rating error for rating models, thresholds from `gate`.

    A degenerate evaluation never blesses: too few eval examples fail the ExampleCount bound,
    a tie with popularity fails the lift's bound (strictly above 0), a constant rating fails
    the error reduction's, and a NaN fails any bound (TFMA compares with >= and <=)."""
    is_rating_model = catalogue.entry(name).kind == catalogue.Kind.RATING
    label = LABEL if is_rating_model else None
    model_specs = [
        tfma.ModelSpec(name="candidate", signature_name=keys.SERVING_TF_EXAMPLE, label_key=label),
        tfma.ModelSpec(name="baseline", signature_name=keys.SERVING_TF_EXAMPLE, label_key=label,
                       is_baseline=True),
    ]
    higher, lower = tfma.MetricDirection.HIGHER_IS_BETTER, tfma.MetricDirection.LOWER_IS_BETTER
    top_k = [
        _metric("ExampleCount", lower_bound=gate.min_eval_examples),
        _metric("HitRateAtK", module=tfma_metrics.MODULE, lower_bound=gate.min_hit_rate,
                change=(higher, -gate.max_hit_rate_drop)),
        _metric("NDCGAtK", module=tfma_metrics.MODULE),
        _metric("PopularityHitRateAtK", module=tfma_metrics.MODULE),
        _metric("HitRateLiftAtK", module=tfma_metrics.MODULE,
                lower_bound=gate.min_lift if gate.beat_popularity else None),
    ]
    metrics_specs = [tfma.MetricsSpec(metrics=top_k)]
    if is_rating_model:
        metrics_specs.append(tfma.MetricsSpec(
            output_names=["predicted_rating"],
            metrics=[_metric("MeanSquaredError", upper_bound=gate.max_mse,
                             change=(lower, gate.max_mse_increase)),
                     _metric("RatingErrorReduction", module=tfma_metrics.MODULE,
                             lower_bound=gate.min_mse_reduction)]))
    return tfma.EvalConfig(model_specs=model_specs, metrics_specs=metrics_specs,
                           slicing_specs=[tfma.SlicingSpec()])


def _metric(
    class_name: str,
    module: str | None = None,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    change: tuple[int, float] | None = None,
) -> tfma.MetricConfig:
    """A MetricConfig with optional value bounds and a change threshold vs the baseline."""
    threshold = tfma.MetricThreshold()
    if lower_bound is not None:
        threshold.value_threshold.lower_bound.value = lower_bound
    if upper_bound is not None:
        threshold.value_threshold.upper_bound.value = upper_bound
    if change is not None:
        direction, absolute = change
        threshold.change_threshold.direction = direction
        threshold.change_threshold.absolute.value = absolute
    config = tfma.MetricConfig(class_name=class_name, module=module or "")
    if threshold.ByteSize():
        config.threshold.CopyFrom(threshold)
    return config
