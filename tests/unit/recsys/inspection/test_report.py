"""The run report's text and curves (recsys/inspection/report.py), without a pipeline run."""

from components.evaluation_results import Evaluation, ThresholdCheck
from recsys.inspection import report

LIFT = ThresholdCheck("hit_rate_lift_at_10", False, 0.0, None, -0.0417, False)
COUNT = ThresholdCheck("example_count", False, 1.0, None, 120.0, True)


def test_a_refused_model_names_the_threshold_that_decided_it():
    refused = report.ModelReport("retrieval", blessed=False, checks=[COUNT, LIFT])
    assert report.verdict_text(refused) == (
        "Not blessed: hit_rate_lift_at_10 = -0.0417, needs >= 0 (must beat the popularity "
        "baseline by this margin).")


def test_a_blessed_model_passed_every_threshold():
    blessed = report.ModelReport("mf", blessed=True, checks=[COUNT])
    assert report.verdict_text(blessed) == "Blessed: it passed the 1 threshold(s) of its gate."
    assert report.verdict_text(report.ModelReport("mf")).startswith("Not evaluated")


def test_training_validation_and_refit_curves_line_up():
    curves = {"loss": [3, 2], "val_loss": [3.5, 3], "rmse": [1.2, 1.0], "val_rmse": [1.3, 1.1],
              "regularization_loss": [0.1, 0.1], "val_total_loss": [4, 4],
              "refit_loss": [2.9, 1.9], "refit_total_loss": [3, 2]}
    assert report.curve_pairs(curves) == {"loss": ([3, 2], [3.5, 3], [2.9, 1.9]),
                                          "rmse": ([1.2, 1.0], [1.3, 1.1], [])}


def test_a_metric_a_model_lacks_is_blank_not_nan():
    table = report._metrics_table(Evaluation(
        candidate={"hit_rate_at_10": 0.2, "popularity_hit_rate_at_10": 0.1,
                   "example_count": 120.0}, baseline={}, change={}))
    assert "RMSE" not in table and "nan" not in table.lower()
    assert "<td class=\"number\">0.2000</td><td class=\"number\"></td>" in table
    rating = report._metrics_table(Evaluation(
        candidate={"mean_squared_error": 0.81}, baseline={"mean_squared_error": 1.0}, change={}))
    assert "<th>RMSE</th><td class=\"number\">0.9000</td><td class=\"number\">1.0000</td>" in rating
