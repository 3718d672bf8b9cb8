"""The report's cold-start table: one row per bucket, one column per model, popularity last."""

from recsys.inspection import report


def _bucket(hr, popular, examples):
    return {"hit_rate_at_10": hr, "ndcg_at_10": hr / 2, "examples": examples,
            "popularity_hit_rate_at_10": popular, "popularity_ndcg_at_10": popular / 2}


def test_cold_start_table_lists_every_bucket_by_model():
    metrics = {
        "sequential": {"eval": {"cold_start_buckets": {"new_user_given_1": _bucket(0.3, 0.2, 50)}}},
        "hybrid": {"eval": {"cold_start_buckets": {"new_user_given_1": _bucket(0.4, 0.2, 50),
                                                   "new_movie": _bucket(0.1, 0.0, 12)}}},
        "mf": {"eval": {"rmse": 0.9}},
    }
    table = report.cold_start_table(metrics)
    assert "<th>hybrid</th><th>sequential</th><th>popularity</th>" in table
    assert ("<tr><td>new_movie</td><td>12</td><td>0.1000 / 0.0500</td><td></td>"
            "<td>0.0000 / 0.0000</td></tr>") in table
    assert ("<tr><td>new_user_given_1</td><td>50</td><td>0.4000 / 0.2000</td>"
            "<td>0.3000 / 0.1500</td><td>0.2000 / 0.1000</td></tr>") in table


def test_no_cold_start_table_without_buckets():
    assert report.cold_start_table({"mf": {"eval": {"rmse": 0.9}}}) == ""
