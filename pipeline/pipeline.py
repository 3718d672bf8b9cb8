"""The DAG, and nothing else: ExampleGen -> StatisticsGen -> ImportSchemaGen (curated schema) ->
ExampleValidator -> DataValidationGate (anomalies, drift) -> Transform -> (Trainer -> Evaluator ->
Pusher -> BatchRecommender) for each model; the last blessed model of each name is both the
Evaluator's baseline and, with warm start, the Trainer's base model."""

from __future__ import annotations

import os

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import tfma_metrics
from components.batch_recommender.component import BatchRecommender
from components.data_gate.component import validation_nodes
from components.gcs_pusher.component import GcsPusher
from components.movielens_example_gen.component import MovieLensExampleGen
from contract import catalogue, keys, splits
from contract.features import LABEL
from contract.gates import Gate
from pipeline import configs


def create_pipeline(
    settings: configs.PipelineSettings,
    metadata_connection_config=None,
) -> tfx.dsl.Pipeline:
    example_gen = MovieLensExampleGen(
        input_base=settings.data_dir, protocol=settings.protocol, seed=settings.seed,
        train_file=settings.train_file, eval_file=settings.eval_file,
        quarantine_bad_rows=settings.quarantine_bad_rows,
        max_bad_row_fraction=settings.max_bad_row_fraction,
        window=settings.window, span=settings.span)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    # Curated schema, ExampleValidator and a gate that stops the run on anomalies or drift
    # (for spans: the latest span's drift, and spans of the window it never accepted).
    validation, schema, gate = validation_nodes(
        statistics.outputs["statistics"], settings.schema_file, settings.drift_threshold,
        stock_resolver=settings.orchestrator == "vertex", examples=example_gen.outputs["examples"])
    # Vocabularies and statistics over all training data (validation counts as seen data).
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(
            analyze=[splits.TRAIN, splits.VALIDATION], transform=list(splits.SPLITS)),
        custom_config={keys.CODE_VERSION_KEY: configs.code_version(configs.TRANSFORM_CODE)})
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


def _model_branch(name, settings, transform, example_gen) -> list:
    """Trainer -> Evaluator -> Pusher (-> BatchRecommender) for one model, each node suffixed
    with the model name."""
    custom_config = {keys.MODEL_NAME_KEY: name, keys.HPARAMS_KEY: settings.hparams.get(name, {}),
                     keys.CODE_VERSION_KEY: configs.code_version(configs.TRAINER_CODE)}
    trainer_class = tfx.components.Trainer
    if settings.vertex_training is not None:  # one Vertex AI training job (multi-worker)
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        custom_config.update(settings.vertex_training.trainer_custom_config(name))
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
        custom_config=custom_config,
    ).with_id(trainer_id)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"],
        eval_config=_eval_config(name, settings.gates[name]),
    ).with_id(f"Evaluator.{name}")
    pusher = GcsPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        destination=os.path.join(settings.serving_dir, name),  # gs://BUCKET/PREFIX or local
    ).with_id(f"Pusher.{name}")
    branch = [latest_blessed, trainer, evaluator, pusher]
    if settings.recommendations_dir:
        branch.append(BatchRecommender(
            pushed_model=pusher.outputs["pushed_model"],
            examples=example_gen.outputs["examples"],
            destination=os.path.join(settings.recommendations_dir, name),
        ).with_id(f"BatchRecommender.{name}"))
    return branch


def _eval_config(name: str, gate: Gate) -> tfma.EvalConfig:
    """TFMA on the raw eval split through the model's serving_tf_example signature: protocol
    TOPK metrics for every model, the rating error for rating models, thresholds from `gate`."""
    is_rating_model = catalogue.entry(name).kind == catalogue.Kind.RATING
    label = LABEL if is_rating_model else None
    model_specs = [
        tfma.ModelSpec(name="candidate", signature_name=keys.SERVING_TF_EXAMPLE, label_key=label),
        tfma.ModelSpec(name="baseline", signature_name=keys.SERVING_TF_EXAMPLE, label_key=label,
                       is_baseline=True),
    ]
    higher, lower = tfma.MetricDirection.HIGHER_IS_BETTER, tfma.MetricDirection.LOWER_IS_BETTER
    top_k = [
        _metric("ExampleCount", lower_bound=1),
        _metric("HitRateAtK", module=tfma_metrics.MODULE, lower_bound=gate.min_hit_rate,
                change=(higher, -gate.max_hit_rate_drop)),
        _metric("NDCGAtK", module=tfma_metrics.MODULE),
        _metric("PopularityHitRateAtK", module=tfma_metrics.MODULE),
        _metric("HitRateLiftAtK", module=tfma_metrics.MODULE,
                lower_bound=0.0 if gate.beat_popularity else None),
    ]
    metrics_specs = [tfma.MetricsSpec(metrics=top_k)]
    if is_rating_model:
        metrics_specs.append(tfma.MetricsSpec(
            output_names=["predicted_rating"],
            metrics=[_metric("MeanSquaredError", upper_bound=gate.max_mse,
                             change=(lower, gate.max_mse_increase))]))
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
