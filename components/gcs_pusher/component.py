"""GcsPusher: the TFX Pusher with an executor that publishes to Google Cloud Storage (or a
local directory) without ever exposing a partial or unblessed version; see executor.py."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import pusher_pb2
from tfx.types import channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.gcs_pusher import executor


class GcsPusherSpec(standard_component_specs.PusherSpec):
    PARAMETERS = {
        **standard_component_specs.PusherSpec.PARAMETERS,
        # The serving root and the model's folder under it, joined by the executor: the root
        # can then be a RuntimeParameter shared by every model's Pusher.
        executor.SERVING_ROOT_KEY: ExecutionParameter(type=str, optional=True),
        executor.MODEL_NAME_KEY: ExecutionParameter(type=str, optional=True),
    }


class GcsPusher(Pusher):
    """Pushes a blessed model to `serving_root/<model_name>/<version>/` (TF Serving's layout).

    `serving_root` is `gs://BUCKET/PREFIX` or a local directory (or a RuntimeParameter holding
    one); `push_destination` (the TFX Pusher's filesystem destination) is the alternative.
    The PushedModel artifact and its properties are those of the TFX Pusher.
    """

    SPEC_CLASS = GcsPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel | None = None,
        infra_blessing: types.BaseChannel | None = None,
        serving_root: str | data_types.RuntimeParameter | None = None,
        model_name: str | None = None,
        push_destination: pusher_pb2.PushDestination | None = None,
        custom_config: dict[str, Any] | None = None,
    ):
        if (serving_root is None) == (push_destination is None):
            raise ValueError("GcsPusher needs exactly one of serving_root or push_destination")
        if serving_root is not None:
            if not model_name:
                raise ValueError("GcsPusher: serving_root needs a model_name")
            if isinstance(serving_root, str):  # fail when the pipeline is built
                executor.check_destination(serving_root)
        spec = GcsPusherSpec(
            model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
            push_destination=push_destination, custom_config=json_utils.dumps(custom_config),
            pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
            **{executor.SERVING_ROOT_KEY: serving_root,
               executor.MODEL_NAME_KEY: model_name if serving_root is not None else None})
        # Pusher.__init__ would build its own PusherSpec without our parameters.
        base_component.BaseComponent.__init__(self, spec=spec)
