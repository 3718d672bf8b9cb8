"""The Trainer's run_fn: trains the model named in custom_config, evaluates it, exports it.

One Trainer node per model; the node's custom_config carries the model name and its
hyper-parameter overrides (strings, parsed by trainer.config). The distribution strategy comes
from the environment (DISTRIBUTION_ENV, see `make_strategy`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from contract import catalogue, topk_metrics
from contract import features as F
from contract.keys import DISTRIBUTION_ENV, HPARAMS_KEY, METRICS_FILE, MODEL_NAME_KEY, TOP_K
from trainer import data, evaluation, serving_requests, tflite
from trainer.config import TrainingConfig, config_with_overrides
from trainer.export import ServingModule, export
from trainer.models.base import RecommenderModel
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes

SCAN_BATCH = 4096
TRAINING_SEED = 42
# Users or movies with fewer training ratings than this count as cold in the eval report.
COLD_THRESHOLD = 5
STRATEGIES = {
    "default": tf.distribute.get_strategy,  # no distribution: one device
    "mirrored": tf.distribute.MirroredStrategy,  # all local GPUs
    "multi_worker": tf.distribute.MultiWorkerMirroredStrategy,  # the cluster in TF_CONFIG
}


@dataclasses.dataclass
class TrainedModel:
    """A trained model, the tables its serving module needs, and its eval report."""

    model: RecommenderModel
    tables: data.TrainingTables
    metrics: dict[str, Any]
    curves: dict[str, list[float]]
    train_seconds: float


def make_strategy(kind: str | None = None) -> tf.distribute.Strategy:
    """The distribution strategy `kind` (default: $RECSYS_DISTRIBUTION, else "default").

    "multi_worker" must be made before TensorFlow runs any op (it configures the collective
    ops), and every worker runs the same program with its own TF_CONFIG.
    """
    kind = kind or os.environ.get(DISTRIBUTION_ENV) or "default"
    if kind not in STRATEGIES:
        raise ValueError(f"{DISTRIBUTION_ENV}={kind!r}: expected one of {sorted(STRATEGIES)}")
    return STRATEGIES[kind]()


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train, evaluate on the eval split (protocol metrics), export the SavedModel.

    The SavedModel holds TF Serving's warm-up requests (trainer.serving_requests). Models whose
    catalogue entry asks for it also get an on-device TFLite top-K under the SavedModel's
    `extra/` folder (see trainer.tflite), so the Pusher pushes both together.
    With several workers, only the chief's metrics and model are kept (see `output_dirs`).
    """
    strategy = make_strategy()  # first: no TensorFlow op may run before a multi-worker one
    name = fn_args.custom_config[MODEL_NAME_KEY]
    config = config_with_overrides(name, fn_args.custom_config.get(HPARAMS_KEY) or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    trained = train_and_evaluate(
        name, config, fn_args.train_files, fn_args.eval_files, fn_args.data_accessor, tft_output,
        strategy)
    tables = trained.tables
    with output_dirs(strategy, fn_args.model_run_dir, fn_args.serving_model_dir) as (
            run_dir, serving_dir):
        _write_json(os.path.join(run_dir, METRICS_FILE), {
            "model": name, "config": dataclasses.asdict(config), "eval": trained.metrics,
            "train_seconds": round(trained.train_seconds, 2), "training_curves": trained.curves})
        module = ServingModule(trained.model, tft_output, tables.catalogue, tables.users, TOP_K,
                               tables.seen)
        export(module, serving_dir)
        serving_requests.write_warmup(serving_dir, serving_requests.warmup_requests(
            name, module.signatures(), warmup_sample(tft_output, tables)))
        if catalogue.entry(name).tflite:
            tflite.write(trained.model, tables.catalogue, tft_output, serving_dir, TOP_K)
    wait_for_all_workers(strategy)


def warmup_sample(tft_output: tft.TFTransformOutput,
                  tables: data.TrainingTables) -> serving_requests.Sample:
    """Real ids for the warm-up requests: the vocabularies and the users' training movies."""
    def strings(name: str) -> list[str]:
        return [value.decode() for value in tft_output.vocabulary_by_name(name)]

    users = max(serving_requests.WARMUP_BATCHES)
    return serving_requests.sample_from_vocabulary(
        strings(F.USER_VOCAB), strings(F.MOVIE_VOCAB), tables.seen[:users].to_list())


def wait_for_all_workers(strategy: tf.distribute.Strategy) -> None:
    """A barrier (one all-reduce across every replica of every worker).

    Called after the chief's export: TFX's Trainer executor checks on every worker that
    `serving_model_dir` (one shared gs:// directory on Vertex AI) exists once run_fn returns, so
    a worker that returned before the chief wrote it would fail the step.
    """
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)),
                    axis=None)


@contextlib.contextmanager
def output_dirs(strategy: tf.distribute.Strategy, *dirs: str) -> Iterator[tuple[str, ...]]:
    """`dirs` on the chief (or without distribution); throw-away directories on the other
    workers, which must save too: saving reads synced variables with collective ops."""
    if strategy.extended.should_checkpoint:
        yield dirs
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield tuple(os.path.join(scratch, str(i)) for i in range(len(dirs)))


def train_and_evaluate(
    name: str,
    config: TrainingConfig,
    train_files: list[str],
    eval_files: list[str],
    data_accessor: tfx.components.DataAccessor,
    tft_output: tft.TFTransformOutput,
    strategy: tf.distribute.Strategy,
) -> TrainedModel:
    """Builds model `name`, fits it on the transformed train files, evaluates on eval files."""

    def batches(files: list[str], batch_size: int = SCAN_BATCH, shuffle: bool = False):
        return data.dataset(files, data_accessor, tft_output, batch_size, shuffle=shuffle)

    # Same data and config, same model: reruns compare like with like in the Evaluator gate.
    tf.keras.utils.set_random_seed(TRAINING_SEED)
    vocab = data.vocab_sizes(tft_output)
    tables = data.training_tables(batches(train_files), vocab)
    started = time.monotonic()
    model, curves = fit(name, vocab, config, tables,
                        batches(train_files, config.batch_size, shuffle=True), strategy)
    train_seconds = time.monotonic() - started
    metrics = evaluate(model, tables, batches(eval_files))
    return TrainedModel(model, tables, metrics, curves, train_seconds)


def fit(
    name: str,
    vocab: VocabSizes,
    config: TrainingConfig,
    tables: data.TrainingTables,
    train_batches: tf.data.Dataset,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[RecommenderModel, dict[str, list[float]]]:
    """Builds and compiles model `name` in `strategy`'s scope, fits it for `config.epochs`.

    `train_batches` hold global batches ({name: [B, ...]}, B = config.batch_size): under a
    multi-worker strategy every worker passes the same ones and trains on its share of each
    (`data.shard_by_data`). Returns the model and its training curves (metric -> per epoch).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(name, vocab, config, tables.catalogue, tables.movie_counts)
    history = model.fit(data.shard_by_data(train_batches), epochs=config.epochs, verbose=2)
    return model, history.history


def evaluate(
    model: RecommenderModel, tables: data.TrainingTables, eval_batches: tf.data.Dataset,
) -> dict[str, Any]:
    """HR@10/NDCG@10 over the full catalogue with training movies removed (protocol TOPK),
    RMSE for rating models, on every eval example; plus HR@10 on the eval examples of cold
    users and of cold movies (< COLD_THRESHOLD training ratings; hit rate None if none).

    `tables.seen` [U + 1, None] holds each user's training movies (row U, the unknown user,
    empty).
    """
    seen = tables.seen
    seen_lists = np.split(seen.flat_values.numpy(), seen.row_splits.numpy()[1:-1])
    train_counts = {"user": seen.row_lengths().numpy(), "movie": tables.movie_counts}
    eval_features = _collect(eval_batches)
    user_index, movie_index = eval_features[F.USER_INDEX], eval_features[F.MOVIE_INDEX]
    ranks = evaluation.model_ranks(
        model, eval_features, {k: v.numpy() for k, v in tables.catalogue.items()}, movie_index,
        [seen_lists[u] for u in user_index])
    metrics: dict[str, Any] = topk_metrics.metrics_from_ranks(ranks, k=TOP_K)
    if model.kind == catalogue.Kind.RATING:
        predictions = model.predict_rating(eval_features)
        metrics["rmse"] = topk_metrics.rmse(predictions, eval_features[F.RATING])
    metrics["eval_examples"] = int(len(user_index))
    for side, eval_ids in (("user", user_index), ("movie", movie_index)):
        cold = _training_count(train_counts[side], eval_ids) < COLD_THRESHOLD
        subset = topk_metrics.subset_hit_rate(ranks, cold, k=TOP_K)
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
