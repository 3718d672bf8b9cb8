"""GcsPusher: the TFX Pusher with an executor that publishes to Google Cloud Storage (or a
local directory) without ever exposing a partial or unblessed version; see executor.py."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2

from components.gcs_pusher import executor


class GcsPusher(Pusher):
    """Pushes a blessed model to `destination/<version>/` (TF Serving's layout).

    `destination` is `gs://BUCKET/PREFIX/<model_name>` or a local directory; it is stored as
    the standard `push_destination.filesystem.base_directory`, so the PusherSpec, the
    PushedModel artifact and its properties are those of the TFX Pusher.
    """

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel | None = None,
        infra_blessing: types.BaseChannel | None = None,
        destination: str | None = None,
        push_destination: pusher_pb2.PushDestination | None = None,
        custom_config: dict[str, Any] | None = None,
    ):
        if (destination is None) == (push_destination is None):
            raise ValueError("GcsPusher needs exactly one of destination or push_destination")
        if destination is not None:
            executor.check_destination(destination)  # fail when the pipeline is built
            push_destination = pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=destination))
        super().__init__(
            model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
            push_destination=push_destination, custom_config=custom_config)
