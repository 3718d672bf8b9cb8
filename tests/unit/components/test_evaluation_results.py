"""Reading an Evaluator's verdict back (components/evaluation_results.py) from TFMA's files:
the metrics of the candidate and the baseline, and each threshold with its outcome."""

from components import evaluation_results
from tests.fixtures.tfma_outputs import top_k_config, write_evaluation

REFUSED = {"hit_rate_at_10": 0.1, "hit_rate_lift_at_10": -0.02, "ndcg_at_10": 0.05}
BLESSED_BEFORE = {"hit_rate_at_10": 0.15, "hit_rate_lift_at_10": 0.03, "ndcg_at_10": 0.07}


def test_candidate_baseline_and_change(tmp_path):
    uri = write_evaluation(tmp_path, REFUSED, baseline=BLESSED_BEFORE)
    evaluation = evaluation_results.read_evaluation(uri)
    assert evaluation.candidate == REFUSED and evaluation.baseline == BLESSED_BEFORE
    assert evaluation.change["hit_rate_at_10"] == REFUSED["hit_rate_at_10"] - 0.15


def test_a_first_run_has_no_baseline(tmp_path):
    evaluation = evaluation_results.read_evaluation(write_evaluation(tmp_path, BLESSED_BEFORE))
    assert evaluation.candidate == BLESSED_BEFORE
    assert evaluation.baseline == evaluation.change == {}


def test_the_failed_thresholds_and_their_values(tmp_path):
    uri = write_evaluation(tmp_path, REFUSED, baseline=BLESSED_BEFORE,
                           failed=("hit_rate_lift_at_10", "hit_rate_at_10:diff"))
    checks = {(c.metric, c.change): c for c in evaluation_results.threshold_checks(uri)}
    assert set(checks) == {("hit_rate_lift_at_10", False), ("hit_rate_at_10", True)}
    lift, drop = checks["hit_rate_lift_at_10", False], checks["hit_rate_at_10", True]
    assert not lift.passed and not drop.passed
    assert lift.describe() == ("hit_rate_lift_at_10 = -0.0200, needs >= 0 (must beat the "
                               "popularity baseline by this margin)")
    assert drop.describe() == ("change in hit_rate_at_10 vs the last blessed model = -0.0500, "
                               "needs >= -0.02")


def test_passed_thresholds_on_a_first_run(tmp_path):
    uri = write_evaluation(tmp_path, BLESSED_BEFORE, eval_config=top_k_config(
        min_lift=0.01, with_baseline=False))
    [check] = evaluation_results.threshold_checks(uri)
    assert (check.metric, check.change, check.lower, check.passed) == (
        "hit_rate_lift_at_10", False, 0.01, True)
    assert check.value == 0.03
