"""RatingErrorReduction: the best constant rating's MSE minus the model's, from TFMA's inputs.

A model predicting one rating for everything scores at most 0 (exactly 0 at the eval mean), so
the gate's bound above 0 refuses it; a NaN prediction or weight makes the metric NaN (TFMA's
MeanSquaredError would skip the example)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_types

from components import tfma_metrics

LABELS = [1.0, 2.0, 4.0, 5.0]  # mean 3, variance 2.5


def _reduction(predictions, labels=LABELS, weights=None) -> float:
    (computation,) = tfma_metrics.RatingErrorReduction().computations(
        example_weighted=weights is not None)
    combiner = computation.combiner
    accumulators = []
    for i, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
        element = metric_types.StandardMetricInputs(
            label=np.array([label]), prediction=np.array([prediction]),
            example_weight=np.array([1.0 if weights is None else weights[i]]))
        accumulators.append(combiner.add_input(combiner.create_accumulator(), element))
    merged = combiner.merge_accumulators(accumulators)  # as Beam combines across workers
    (value,) = combiner.extract_output(merged).values()
    return value


@pytest.mark.parametrize("constant", [3.0, 1.0, 4.5])
def test_a_constant_prediction_never_scores_above_zero(constant):
    value = _reduction([constant] * 4)
    assert value == pytest.approx(-((constant - 3.0) ** 2)) and value <= 0.0


def test_perfect_predictions_score_the_ratings_variance():
    assert _reduction(LABELS) == pytest.approx(2.5)


def test_a_nan_prediction_or_weight_makes_it_nan():
    assert math.isnan(_reduction([1.0, math.nan, 4.0, 5.0]))
    assert math.isnan(_reduction(LABELS, weights=[1.0, math.nan, 1.0, 1.0]))


def test_weights_count_examples_as_often_as_weighted():
    assert _reduction([1.0, 2.0, 2.0], [1.0, 2.0, 2.0], weights=[1, 1, 2]) == pytest.approx(
        _reduction([1.0, 2.0, 2.0, 2.0], [1.0, 2.0, 2.0, 2.0]))


def test_no_examples_is_nan():
    assert math.isnan(tfma_metrics.error_reduction(0.0, 0.0, 0.0, 0.0))
