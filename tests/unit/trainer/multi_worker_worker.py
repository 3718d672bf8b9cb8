"""One worker of test_multi_worker.py: trains `retrieval` on tiny data with the strategy the
trainer picks from the environment, and writes what it trained on and the weights it ended with.

Run from the repository root as `python -m tests.unit.trainer.multi_worker_worker OUT_DIR` with
TF_USE_LEGACY_KERAS=1, RECSYS_DISTRIBUTION=multi_worker and this worker's TF_CONFIG. Writes
OUT_DIR/worker-<index>.npz and, after `task.wait_for_all_workers`,
OUT_DIR/after-barrier-<index>.json (whether it saw the chief's output); the chief (only) also
writes OUT_DIR/chief.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from contract import features as F
from tests.fixtures.model_inputs import VOCAB
from tests.fixtures.model_inputs import make_features as _make_features
from trainer import data, task
from trainer.config import TRAINING_SEED, config_with_overrides

EXAMPLES, BATCH_SIZE, EPOCHS = 256, 64, 2
CHIEF_EXPORT_SECONDS = 3


def tiny_batches() -> tf.data.Dataset:
    """EXAMPLES transformed examples in global batches of BATCH_SIZE; each example's number
    rides in timestamp_scaled, a feature the retrieval model does not read."""
    features = dict(_make_features(EXAMPLES, seed=1, pattern="user"))
    features[F.TIMESTAMP_SCALED] = tf.range(EXAMPLES, dtype=tf.float32)
    return tf.data.Dataset.from_tensor_slices(features).batch(BATCH_SIZE)


def train(strategy: tf.distribute.Strategy | None) -> tf.keras.Model:
    """The trainer's `fit` of a small retrieval model on `tiny_batches`, seeded as in run_fn."""
    tf.keras.utils.set_random_seed(TRAINING_SEED)
    batches = tiny_batches()
    # Adagrad, unlike Adam, scales its step with the gradient: a wrong loss scaling shows.
    config = config_with_overrides("retrieval", {
        "embedding_dim": "8", "epochs": str(EPOCHS), "batch_size": str(BATCH_SIZE),
        "optimizer": "adagrad", "learning_rate": "0.1"})
    model, _ = task.fit("retrieval", VOCAB, config, data.training_tables(batches, VOCAB),
                        batches, strategy)
    return model


def local_shard(strategy: tf.distribute.Strategy) -> list[np.ndarray]:
    """The example numbers of each local batch this worker gets from the distributed data."""
    distributed = strategy.experimental_distribute_dataset(data.shard_by_data(tiny_batches()))
    return [
        np.concatenate([part[F.TIMESTAMP_SCALED].numpy()
                        for part in strategy.experimental_local_results(batch)])
        for batch in distributed
    ]


def main(out_dir: str) -> None:
    strategy = task.make_strategy()  # before any other TensorFlow op
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    model = train(strategy)
    shard = local_shard(strategy)
    np.savez(os.path.join(out_dir, f"worker-{index}.npz"), replicas=strategy.num_replicas_in_sync,
             batches=len(shard), examples=np.concatenate(shard).astype(np.int64),
             **{f"weight_{i}": w for i, w in enumerate(model.get_weights())})
    with task.output_dirs(strategy, out_dir) as (kept,):
        if strategy.extended.should_checkpoint:
            time.sleep(CHIEF_EXPORT_SECONDS)  # a slow export: the others must wait for it
        os.makedirs(kept, exist_ok=True)
        with open(os.path.join(kept, "chief.json"), "w") as handle:
            json.dump({"index": index}, handle)
    task.wait_for_all_workers(strategy)
    # What TFX's executor checks on every worker once run_fn returns: the chief's output.
    with open(os.path.join(out_dir, f"after-barrier-{index}.json"), "w") as handle:
        json.dump({"chief_output_seen": os.path.exists(os.path.join(out_dir, "chief.json"))},
                  handle)


if __name__ == "__main__":
    main(sys.argv[1])
