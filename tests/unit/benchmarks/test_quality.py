"""The quality benchmark's assembly of one table and one JSON from fake metrics (no pipeline)."""

from __future__ import annotations

import json

from benchmarks import quality, run_peers
from contract import catalogue
from contract.catalogue import MODEL_NAMES

TRAINER_METRICS = {  # as trainer.task writes metrics.json
    "model": "sequential", "config": {"epochs": 10},
    "eval": {"hit_rate_at_10": 0.2, "ndcg_at_10": 0.1, "eval_examples": 943,
             "cold_user_hit_rate_at_10": None, "cold_user_examples": 0},
    "train_seconds": 120.5, "training_curves": {"loss": [6.0, 5.0]},
}
PEERS = {"ease": {"protocol": "topk", "hit_rate_at_10": 0.145, "ndcg_at_10": 0.07,
                  "fit_seconds": 1.5},
         "svd": {"protocol": "rating", "rmse": 0.93, "fit_seconds": 2.0},
         "svdpp": {"protocol": "rating", "error": "ImportError: no surprise"}}


def test_model_entry_reads_metrics_and_size() -> None:
    entry = quality.model_entry("topk", TRAINER_METRICS, 3 * 2**20)
    assert entry["kind"] == "model" and entry["protocol"] == "topk"
    assert entry["hit_rate_at_10"] == 0.2 and entry["train_seconds"] == 120.5
    assert entry["model_mb"] == 3.0 and entry["cold_user_hit_rate_at_10"] is None
    assert "training_curves" not in entry


def test_one_table_and_json_with_a_key_per_model_and_peer() -> None:
    models = {"sequential@topk": quality.model_entry("topk", TRAINER_METRICS, 2**20),
              "mf@rating": quality.model_entry(
                  "rating", {"eval": {"rmse": 0.9}, "train_seconds": 10.0}, 2**19)}
    results = quality.assemble(models, PEERS)
    assert list(results) == ["sequential@topk", "mf@rating", "ease", "svd", "svdpp"]
    assert results["ease"]["kind"] == "peer" and results["mf@rating"]["kind"] == "model"
    table = run_peers.format_table(results).splitlines()
    assert table[0].split() == ["name", "protocol", "HR@10", "NDCG@10", "RMSE", "train", "s",
                                "model", "MB"]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    assert rows["sequential@topk"] == ["topk", "0.2000", "0.1000", "-", "120.50", "1.00"]
    assert rows["mf@rating"] == ["rating", "-", "-", "0.9000", "10.00", "0.50"]
    assert rows["svd"] == ["rating", "-", "-", "0.9300", "2.00", "-"]
    assert "ImportError" in " ".join(rows["svdpp"])
    assert json.loads(json.dumps(results)) == results  # JSON-serialisable as is


def test_protocol_runs_add_presplit_only_when_its_files_exist(tmp_path) -> None:
    labels = [run.label for run in quality.protocol_runs(str(tmp_path))]
    assert labels == ["topk", "rating", "coldstart"]
    (tmp_path / "u1.base").write_text("")
    (tmp_path / "u1.test").write_text("")
    runs = quality.protocol_runs(str(tmp_path))
    assert [run.label for run in runs] == ["topk", "rating", "coldstart", "u1"]
    assert runs[0].models == MODEL_NAMES
    assert set(runs[2].models) == {"sequential", "hybrid", "retrieval"}
    assert runs[3].protocol == "presplit"
    assert runs[3].models == catalogue.names(catalogue.Kind.RATING)
    assert (runs[3].train_file, runs[3].eval_file) == ("u1.base", "u1.test")


def test_protocol_runs_narrow_to_the_chosen_models_and_protocols(tmp_path) -> None:
    runs = quality.protocol_runs(str(tmp_path), models=("hybrid", "mf"))
    assert [(run.label, run.models) for run in runs] == [
        ("topk", ("hybrid", "mf")), ("rating", ("mf",)), ("coldstart", ("hybrid",))]
    runs = quality.protocol_runs(str(tmp_path), models=("two_stage",), labels=("topk", "rating"))
    assert [(run.label, run.models) for run in runs] == [("topk", ("two_stage",))]
    assert quality.protocol_runs(str(tmp_path), models=("mf",), labels=("coldstart",)) == []
    assert quality.run_labels(str(tmp_path)) == ("topk", "rating", "coldstart")


def test_cold_start_rows_put_popularity_once_per_bucket() -> None:
    def bucket(hr, popular, examples=40):
        return {"hit_rate_at_10": hr, "ndcg_at_10": hr / 2, "examples": examples,
                "popularity_hit_rate_at_10": popular, "popularity_ndcg_at_10": popular / 2}

    results = {
        "hybrid@coldstart": {"protocol": "coldstart",
                             "cold_start_buckets": {"new_movie": bucket(0.1, 0.0),
                                                    "new_user_given_1": bucket(0.3, 0.2)}},
        "retrieval@coldstart": {"protocol": "coldstart",
                                "cold_start_buckets": {"new_movie": bucket(0.05, 0.0)}},
        # A TOPK test split's few new movies: not the coldstart protocol's bucket.
        "hybrid@topk": {"protocol": "topk",
                        "cold_start_buckets": {"new_movie": bucket(0.0, 0.0, examples=3)}},
        "mf@rating": {"protocol": "rating", "rmse": 0.9},
    }
    assert quality.cold_start_rows(results) == [
        ("new_movie", "hybrid", 0.1, 0.05, 40), ("new_movie", "retrieval", 0.05, 0.025, 40),
        ("new_movie", "popularity", 0.0, 0.0, 40),
        ("new_user_given_1", "hybrid", 0.3, 0.15, 40),
        ("new_user_given_1", "popularity", 0.2, 0.1, 40)]


def test_directory_bytes(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"x" * 5)
    assert quality.directory_bytes(str(tmp_path)) == 15
