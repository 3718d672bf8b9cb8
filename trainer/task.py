"""The Trainer's run_fn: trains the model named in custom_config, evaluates it, exports it.

One Trainer node per model; the node's custom_config carries the model name and its
hyper-parameter overrides (strings, parsed by trainer.config).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from recsys import features as F
from trainer import data, evaluation, tflite
from trainer.config import TrainingConfig, config_with_overrides
from trainer.export import ServingModule, export
from trainer.models.base import RATING, RecommenderModel
from trainer.models.registry import build_model

MODEL_NAME_KEY = "model_name"
HPARAMS_KEY = "hparams"
TOP_K = 10
METRICS_FILE = "metrics.json"  # in the model run dir: eval metrics, training time and curves
SCAN_BATCH = 4096
TRAINING_SEED = 42
# Users or movies with fewer training ratings than this count as cold in the eval report.
COLD_THRESHOLD = 5


@dataclasses.dataclass
class TrainedModel:
    """A trained model, the tables its serving module needs, and its eval report."""

    model: RecommenderModel
    catalogue: dict[str, tf.Tensor]
    users: dict[str, tf.Tensor]
    seen: tf.RaggedTensor  # [U + 1, None] movie indices each user rated in training
    metrics: dict[str, Any]
    curves: dict[str, list[float]]
    train_seconds: float


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train, evaluate on the eval split (protocol metrics), export the SavedModel.

    The sequential model also gets an on-device TFLite top-K under the SavedModel's
    `extra/` folder (see trainer.tflite), so the Pusher pushes both together.
    """
    name = fn_args.custom_config[MODEL_NAME_KEY]
    config = config_with_overrides(name, fn_args.custom_config.get(HPARAMS_KEY) or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    trained = train_and_evaluate(
        name, config, fn_args.train_files, fn_args.eval_files, fn_args.data_accessor, tft_output)
    _write_json(os.path.join(fn_args.model_run_dir, METRICS_FILE), {
        "model": name, "config": dataclasses.asdict(config), "eval": trained.metrics,
        "train_seconds": round(trained.train_seconds, 2), "training_curves": trained.curves})
    export(ServingModule(trained.model, tft_output, trained.catalogue, trained.users, TOP_K,
                         trained.seen), fn_args.serving_model_dir)
    if name == "sequential":
        tflite.write(trained.model, trained.catalogue, tft_output, fn_args.serving_model_dir,
                     TOP_K)


def train_and_evaluate(
    name: str,
    config: TrainingConfig,
    train_files: list[str],
    eval_files: list[str],
    data_accessor: tfx.components.DataAccessor,
    tft_output: tft.TFTransformOutput,
) -> TrainedModel:
    """Builds model `name`, fits it on the transformed train files, evaluates on eval files."""

    def batches(files: list[str], batch_size: int = SCAN_BATCH, shuffle: bool = False):
        return data.dataset(files, data_accessor, tft_output, batch_size, shuffle=shuffle)

    # Same data and config, same model: reruns compare like with like in the Evaluator gate.
    tf.keras.utils.set_random_seed(TRAINING_SEED)
    vocab = data.vocab_sizes(tft_output)
    catalogue = data.catalogue(batches(train_files), vocab.movies)
    users = data.user_table(batches(train_files), vocab.users)
    seen = data.seen_movies(batches(train_files), vocab.users)
    model = build_model(name, vocab, config, catalogue)
    started = time.monotonic()
    history = model.fit(batches(train_files, config.batch_size, shuffle=True),
                        epochs=config.epochs, verbose=2)
    train_seconds = time.monotonic() - started
    metrics = evaluate(model, catalogue, seen, batches(eval_files))
    return TrainedModel(model, catalogue, users, seen, metrics, history.history, train_seconds)


def evaluate(
    model: RecommenderModel, catalogue: dict[str, tf.Tensor], seen: tf.RaggedTensor,
    eval_batches: tf.data.Dataset,
) -> dict[str, Any]:
    """HR@10/NDCG@10 over the full catalogue with training movies removed (protocol TOPK),
    RMSE for rating models, on every eval example; plus HR@10 on the eval examples of cold
    users and of cold movies (< COLD_THRESHOLD training ratings; hit rate None if none).

    `seen` [U + 1, None] holds each user's training movies (row U, the unknown user, empty).
    """
    seen_lists = np.split(seen.flat_values.numpy(), seen.row_splits.numpy()[1:-1])
    train_counts = {"user": seen.row_lengths().numpy(),
                    "movie": np.bincount(seen.flat_values.numpy())}
    eval_features = _collect(eval_batches)
    user_index, movie_index = eval_features[F.USER_INDEX], eval_features[F.MOVIE_INDEX]
    ranks = evaluation.model_ranks(
        model, eval_features, {k: v.numpy() for k, v in catalogue.items()}, movie_index,
        [seen_lists[u] for u in user_index])
    metrics: dict[str, Any] = evaluation.metrics_from_ranks(ranks, k=TOP_K)
    if model.kind == RATING:
        predictions = model.predict_rating(eval_features)
        metrics["rmse"] = evaluation.rmse(predictions, eval_features[F.RATING])
    metrics["eval_examples"] = int(len(user_index))
    for side, eval_ids in (("user", user_index), ("movie", movie_index)):
        cold = _training_count(train_counts[side], eval_ids) < COLD_THRESHOLD
        subset = evaluation.subset_hit_rate(ranks, cold, k=TOP_K)
        metrics[f"cold_{side}_hit_rate_at_{TOP_K}"] = subset[f"hit_rate_at_{TOP_K}"]
        metrics[f"cold_{side}_examples"] = subset["count"]
    return metrics


def _training_count(counts: np.ndarray, eval_ids: np.ndarray) -> np.ndarray:
    """[E] training examples of each eval id (0 for ids beyond `counts`, e.g. OOV)."""
    padded = np.zeros(max(len(counts), int(eval_ids.max()) + 1), np.int64)
    padded[:len(counts)] = counts
    return padded[eval_ids]


def _collect(batches: tf.data.Dataset) -> dict[str, np.ndarray]:
    parts = list(batches.as_numpy_iterator())
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _write_json(path: str, payload: dict) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as handle:
        json.dump(payload, handle, indent=2, default=float)
