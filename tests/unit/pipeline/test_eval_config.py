"""The Evaluator's gate as TFMA applies it: pipeline._eval_config's thresholds checked by TFMA's
own metrics validator (what the Evaluator runs to decide a blessing) on chosen metric values.

No degenerate evaluation may bless: too few examples, a tie with popularity, a rating model no
better than a constant, a NaN anywhere."""

from __future__ import annotations

import math

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_specs

from contract import catalogue
from pipeline import pipeline

GOOD_TOP_K = {"example_count": 943, "hit_rate_at_10": 0.2, "hit_rate_lift_at_10": 0.11}
GOOD_RATING = {**GOOD_TOP_K, "mean_squared_error": 0.85, "rating_error_reduction": 0.4}


def _failed(model: str, values: dict[str, float], gate=None) -> set[str]:
    """Names of the metrics whose thresholds fail on a first run (no blessed model yet: TFX's
    Evaluator then drops the baseline and its change thresholds)."""
    config = tfma.utils.update_eval_config_with_defaults(
        pipeline._eval_config(model, gate or catalogue.entry(model).gate), has_baseline=False,
        rubber_stamp=True)
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        config.metrics_specs, eval_config=config)
    metrics = {key: values[key.name] for key in thresholds if key.name in values}
    result = metrics_validator.validate_metrics(((), metrics), config)
    return {failure.metric_key.name for per_slice in result.metric_validations_per_slice
            for failure in per_slice.failures}


def test_good_figures_bless():
    assert _failed("retrieval", GOOD_TOP_K) == set()
    assert _failed("mf", GOOD_RATING) == set()


@pytest.mark.parametrize("change, failing", [
    ({"example_count": 29}, {"example_count"}),  # fewer than 30 evaluated users
    ({"example_count": 1, "hit_rate_at_10": 0.0, "hit_rate_lift_at_10": 0.0},
     {"example_count", "hit_rate_lift_at_10"}),  # the one-user dataset: a tie at 0
    ({"hit_rate_lift_at_10": 0.0}, {"hit_rate_lift_at_10"}),  # a tie is not a win
    ({"hit_rate_lift_at_10": 0.005}, {"hit_rate_lift_at_10"}),  # under the margin
    ({"hit_rate_lift_at_10": math.nan}, {"hit_rate_lift_at_10"}),
    ({"example_count": math.nan}, {"example_count"}),
])
def test_a_degenerate_top_k_evaluation_does_not_bless(change, failing):
    assert _failed("retrieval", {**GOOD_TOP_K, **change}) == failing


@pytest.mark.parametrize("change, failing", [
    ({"rating_error_reduction": 0.0}, {"rating_error_reduction"}),  # a constant's equal
    ({"rating_error_reduction": -0.3}, {"rating_error_reduction"}),
    ({"rating_error_reduction": math.nan}, {"rating_error_reduction"}),
    ({"mean_squared_error": math.nan}, {"mean_squared_error"}),
    ({"example_count": 0}, {"example_count"}),
])
def test_a_degenerate_rating_evaluation_does_not_bless(change, failing):
    assert _failed("mf", {**GOOD_RATING, **change}) == failing


def test_a_fixed_floor_and_a_smaller_minimum_apply_instead():
    gate = catalogue.entry("retrieval").gate.with_min_hit_rate(0.1).with_min_eval_examples(1)
    tie = {"example_count": 1, "hit_rate_at_10": 0.0, "hit_rate_lift_at_10": 0.0}
    assert _failed("retrieval", tie, gate) == {"hit_rate_at_10"}  # the floor, not popularity
    assert _failed("retrieval", {**tie, "hit_rate_at_10": 1.0}, gate) == set()


def test_a_metric_that_was_not_computed_fails():
    values = dict(GOOD_RATING)
    del values["rating_error_reduction"]
    assert _failed("mf", values) == {"rating_error_reduction"}
