"""TFMA metrics for protocol TOPK: Hit-Rate@K, NDCG@K and the lift over popularity; and for
rating models, how much better than a constant rating the predictions are.

TFMA has NDCG for query-grouped ranking data but nothing that scores a model's *retrieved*
top-K list against a held-out item, so these are hand-written as standard TFMA `Metric`s (usable
in an EvalConfig by class name, thresholds and baseline comparison included).

Each eval example carries the held-out `movie_id` (a raw string feature: no label casting). The
model's `serving_tf_example` signature returns `movie_ids` [B, K] (its top-K with the user's
training movies removed) and `popular_movie_ids` [B, K] (the most popular movies the user has
not rated, from the same training data), so the popularity baseline is measured in the same
run, on the same examples.

A rating model's degenerate twin predicts one rating for everything; the best such constant on
the eval examples is their own mean rating, whose MSE is the ratings' variance.
`RatingErrorReduction` = that variance - the model's MSE, so a lower bound above 0 refuses any
model no better than a constant (TFMA's MeanSquaredError skips NaN predictions; this metric
does not: one NaN prediction or weight makes it NaN, which fails every threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from contract import features as F

MODULE = __name__
TOP_IDS = "movie_ids"
POPULAR_IDS = "popular_movie_ids"
DEFAULT_K = 10

# Per-example value: (model top ids, popular ids, held-out id, k) -> float; the metric is its
# mean over the eval examples.
ExampleValue = Callable[[list, list, bytes, int], float]


def _rank(ids: list, held_out: bytes) -> int | None:
    """1-based position of the held-out movie in a top list, None when absent."""
    return ids.index(held_out) + 1 if held_out in ids else None


def _hit(ids, popular, held_out, k) -> float:
    rank = _rank(ids[:k], held_out)
    return 1.0 if rank else 0.0


def _ndcg(ids, popular, held_out, k) -> float:
    rank = _rank(ids[:k], held_out)
    return 1.0 / math.log2(rank + 1) if rank else 0.0


def _popular_hit(ids, popular, held_out, k) -> float:
    return _hit(popular, ids, held_out, k)


def _lift(ids, popular, held_out, k) -> float:
    return _hit(ids, popular, held_out, k) - _hit(popular, ids, held_out, k)


class _TopKMetric(metric_types.Metric):
    """The mean over eval examples of a per-example value of the model's top-K list."""

    VALUE: ExampleValue
    NAME: str

    def __init__(self, k: int = DEFAULT_K, name: str | None = None):
        if k < 1:
            raise ValueError(f"{type(self).__name__}: k must be >= 1, got {k}")
        super().__init__(_computations, k=k, value_fn=type(self).VALUE,
                         name=name or f"{self.NAME}_at_{k}")


class HitRateAtK(_TopKMetric):
    """Share of eval examples whose held-out movie is in the model's top K."""

    VALUE = staticmethod(_hit)
    NAME = "hit_rate"


class NDCGAtK(_TopKMetric):
    """Mean of 1/log2(rank + 1) of the held-out movie within the top K (0 when missed)."""

    VALUE = staticmethod(_ndcg)
    NAME = "ndcg"


class PopularityHitRateAtK(_TopKMetric):
    """Hit-Rate@K of recommending the most popular unrated movies (the baseline)."""

    VALUE = staticmethod(_popular_hit)
    NAME = "popularity_hit_rate"


class HitRateLiftAtK(_TopKMetric):
    """Hit-Rate@K minus the popularity baseline's Hit-Rate@K on the same examples."""

    VALUE = staticmethod(_lift)
    NAME = "hit_rate_lift"


for _metric in (HitRateAtK, NDCGAtK, PopularityHitRateAtK, HitRateLiftAtK):
    metric_types.register_metric(_metric)


def _computations(
    name: str,
    k: int,
    value_fn: ExampleValue,
    model_names: Iterable[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    computations = []
    for model_name in model_names or [""]:
        key = metric_types.MetricKey(
            name=name, model_name=model_name, example_weighted=example_weighted)
        computations.append(metric_types.MetricComputation(
            keys=[key],
            preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[F.MOVIE_ID])],
            combiner=_MeanCombiner(key, k, value_fn)))
    return computations


class _MeanCombiner(beam.CombineFn):
    """Accumulates (sum of per-example values, example count)."""

    def __init__(self, key: metric_types.MetricKey, k: int, value_fn: ExampleValue):
        self._key, self._k, self._value_fn = key, k, value_fn

    def create_accumulator(self) -> list[float]:
        return [0.0, 0.0]

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        predictions = element.get_predictions(model_name=self._key.model_name)
        held_out = _strings(element.get_features()[F.MOVIE_ID])
        if len(held_out) != 1:
            raise ValueError(f"{self._key.name}: each eval example needs exactly one "
                             f"{F.MOVIE_ID}, got {held_out!r}")
        accumulator[0] += self._value_fn(
            _strings(predictions[TOP_IDS]), _strings(predictions[POPULAR_IDS]), held_out[0],
            self._k)
        accumulator[1] += 1
        return accumulator

    def merge_accumulators(self, accumulators):
        total = [0.0, 0.0]
        for value_sum, count in accumulators:
            total[0] += value_sum
            total[1] += count
        return total

    def extract_output(self, accumulator):
        value_sum, count = accumulator
        return {self._key: value_sum / count if count else float("nan")}


def _strings(values) -> list[bytes]:
    """A batch-of-one tensor value of strings -> list of bytes."""
    return [v if isinstance(v, bytes) else str(v).encode() for v in np.asarray(values).ravel()]


class RatingErrorReduction(metric_types.Metric):
    """MSE of the best constant prediction (the eval ratings' mean) minus the model's MSE."""

    NAME = "rating_error_reduction"

    def __init__(self, name: str = NAME):
        super().__init__(metric_util.merge_per_key_computations(_error_reduction_computations),
                         name=name)


metric_types.register_metric(RatingErrorReduction)


def _error_reduction_computations(
    name: str = RatingErrorReduction.NAME,
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_ErrorReductionCombiner(key, eval_config, example_weighted))]


class _ErrorReductionCombiner(beam.CombineFn):
    """Accumulates weighted sums: [weight, label, label^2, squared error]."""

    def __init__(self, key: metric_types.MetricKey, eval_config, example_weighted: bool):
        self._key, self._eval_config = key, eval_config
        self._example_weighted = example_weighted

    def create_accumulator(self) -> list[float]:
        return [0.0, 0.0, 0.0, 0.0]

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, example_weighted=self._example_weighted):
            label, prediction = float(np.ravel(label)[0]), float(np.ravel(prediction)[0])
            weight = float(np.ravel(weight)[0])
            accumulator[0] += weight
            accumulator[1] += weight * label
            accumulator[2] += weight * label * label
            accumulator[3] += weight * (label - prediction) ** 2
        return accumulator

    def merge_accumulators(self, accumulators):
        return [sum(values) for values in zip(*accumulators, strict=True)]

    def extract_output(self, accumulator):
        return {self._key: error_reduction(*accumulator)}


def error_reduction(weight: float, labels: float, squares: float, squared_error: float) -> float:
    """Variance of the labels minus the mean squared error, from weighted sums; NaN without
    weight (no examples) and whenever a sum is NaN."""
    if not weight > 0:
        return float("nan")
    mean = labels / weight
    return (squares / weight - mean * mean) - squared_error / weight
