"""The warm-start benchmark behind `recsys bench-warm-start`: after a new span, does a model
started from the last blessed one reach a model trained from scratch, in fewer epochs?

A MovieLens release is cut into `spans` time-ordered spans (recsys/data/span_split.py). Three
pipeline runs (the same code path as `recsys run --window W`):

1. `base`: window ending at span N - 1, trained from scratch (nothing is blessed yet);
2. `warm`: window ending at span N, in the same output directory, so each Trainer starts from
   the model run 1 blessed (`warm_start_fraction` of its epochs);
3. `cold`: the same window in a fresh output directory, every epoch from scratch.

The data gate accepts every span's drift (ACCEPT_DRIFT). Runs 2 and 3 read the same
data (same examples, vocabularies and eval split), so their Trainers' protocol metrics
(metrics.json) compare like with like. "Within one standard error"
is |warm - cold| <= the cold figure's standard error: HR@10 sqrt(p (1 - p) / n) over the
eval users, RMSE by the delta method over the eval ratings (contract/topk_metrics.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract import catalogue, topk_metrics
from pipeline import local_runner
from pipeline.configs import PipelineSettings
from recsys.data import span_split
from recsys.inspection import run_summary

DEFAULT_OUTPUT = "benchmarks/results/warm_start.json"
RUNS = ("base", "warm", "cold")
# Time-ordered quarters of a release drift from one another (ML-100K's fourth quarter moves
# `occupation` by an L-infinity distance of 0.1002, past the schema's 0.1): the benchmark
# accepts every span, it measures warm start, not the data gate.
ACCEPT_DRIFT = 1.0


def run(data_dir: str, spans: int, window: int, models: tuple[str, ...],
        hparams: dict[str, dict[str, str]], work_dir: str | None = None,
        execute: Callable[[PipelineSettings], None] = local_runner.run) -> dict[str, Any]:
    """The three runs; per model its cold and warm figures (see the module docstring)."""
    if spans < 2 or window < 0:
        raise ValueError(f"needs at least 2 spans and a window >= 0, got {spans}, {window}")
    with tempfile.TemporaryDirectory(prefix="recsys-warm-start-") as scratch:
        root = Path(work_dir or scratch)
        spans_dir = root / "spans"
        if not spans_dir.exists():  # a kept --work-dir keeps its spans (and its cache)
            span_split.write_spans(os.path.abspath(data_dir), str(spans_dir), spans)
        settings = {
            name: PipelineSettings.local(
                str(spans_dir), str(root / ("cold" if name == "cold" else "continuous")),
                models=models, hparams=hparams, window=window,
                span=spans - 1 if name == "base" else spans, warm_start=name != "cold",
                drift_threshold=ACCEPT_DRIFT)
            for name in RUNS}
        trainers: dict[str, dict[str, dict[str, Any]]] = {}
        loads = []
        for name in RUNS:
            loads.append(os.getloadavg()[0])
            execute(settings[name])
            trainers[name] = _trainer_metrics(settings[name].metadata_path)
        loads.append(os.getloadavg()[0])
    return {
        "data_dir": os.path.abspath(data_dir), "spans": spans, "window": window,
        "load_average_1m": loads,
        "models": {name: compare(name, trainers["cold"].get(name), trainers["warm"].get(name))
                   for name in models},
    }


def _trainer_metrics(metadata_path: str) -> dict[str, dict[str, Any]]:
    """Model name -> its Trainer's metrics.json, for the latest run in the store."""
    return {result.node.split(".", 1)[1]: run_summary.model_metrics(result)
            for result in run_summary.latest_run(run_summary.open_store(metadata_path))
            if result.node.startswith("Trainer.")}


def compare(name: str, cold: dict[str, Any] | None, warm: dict[str, Any] | None,
            ) -> dict[str, Any]:
    """One model's row: each run's figure, epochs and seconds; whether warm is within one
    standard error of cold on the model's gated metric (HR@10, or RMSE for rating models)."""
    if not cold or not warm:
        return {"error": "a run did not train this model"}
    rating = catalogue.entry(name).kind == catalogue.Kind.RATING
    metric = "rmse" if rating else "hit_rate_at_10"
    row: dict[str, Any] = {"metric": metric, "warm_started": warm.get("warm_start") is not None}
    for label, metrics in (("cold", cold), ("warm", warm)):
        evaluation = metrics["eval"]
        row[label] = {"value": evaluation[metric], "standard_error": _standard_error(
            metric, evaluation), "epochs": metrics["config"]["epochs"],
            "train_seconds": metrics["train_seconds"]}
    difference = row["warm"]["value"] - row["cold"]["value"]
    row["difference"] = difference
    row["within_one_standard_error"] = abs(difference) <= row["cold"]["standard_error"]
    row["better_or_within"] = (row["within_one_standard_error"]
                               or (difference < 0 if rating else difference > 0))
    row["time_saved"] = 1 - row["warm"]["train_seconds"] / row["cold"]["train_seconds"]
    if warm.get("warm_start"):
        row["new_rows"] = warm["warm_start"]["new_rows"]
    return row


def _standard_error(metric: str, evaluation: dict[str, Any]) -> float:
    if metric == "rmse":
        return evaluation["rmse_standard_error"]
    return topk_metrics.hit_rate_standard_error(evaluation[metric], evaluation["eval_examples"])


def format_table(results: dict[str, Any]) -> str:
    """A Markdown table, as docs/benchmarks.md shows it."""
    lines = ["| model | metric | cold (epochs) | warm (epochs) | warm - cold | 1 SE | within "
             "| train s cold / warm | saved |", "| --- " * 9 + "|"]
    for name, row in results["models"].items():
        if "error" in row:
            lines.append(f"| {name} | {row['error']} |" + " |" * 7)
            continue
        cold, warm = row["cold"], row["warm"]
        metric = "RMSE" if row["metric"] == "rmse" else "HR@10"
        within = "yes" if row["within_one_standard_error"] else "no"
        lines.append(
            f"| {name} | {metric} | {cold['value']:.4f} ({cold['epochs']}) "
            f"| {warm['value']:.4f} ({warm['epochs']}) | {row['difference']:+.4f} "
            f"| {cold['standard_error']:.4f} | {within} "
            f"| {cold['train_seconds']:.0f} / {warm['train_seconds']:.0f} "
            f"| {row['time_saved']:.0%} |")
    return "\n".join(lines)
