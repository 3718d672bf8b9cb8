"""The DAG, and nothing else: ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator ->
Transform -> (Trainer -> Evaluator -> Pusher) for each model."""

from __future__ import annotations

import os

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.movielens_example_gen.component import MovieLensExampleGen
from pipeline import configs
from trainer.models.base import RATING
from trainer.models.registry import MODELS
from trainer.task import HPARAMS_KEY, MODEL_NAME_KEY


def create_pipeline(
    settings: configs.PipelineSettings,
    metadata_connection_config=None,
) -> tfx.dsl.Pipeline:
    code_version = configs.code_version()
    example_gen = MovieLensExampleGen(
        input_base=settings.data_dir, protocol=settings.protocol, seed=settings.seed,
        train_file=settings.train_file, eval_file=settings.eval_file)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
        custom_config={"code_version": code_version})
    components = [example_gen, statistics, schema, validator, transform]
    for name in settings.models:
        components += _model_branch(name, settings, transform, example_gen, code_version)
    return tfx.dsl.Pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=settings.pipeline_root,
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(settings.beam_args),
    )


def _model_branch(name, settings, transform, example_gen, code_version) -> list:
    """Trainer -> Evaluator -> Pusher for one model, each node suffixed with the model name."""
    trainer = tfx.components.Trainer(
        run_fn=configs.RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=transform.outputs["post_transform_schema"],
        custom_config={MODEL_NAME_KEY: name, HPARAMS_KEY: settings.hparams.get(name, {}),
                       "code_version": code_version},
    ).with_id(f"Trainer.{name}")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=_eval_config(name),
    ).with_id(f"Evaluator.{name}")
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(settings.serving_dir, name))),
    ).with_id(f"Pusher.{name}")
    return [trainer, evaluator, pusher]


def _eval_config(name: str) -> tfma.EvalConfig:
    """TFMA on the raw eval split through the model's serving_tf_example signature."""
    is_rating_model = MODELS[name][0].kind == RATING
    model_spec = tfma.ModelSpec(
        signature_name="serving_tf_example",
        label_key="rating" if is_rating_model else None,
        prediction_key="predicted_rating" if is_rating_model else "scores")
    # Until the Hit-Rate@10 gate exists, the gate only checks that the model scored the
    # whole eval split (TFMA blesses nothing without a threshold).
    metrics = [tfma.MetricConfig(
        class_name="ExampleCount",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 1})))]
    if is_rating_model:
        metrics.append(tfma.MetricConfig(class_name="MeanSquaredError"))
    return tfma.EvalConfig(
        model_specs=[model_spec],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=[tfma.SlicingSpec()],
    )
