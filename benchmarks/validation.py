"""One model's validation figures on an existing run's Transform output: how the defaults in
trainer/config.py are chosen, without re-running the pipeline.

    python -m benchmarks.validation --run-dir runs/local sequential history_encoder=attention
    python -m benchmarks.validation --run-dir runs/local --seed 1 sequential

Fits MODEL (its defaults with the KEY=VALUE overrides) from training seed --seed (default
trainer.config.TRAINING_SEED; other seeds show how much of a difference is the draw) on the
run's transformed `train` split and scores its `validation` split, exactly as a Tuner trial
does (`trainer.tuning.validation_metrics`); the test split is never read. Prints one JSON
line and appends it to --log (default benchmarks/results/validation.jsonl).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from collections.abc import Sequence

import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx.components.util import tfxio_utils

from contract import splits
from pipeline.configs import PIPELINE_ROOT_DIR
from trainer import tuning
from trainer.config import TRAINING_SEED, config_with_overrides

DEFAULT_LOG = "benchmarks/results/validation.jsonl"
REPORTED = ("val_hit_rate_at_10", "val_ndcg_at_10", "val_rmse")


def latest_artifact(run_dir: str, output: str) -> str:
    """The newest artifact directory of Transform's `output` in a local run."""
    found = glob.glob(os.path.join(run_dir, PIPELINE_ROOT_DIR, "Transform", output, "*"))
    if not found:
        raise SystemExit(f"no Transform {output} under {run_dir}: run `recsys run` there first")
    return max(found, key=lambda path: int(os.path.basename(path)))


def tf_example_accessor() -> DataAccessor:
    def factory(patterns, options, schema):
        return tfxio_utils.make_tfxio(
            file_pattern=patterns, telemetry_descriptors=[], schema=schema,
            payload_format="FORMAT_TF_EXAMPLE").TensorFlowDataset(options)

    return DataAccessor(tf_dataset_factory=factory, record_batch_factory=None,
                        data_view_decode_fn=None)


def measure(run_dir: str, name: str, overrides: dict[str, str], seed: int = TRAINING_SEED
            ) -> dict:
    examples = latest_artifact(run_dir, "transformed_examples")
    tft_output = tft.TFTransformOutput(latest_artifact(run_dir, "transform_graph"))
    started = time.monotonic()
    metrics = tuning.validation_metrics(
        name, config_with_overrides(name, overrides),
        [os.path.join(examples, f"Split-{splits.TRAIN}", "*")],
        [os.path.join(examples, f"Split-{splits.VALIDATION}", "*")],
        tf_example_accessor(), tft_output, seed)
    return {"model": name, **overrides, "seed": seed,
            **{key: round(metrics[key], 4) for key in REPORTED if metrics.get(key) is not None},
            "seconds": round(time.monotonic() - started),
            "load_1min": float(open("/proc/loadavg").read().split()[0])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a `recsys run --output-dir`")
    parser.add_argument("--log", default=DEFAULT_LOG)
    parser.add_argument("--seed", type=int, default=TRAINING_SEED, help="training seed")
    parser.add_argument("model")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.overrides)
    line = json.dumps(measure(args.run_dir, args.model, overrides, args.seed))
    print(line)
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    with open(args.log, "a") as handle:
        handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
