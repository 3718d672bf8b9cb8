"""The Trainer's run_fn: trains the model named in custom_config and exports it.

One Trainer node per model; the node's custom_config carries the model name and its
hyper-parameter overrides (strings, parsed by trainer.config).
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from recsys import features as F
from trainer import data, evaluation
from trainer.config import config_with_overrides
from trainer.export import ServingModule, export
from trainer.models.base import RATING
from trainer.models.registry import build_model

MODEL_NAME_KEY = "model_name"
HPARAMS_KEY = "hparams"
TOP_K = 10
METRICS_FILE = "metrics.json"  # in the model run dir: eval metrics + training curves
SCAN_BATCH = 4096


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train, evaluate on the eval split (protocol metrics), export the SavedModel."""
    name = fn_args.custom_config[MODEL_NAME_KEY]
    config = config_with_overrides(name, fn_args.custom_config.get(HPARAMS_KEY) or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    def batches(files: list[str], batch_size: int = SCAN_BATCH, shuffle: bool = False):
        return data.dataset(files, fn_args.data_accessor, tft_output, batch_size,
                            shuffle=shuffle)

    vocab = data.vocab_sizes(tft_output)
    catalogue = data.catalogue(batches(fn_args.train_files), vocab.movies)
    users = data.user_table(batches(fn_args.train_files), vocab.users)
    model = build_model(name, vocab, config)
    history = model.fit(
        batches(fn_args.train_files, config.batch_size, shuffle=True), epochs=config.epochs,
        verbose=2)
    metrics = evaluate(model, catalogue, batches(fn_args.train_files),
                       batches(fn_args.eval_files), vocab.users)
    _write_json(os.path.join(fn_args.model_run_dir, METRICS_FILE),
                {"model": name, "config": config.__dict__, "eval": metrics,
                 "training_curves": history.history})
    export(ServingModule(model, tft_output, catalogue, users, TOP_K), fn_args.serving_model_dir)


def evaluate(
    model, catalogue: dict[str, tf.Tensor], train: tf.data.Dataset, eval_batches: tf.data.Dataset,
    num_users: int,
) -> dict[str, float]:
    """HR@10/NDCG@10 over the full catalogue with training movies removed (protocol TOPK),
    and RMSE for rating models, on every eval example."""
    seen = _seen_by_user(train, num_users)
    eval_features = _collect(eval_batches)
    user_index = eval_features[F.USER_INDEX]
    metrics = evaluation.model_top_k_metrics(
        model, eval_features, {k: v.numpy() for k, v in catalogue.items()},
        eval_features[F.MOVIE_INDEX], [seen[u] if u < num_users else [] for u in user_index],
        k=TOP_K)
    if model.kind == RATING:
        predictions = model.predict_rating(eval_features)
        metrics["rmse"] = evaluation.rmse(predictions, eval_features[F.RATING])
    metrics["eval_examples"] = int(len(user_index))
    return metrics


def _seen_by_user(batches: tf.data.Dataset, num_users: int) -> list[np.ndarray]:
    pairs = [(np.asarray(b[F.USER_INDEX]).reshape(-1), np.asarray(b[F.MOVIE_INDEX]).reshape(-1))
             for b in batches.as_numpy_iterator()]
    users = np.concatenate([u for u, _ in pairs])
    movies = np.concatenate([m for _, m in pairs])
    order = np.argsort(users, kind="stable")
    bounds = np.searchsorted(users[order], np.arange(num_users + 1))
    return [movies[order[bounds[u]:bounds[u + 1]]] for u in range(num_users)]


def _collect(batches: tf.data.Dataset) -> dict[str, np.ndarray]:
    parts = list(batches.as_numpy_iterator())
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _write_json(path: str, payload: dict) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as handle:
        json.dump(payload, handle, indent=2, default=float)
