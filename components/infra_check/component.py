"""InfraCheck: between the Evaluator and the Pusher, the candidate served as TF Serving would
serve it (see executor.py and probe.py); its InfraBlessing goes to the Pusher's standard
`infra_blessing` input, so a refused model is never pushed.

Wiring (pipeline/pipeline.py), per model:

    Trainer --model--> Evaluator --blessing--> InfraCheck --blessing--> Pusher
       +------------------------model----------^     ^---------model----------^

It runs for every model and does the work only for blessed ones (the Evaluator's blessing is an
input, as for the Pusher): a `tfx.dsl.Cond` on the blessing would skip the node instead, leaving
the Pusher without its infra_blessing input and the run without a record of why.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.infra_check import executor
from contract.gates import DEFAULT_LATENCY_BUDGET_MS

DEFAULT_TIMEOUT_SECONDS = 600  # to start the model server, load the model and replay


class InfraCheckSpec(ComponentSpec):
    INPUTS = {
        executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        executor.MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing,
                                                      optional=True),
    }
    OUTPUTS = {executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing)}
    PARAMETERS = {
        executor.LATENCY_BUDGET_KEY: ExecutionParameter(type=float),
        executor.TIMEOUT_KEY: ExecutionParameter(type=int, optional=True),
    }


class InfraCheck(base_component.BaseComponent):
    """Blesses a model that loads, answers its warm-up requests and meets the budget."""

    SPEC_CLASS = InfraCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel | None = None,
                 latency_budget_ms: float = DEFAULT_LATENCY_BUDGET_MS,
                 timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS):
        if latency_budget_ms <= 0:
            raise ValueError(f"latency_budget_ms must be positive, got {latency_budget_ms}")
        super().__init__(spec=InfraCheckSpec(
            model=model, model_blessing=model_blessing,
            latency_budget_ms=float(latency_budget_ms), timeout_seconds=int(timeout_seconds),
            blessing=channel.Channel(type=standard_artifacts.InfraBlessing)))
