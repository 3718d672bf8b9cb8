"""How `two_stage`'s `first_stage_weight` is chosen: the validation split, over training seeds.

    python -m benchmarks.cascade_weights --run-dir runs/ml100k --seeds 42,1 \\
        --weights 0,1,2,5,10,20

The weight only changes how the first stage's candidates are scored, so each stage is fitted
once per seed on the run's transformed `train` split, with its default config as the cascade
trains it, and the `validation` split (scored as a Tuner trial scores it,
`trainer.tuning.validation_metrics`) is ranked by the cascade of every (first-stage seed,
second-stage seed) pair at every weight; the test split is never read. Prints HR@10 / NDCG@10
per weight, the mean over the pairs and each pair's HR@10, then each stage alone, and writes
them as JSON (--output).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from benchmarks.validation import latest_artifact, tf_example_accessor
from contract import catalogue, splits
from trainer import data, task
from trainer.config import default_config
from trainer.models.base import RecommenderModel
from trainer.models.cascade import Cascade
from trainer.models.towers import VocabSizes

CASCADE = "two_stage"
DEFAULT_OUTPUT = "benchmarks/results/cascade_weights.json"
FIGURES = ("hit_rate_at_10", "ndcg_at_10")


def fit_stages(vocab: VocabSizes, tables: data.TrainingTables,
               train: Callable[[int], tf.data.Dataset], seeds: Sequence[int]
               ) -> dict[str, dict[int, RecommenderModel]]:
    """Stage name -> seed -> that stage fitted alone with its default config, from `seed`, on
    `train(batch_size)` (the training batches)."""
    fitted: dict[str, dict[int, RecommenderModel]] = {}
    for name in catalogue.entry(CASCADE).stages:
        config = default_config(name)
        for seed in seeds:
            tf.keras.utils.set_random_seed(seed)
            model, _ = task.fit(name, vocab, config, tables, train(config.batch_size))
            fitted.setdefault(name, {})[seed] = model
    return fitted


def sweep(stages: dict[str, dict[int, RecommenderModel]], vocab: VocabSizes,
          tables: data.TrainingTables, validation: tf.data.Dataset,
          weights: Sequence[float]) -> list[dict[str, Any]]:
    """One row per weight (the cascade of every seed pair) and per stage alone (every seed):
    {label, hit_rate_at_10, ndcg_at_10 (means), per_fit: [those of each pair or seed]}."""
    first, second = catalogue.entry(CASCADE).stages
    cascade = Cascade(catalogue.entry(CASCADE), vocab, default_config(CASCADE),
                      tables.catalogue, tables.movie_counts)
    rows = []
    for weight in weights:
        cascade.first_stage_weight = weight
        figures = []
        for first_seed, second_seed in itertools.product(stages[first], stages[second]):
            cascade.first, cascade.second = stages[first][first_seed], stages[second][second_seed]
            figures.append(task.evaluate(cascade, tables, validation))
        rows.append(_row(f"weight {weight:g}", figures))
    for name in (first, second):
        rows.append(_row(f"{name} alone", [task.evaluate(model, tables, validation)
                                           for model in stages[name].values()]))
    return rows


def _row(label: str, figures: list[dict[str, Any]]) -> dict[str, Any]:
    return {"label": label,
            **{key: float(np.mean([f[key] for f in figures])) for key in FIGURES},
            "per_fit": [{key: round(f[key], 4) for key in FIGURES} for f in figures]}


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'':<20}{'val HR@10':>10}{'val NDCG@10':>12}  HR@10 of each fit"]
    for row in rows:
        lines.append(f"{row['label']:<20}{row['hit_rate_at_10']:>10.4f}{row['ndcg_at_10']:>12.4f}"
                     f"  {' '.join(f'{fit[FIGURES[0]]:.4f}' for fit in row['per_fit'])}")
    return "\n".join(lines)


def measure(run_dir: str, seeds: Sequence[int], weights: Sequence[float]
            ) -> list[dict[str, Any]]:
    """The sweep on a local run's Transform output (see the module docstring)."""
    examples = latest_artifact(run_dir, "transformed_examples")
    tft_output = tft.TFTransformOutput(latest_artifact(run_dir, "transform_graph"))

    def split(name: str, batch_size: int = task.SCAN_BATCH, shuffle: bool = False
              ) -> tf.data.Dataset:
        return data.dataset([os.path.join(examples, f"Split-{name}", "*")],
                            tf_example_accessor(), tft_output, batch_size, shuffle=shuffle)

    vocab = data.vocab_sizes(tft_output)
    tables = data.training_tables(split(splits.TRAIN), vocab)
    stages = fit_stages(vocab, tables,
                        lambda batch_size: split(splits.TRAIN, batch_size, shuffle=True), seeds)
    return sweep(stages, vocab, tables, split(splits.VALIDATION), weights)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a `recsys run --output-dir`")
    parser.add_argument("--seeds", default="42,1", help="training seeds (default: 42,1)")
    parser.add_argument("--weights", default="0,1,2,5,10,20")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    rows = measure(args.run_dir, [int(seed) for seed in args.seeds.split(",")],
                   [float(weight) for weight in args.weights.split(",")])
    print(format_table(rows))
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump({"run_dir": args.run_dir, "seeds": args.seeds, "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
