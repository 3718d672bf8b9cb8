"""What an Evaluator decided, read back from its `evaluation` artifact with TFMA's own readers:
the metrics of the candidate and of the baseline (the last blessed model), and each threshold of
the eval config with the value it was checked against and whether it passed.

Read by the steps that publish the gate's figures on Vertex AI (components/model_registry,
components/experiment_metrics) and by the run report (recsys/inspection).
"""

from __future__ import annotations

import dataclasses

from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.writers import eval_config_writer
from tensorflow_model_analysis.writers.metrics_plots_and_validations_writer import (
    load_and_deserialize_metrics,
    load_and_deserialize_validation_result,
)

CANDIDATE, BASELINE = "candidate", "baseline"  # the Evaluator's model specs (pipeline.py)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Overall-slice metrics, by metric name (hit_rate_at_10, mean_squared_error, ...)."""

    candidate: dict[str, float]
    baseline: dict[str, float]  # {} on a model's first run: nothing was blessed before
    change: dict[str, float]  # candidate - baseline, TFMA's diff metrics


@dataclasses.dataclass(frozen=True)
class ThresholdCheck:
    """One threshold of the gate: `metric` (vs the baseline when `change`) must lie within
    [lower, upper]; `value` is what was measured."""

    metric: str
    change: bool
    lower: float | None
    upper: float | None
    value: float | None
    passed: bool

    def describe(self) -> str:
        """E.g. 'hit_rate_lift_at_10 = -0.0417, needs >= 0.01 (must beat the popularity
        baseline by this margin)'."""
        what = f"change in {self.metric} vs the last blessed model" if self.change else (
            self.metric)
        bounds = " and ".join(f"{sign} {bound:g}" for sign, bound in (
            (">=", self.lower), ("<=", self.upper)) if bound is not None)
        measured = "not measured" if self.value is None else format_value(self.metric,
                                                                          self.value)
        meaning = _THRESHOLD_MEANING.get((self.metric, self.change))
        return f"{what} = {measured}, needs {bounds}" + (f" ({meaning})" if meaning else "")


# Why a threshold matters, by TFMA metric name and whether it bounds the change (the gate's
# fields: contract/gates.py).
_THRESHOLD_MEANING = {
    ("example_count", False): "too few evaluated examples, see --min-eval-examples",
    ("hit_rate_lift_at_10", False): "must beat the popularity baseline by this margin",
    ("hit_rate_at_10", False): "the Hit-Rate@10 floor",
    ("rating_error_reduction", False): "must predict ratings better than a constant by this "
                                       "margin",
    ("mean_squared_error", False): "the rating error ceiling",
}


COUNTS = ("example_count",)


def format_value(metric: str, value: float) -> str:
    """A count as an integer, anything else with 4 decimals."""
    return str(int(value)) if metric in COUNTS else f"{value:.4f}"


def _overall(uri: str) -> dict[metric_types.MetricKey, float]:
    """Every overall-slice metric of the evaluation, by TFMA MetricKey."""
    values = {}
    for slice_metrics in load_and_deserialize_metrics(uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for entry in slice_metrics.metric_keys_and_values:
            if entry.value.HasField("double_value"):
                key = metric_types.MetricKey.from_proto(entry.key)
                values[key] = entry.value.double_value.value
    return values


def read_evaluation(uri: str) -> Evaluation:
    """The candidate's and the baseline's metrics. Without a baseline TFX evaluates the one
    model under the name ""."""
    result: dict[tuple[str, bool], dict[str, float]] = {}
    for key, value in _overall(uri).items():
        model = BASELINE if key.model_name == BASELINE else CANDIDATE
        result.setdefault((model, key.is_diff), {})[key.name] = value
    return Evaluation(candidate=result.get((CANDIDATE, False), {}),
                      baseline=result.get((BASELINE, False), {}),
                      change=result.get((CANDIDATE, True), {}))


def threshold_checks(uri: str) -> list[ThresholdCheck]:
    """Each threshold the Evaluator applied (its stored eval config, from which TFX already
    dropped the change thresholds when there was no baseline), with the measured value, and
    failed where TFMA's validation result lists it."""
    eval_config = eval_config_writer.load_eval_run(uri)[0]
    measured = _overall(uri)
    validation = load_and_deserialize_validation_result(uri)
    failures = {_key_id(metric_types.MetricKey.from_proto(failure.metric_key))
                for per_slice in validation.metric_validations_per_slice
                for failure in per_slice.failures}
    checks = []
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config)
    for key, per_slice in thresholds.items():
        if key.model_name == BASELINE:
            continue
        for _, threshold in per_slice:
            bounds = [_bound(threshold, "lower_bound"), _bound(threshold, "upper_bound")]
            if isinstance(threshold, config_pb2.GenericChangeThreshold) and threshold.HasField(
                    "absolute"):
                bounds = _change_bounds(threshold)
            value = next((v for k, v in measured.items() if _key_id(k) == _key_id(key)), None)
            checks.append(ThresholdCheck(key.name, key.is_diff, *bounds, value,
                                         _key_id(key) not in failures))
    return sorted(checks, key=lambda c: (c.change, c.metric))


def _key_id(key: metric_types.MetricKey) -> tuple[str, str, bool]:
    """What identifies a metric across the config, the metrics and the validation result
    (TFX names the only model "" without a baseline, "candidate" with one)."""
    return key.name, key.output_name, key.is_diff


def _bound(threshold, field: str) -> float | None:
    if isinstance(threshold, config_pb2.GenericValueThreshold) and threshold.HasField(field):
        return getattr(threshold, field).value
    return None


def _change_bounds(threshold) -> list[float | None]:
    """An absolute change threshold as bounds on candidate - baseline: at least -x when higher
    is better, at most x when lower is better (TFMA's semantics)."""
    limit = threshold.absolute.value
    if threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER:
        return [limit, None]
    return [None, limit]
