"""The quality benchmark behind `recsys benchmark`: the models through the local pipeline
beside the peers, on the same splits, in one table.

Runs the TFX pipeline (the same code path as `recsys run`) once per protocol: TOPK with every
model of the catalogue, RATING with the rating models, and the pre-split PRESPLIT_NAME.base /
.test pair (RATING protocol's RMSE on the official split) when the data directory has it.
Reads each Trainer's metrics.json and exported model size from ML Metadata, runs the peers on
the same splits (`benchmarks.run_peers`), and returns results keyed `MODEL@PROTOCOL` for the
models and by peer name for the peers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import run_peers
from contract import catalogue, splits
from contract.features import DEFAULT_HISTORY_LENGTH
from pipeline import local_runner
from pipeline.configs import PipelineSettings
from recsys.inspection import run_summary

PRESPLIT_NAME = "u1"
DEFAULT_OUTPUT = "benchmarks/results/quality.json"


@dataclasses.dataclass(frozen=True)
class ProtocolRun:
    """One pipeline run: its protocol, the models it trains, and its label in result keys."""

    label: str
    protocol: str
    models: tuple[str, ...]
    train_file: str | None = None
    eval_file: str | None = None


def cold_start_models() -> tuple[str, ...]:
    """The models COLDSTART measures: the plain retrieval-type ones (a cascade's first stage
    is one of them)."""
    return tuple(entry.name for entry in catalogue.CATALOGUE
                 if entry.kind == catalogue.Kind.RETRIEVAL and not entry.stages)


def protocol_runs(data_dir: str, models: Sequence[str] | None = None,
                  labels: Sequence[str] | None = None) -> list[ProtocolRun]:
    """TOPK (every model), RATING (rating models), COLDSTART (`cold_start_models`), and
    PRESPLIT when its files exist; narrowed to `models` and to the runs named in `labels`
    (None: all), a run left with no model dropped."""
    rating_models = catalogue.names(catalogue.Kind.RATING)
    runs = [ProtocolRun("topk", splits.Protocol.TOPK.value, catalogue.MODEL_NAMES),
            ProtocolRun("rating", splits.Protocol.RATING.value, rating_models),
            ProtocolRun("coldstart", splits.Protocol.COLDSTART.value, cold_start_models())]
    base, test = f"{PRESPLIT_NAME}.base", f"{PRESPLIT_NAME}.test"
    if os.path.exists(os.path.join(data_dir, base)) and os.path.exists(
            os.path.join(data_dir, test)):
        runs.append(ProtocolRun(PRESPLIT_NAME, splits.Protocol.PRESPLIT.value,
                                rating_models, base, test))
    chosen = []
    for protocol_run in runs:
        kept = tuple(name for name in protocol_run.models if models is None or name in models)
        if kept and (labels is None or protocol_run.label in labels):
            chosen.append(dataclasses.replace(protocol_run, models=kept))
    return chosen


def run_labels(data_dir: str) -> tuple[str, ...]:
    """The labels `protocol_runs` can choose from for `data_dir`."""
    return tuple(protocol_run.label for protocol_run in protocol_runs(data_dir))


def model_entry(label: str, metrics: dict[str, Any], model_bytes: int) -> dict[str, Any]:
    """A result row from a Trainer's metrics.json (see trainer.task) and its SavedModel size."""
    entry: dict[str, Any] = {"kind": "model", "protocol": label}
    entry.update(metrics.get("eval", {}))
    entry["train_seconds"] = metrics.get("train_seconds")
    entry["model_mb"] = round(model_bytes / 2**20, 3)
    entry["config"] = metrics.get("config", {})
    return entry


def assemble(
    models: dict[str, dict[str, Any]], peers: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Models (keyed MODEL@PROTOCOL) then peers (marked kind=peer), one dict for table + JSON."""
    results = dict(models)
    for name, entry in peers.items():
        results[name] = {"kind": "peer", **entry}
    return results


def directory_bytes(path: str) -> int:
    """Total size of the files under `path`."""
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def run(data_dir: str, hparams: dict[str, dict[str, str]], work_dir: str | None = None,
        execute: Callable[[PipelineSettings], None] = local_runner.run,
        history_length: int = DEFAULT_HISTORY_LENGTH, models: Sequence[str] | None = None,
        labels: Sequence[str] | None = None, tune_trials: int = 0,
        ) -> dict[str, dict[str, Any]]:
    """The protocol runs (`protocol_runs`, narrowed to `models` and `labels`), then the peers
    of those protocols (the sequence peer reading `history_length` items, as the pipeline's
    models do); the results as written to JSON. `tune_trials` > 0 puts a Tuner before each
    Trainer (`recsys run --tune`).

    `execute` runs one pipeline (the command line passes one that shows progress).
    """
    data_dir = os.path.abspath(data_dir)
    runs = protocol_runs(data_dir, models, labels)
    models: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="recsys-benchmark-") as scratch:
        for protocol_run in runs:
            settings = PipelineSettings.local(
                data_dir, os.path.join(work_dir or scratch, protocol_run.label),
                models=protocol_run.models, protocol=protocol_run.protocol,
                train_file=protocol_run.train_file, eval_file=protocol_run.eval_file,
                history_length=history_length, tune_trials=tune_trials,
                hparams={name: hparams[name] for name in protocol_run.models
                         if name in hparams})
            execute(settings)
            models.update(_read_models(settings, protocol_run.label))
    protocols = {protocol_run.protocol for protocol_run in runs}
    presplit = PRESPLIT_NAME if any(r.label == PRESPLIT_NAME for r in runs) else None
    return assemble(models, run_peers.run_all(Path(data_dir), presplit, history_length,
                                              topk=splits.Protocol.TOPK.value in protocols,
                                              rating=splits.Protocol.RATING.value in protocols))


def _read_models(settings: PipelineSettings, label: str) -> dict[str, dict[str, Any]]:
    """{MODEL@LABEL: entry} of the run's Trainers, read back from ML Metadata."""
    entries = {}
    for result in run_summary.latest_run(run_summary.open_store(settings.metadata_path)):
        if result.node.startswith("Trainer."):
            name = result.node.split(".", 1)[1]
            model_dir = result.outputs["model"][0].uri
            entries[f"{name}@{label}"] = model_entry(
                label, run_summary.model_metrics(result), directory_bytes(model_dir))
    return entries


def cold_start_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any, Any, int]]:
    """(bucket, model or "popularity", HR@10, NDCG@10, examples) of every COLDSTART model,
    popularity once per bucket (it is the same in every model's run). Other protocols' new
    movies (the few a TOPK or RATING test split holds) are not in it."""
    rows, popularity = [], {}
    for key, entry in results.items():
        if entry.get("protocol") != splits.Protocol.COLDSTART.value:
            continue
        for bucket, figures in sorted(entry.get("cold_start_buckets", {}).items()):
            rows.append((bucket, key.split("@", 1)[0], figures["hit_rate_at_10"],
                         figures["ndcg_at_10"], figures["examples"]))
            popularity[bucket] = ("popularity", figures["popularity_hit_rate_at_10"],
                                  figures["popularity_ndcg_at_10"], figures["examples"])
    rows += [(bucket, *figures) for bucket, figures in popularity.items()]
    return sorted(rows, key=lambda row: (row[0], row[1] == "popularity", row[1]))


def write(results: dict[str, dict[str, Any]], output: str) -> Path:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=float) + "\n")
    return path
