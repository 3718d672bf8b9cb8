"""The warm-start benchmark's comparison (benchmarks/warm_start.py): one standard error of
the cold figure decides, HR@10 for retrieval models, RMSE for rating models."""

from __future__ import annotations

import math

from benchmarks import warm_start


def _metrics(epochs, seconds, warm=None, **evaluation):
    return {"eval": evaluation, "config": {"epochs": epochs}, "train_seconds": seconds,
            "warm_start": warm}


def test_a_hit_rate_within_one_standard_error_passes():
    cold = _metrics(20, 100.0, hit_rate_at_10=0.20, eval_examples=900)
    se = math.sqrt(0.2 * 0.8 / 900)  # 0.0133
    warm = _metrics(5, 30.0, {"new_rows": {"user": 3}}, hit_rate_at_10=0.20 - se / 2,
                    eval_examples=900)
    row = warm_start.compare("retrieval", cold, warm)
    assert row["metric"] == "hit_rate_at_10" and row["warm_started"]
    assert math.isclose(row["cold"]["standard_error"], se)
    assert row["within_one_standard_error"] and math.isclose(row["time_saved"], 0.7)
    assert row["new_rows"] == {"user": 3}
    worse = _metrics(5, 30.0, {}, hit_rate_at_10=0.20 - 2 * se, eval_examples=900)
    assert not warm_start.compare("retrieval", cold, worse)["within_one_standard_error"]


def test_rating_models_compare_rmse_and_lower_is_better():
    cold = _metrics(20, 50.0, rmse=0.95, rmse_standard_error=0.01)
    better = _metrics(5, 10.0, {}, rmse=0.90, rmse_standard_error=0.01)
    row = warm_start.compare("mf", cold, better)
    assert row["metric"] == "rmse" and not row["within_one_standard_error"]
    assert row["better_or_within"]


def test_the_table_has_a_row_per_model_and_says_when_a_run_is_missing():
    cold = _metrics(10, 40.0, hit_rate_at_10=0.1, eval_examples=100)
    results = {"models": {"hybrid": warm_start.compare("hybrid", cold, cold),
                          "mf": warm_start.compare("mf", None, cold)}}
    table = warm_start.format_table(results).splitlines()
    assert table[2].startswith("| hybrid | HR@10 | 0.1000 (10) | 0.1000 (10) | +0.0000 |")
    assert table[3].startswith("| mf | a run did not train this model |")
