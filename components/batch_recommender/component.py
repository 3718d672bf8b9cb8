"""BatchRecommender: after a push, the pushed model's top-K for every user of the window and
its similar movies for every movie it knows, written beside the pushed models.

Not TFX's BulkInferrer, which fits single-input signatures over serialized tf.Examples
(tfx_bsl's RunInference refuses a signature with more than one input) and writes
PredictionLogs: our `recommend` signature takes a user id, a history and the movies to
exclude, and `serving_tf_example` scores one eval event as TFMA needs, not a user's current
top-K; BulkInferrer has no similar-items output either. This component runs the same Beam
pipeline shape (read examples, batch, call the SavedModel in a DoFn) through the model's own
`recommend` and `similar_items` signatures, and writes Parquet (executor.py).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.batch_recommender import executor


class BatchRecommenderSpec(ComponentSpec):
    INPUTS = {
        executor.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
        executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        executor.RECOMMENDATIONS_KEY: ChannelParameter(type=standard_artifacts.InferenceResult),
    }
    PARAMETERS = {executor.DESTINATION_KEY: ExecutionParameter(type=str)}


class BatchRecommender(base_beam_component.BaseBeamComponent):
    """Writes `destination/<pushed version>/` (gs:// or local) when the Pusher pushed: users
    and similar-movies Parquet shards, then `index.json`; nothing when it did not."""

    SPEC_CLASS = BatchRecommenderSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, pushed_model: types.BaseChannel, model: types.BaseChannel,
                 examples: types.BaseChannel, destination: str):
        """`model`: the Trainer's output that the Pusher pushed (the same files, read from
        the pipeline root rather than back from the serving bucket)."""
        if not destination or ("://" in destination and not destination.startswith("gs://")):
            raise ValueError(f"BatchRecommender writes to gs://BUCKET/PREFIX or a local path, "
                             f"not {destination!r}")
        super().__init__(spec=BatchRecommenderSpec(
            pushed_model=pushed_model, model=model, examples=examples, destination=destination,
            recommendations=channel.Channel(type=standard_artifacts.InferenceResult)))
