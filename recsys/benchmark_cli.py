"""`recsys benchmark`: the five models through the local pipeline beside the peers, one table.

    recsys benchmark --data-dir ../shared/data/ml-100k --output benchmarks/results/quality.json

Runs the TFX pipeline (the same code path as `recsys run`) once per protocol: TOPK with all
five models, RATING with the rating models, and the pre-split PRESPLIT_NAME.base/.test pair
(RATING protocol's RMSE on the official split) when the data directory has it. Reads each
Trainer's metrics.json and exported model size from ML Metadata, runs the peers on the same
splits (`benchmarks.run_peers`), prints one table and writes JSON keyed `MODEL@PROTOCOL` for
the models and by peer name for the peers.

TensorFlow is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from recsys import protocols

MODEL_NAMES = ("mf", "retrieval", "ranking", "hybrid", "sequential")
RATING_MODELS = ("mf", "ranking")
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


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the `benchmark` sub-command to `recsys`."""
    bench = commands.add_parser(
        "benchmark", help="train the five models and the peers on the same splits; one table")
    bench.add_argument("--data-dir", required=True, help="directory with raw MovieLens files")
    bench.add_argument("--output", default=DEFAULT_OUTPUT,
                       help="JSON results file (default: %(default)s)")
    bench.add_argument("--work-dir", default=None,
                       help="pipeline outputs (default: a temporary directory, removed after)")
    bench.add_argument("--hparam", action="append", default=[], metavar="MODEL.KEY=VALUE",
                       help="override a hyper-parameter, as in `recsys run` (repeatable)")
    bench.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
    bench.set_defaults(handler=_benchmark)


def protocol_runs(data_dir: str) -> list[ProtocolRun]:
    """TOPK (all five), RATING (rating models), and PRESPLIT when its files exist."""
    runs = [ProtocolRun("topk", protocols.Protocol.TOPK.value, MODEL_NAMES),
            ProtocolRun("rating", protocols.Protocol.RATING.value, RATING_MODELS)]
    base, test = f"{PRESPLIT_NAME}.base", f"{PRESPLIT_NAME}.test"
    if os.path.exists(os.path.join(data_dir, base)) and os.path.exists(
            os.path.join(data_dir, test)):
        runs.append(ProtocolRun(PRESPLIT_NAME, protocols.Protocol.PRESPLIT.value,
                                RATING_MODELS, base, test))
    return runs


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


def _benchmark(args: argparse.Namespace) -> int:
    from benchmarks import run_peers

    started = time.monotonic()
    data_dir = os.path.abspath(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="recsys-benchmark-") as scratch:
        work_dir = args.work_dir or scratch
        models: dict[str, dict[str, Any]] = {}
        for run in protocol_runs(data_dir):
            models.update(_run_pipeline(args, run, data_dir, os.path.join(work_dir, run.label)))
    presplit = PRESPLIT_NAME if any(r.label == PRESPLIT_NAME for r in protocol_runs(data_dir)) \
        else None
    results = assemble(models, run_peers.run_all(Path(data_dir), presplit))
    print(run_peers.format_table(results))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=True, default=float) + "\n")
    print(f"benchmark finished in {time.monotonic() - started:.0f} s; wrote {output}")
    return 1 if any("error" in entry for entry in results.values()) else 0


def _run_pipeline(
    args: argparse.Namespace, run: ProtocolRun, data_dir: str, output_dir: str
) -> dict[str, dict[str, Any]]:
    """Runs the local pipeline for `run`; {MODEL@LABEL: entry} read back from ML Metadata."""
    from pipeline import local_runner
    from recsys import cli, run_summary

    # `recsys run`'s own parser fills every other option with its default.
    flags = ["run", "--data-dir", data_dir, "--output-dir", output_dir,
             "--models", ",".join(run.models), "--protocol", run.protocol]
    if run.train_file:
        flags += ["--train-file", run.train_file, "--eval-file", run.eval_file]
    for hparam in args.hparam:
        flags += ["--hparam", hparam]
    run_args = cli._parser().parse_args(flags + (["--verbose"] if args.verbose else []))
    settings, metadata_path = cli._settings(run_args)
    cli._show_progress(args.verbose)
    print(f"pipeline, protocol {run.label}: {', '.join(run.models)}", flush=True)
    local_runner.run(settings, metadata_path)
    entries = {}
    for result in run_summary.latest_run(run_summary.open_store(metadata_path)):
        if result.node.startswith("Trainer."):
            name = result.node.split(".", 1)[1]
            model_dir = result.outputs["model"][0].uri
            entries[f"{name}@{run.label}"] = model_entry(
                run.label, run_summary.model_metrics(result), directory_bytes(model_dir))
    return entries
