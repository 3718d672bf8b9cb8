"""The Trainer's run_fn: trains the model named in custom_config, evaluates it, exports it.

One Trainer node per model; the node's custom_config carries the model name and its
hyper-parameter overrides (strings, parsed by trainer.config). The distribution strategy comes
from the environment (DISTRIBUTION_ENV, see `make_strategy`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx

from contract import catalogue, splits, topk_metrics
from contract import features as F
from contract.keys import (
    DISTRIBUTION_ENV,
    HPARAMS_KEY,
    METRICS_FILE,
    MODEL_NAME_KEY,
    TENSORBOARD_KEY,
    TOP_K,
)
from trainer import data, evaluation, serving_requests, tensorboard, tflite, warm_start
from trainer.config import TRAINING_SEED, TrainingConfig, config_with_tuned
from trainer.errors import TrainingDiverged
from trainer.export import ServingModule, export
from trainer.models.base import RecommenderModel
from trainer.models.registry import build_model
from trainer.models.towers import VocabSizes

SCAN_BATCH = 4096
REFIT_RUN = "refit"  # the refit's TensorBoard curves: <model_run>/refit/train
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
    config: TrainingConfig  # as trained (a warm start trains fewer epochs)
    warm_start: dict[str, Any] | None = None  # warm_start.Report and epochs; None: cold


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

    The config is the model's defaults (trainer/config.py), then the Tuner's best
    hyper-parameters when the pipeline tuned (`fn_args.hyperparameters`), then the run's
    --hparam overrides, which win.

    The SavedModel holds TF Serving's warm-up requests (trainer.serving_requests). With a base
    model (the pipeline wires the last blessed model of this name when warm start is on) the
    model starts from its weights (trainer/warm_start.py). Models whose catalogue entry asks
    for it also get an on-device TFLite top-K under the SavedModel's `extra/` folder (see
    trainer.tflite), so the Pusher pushes both together.
    With several workers, only the chief's metrics and model are kept (see `output_dirs`).
    """
    strategy = make_strategy()  # first: no TensorFlow op may run before a multi-worker one
    name = fn_args.custom_config[MODEL_NAME_KEY]
    # Defaults, then the Tuner's best values (`--tune`), then the run's --hparam overrides.
    config = config_with_tuned(name, fn_args.hyperparameters,
                               fn_args.custom_config.get(HPARAMS_KEY) or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    with output_dirs(strategy, fn_args.model_run_dir, fn_args.serving_model_dir) as (
            run_dir, serving_dir):
        trained = train_and_evaluate(
            name, config, SplitFiles.of(fn_args), fn_args.data_accessor, tft_output, strategy,
            log_dir=run_dir, base_model=fn_args.base_model)
        tables = trained.tables
        _write_json(os.path.join(run_dir, METRICS_FILE), {
            "model": name, "config": dataclasses.asdict(trained.config),
            "eval": trained.metrics, "train_seconds": round(trained.train_seconds, 2),
            "training_curves": trained.curves, "warm_start": trained.warm_start})
        # A catalogue smaller than K (tiny data) returns all its movies.
        top_k = min(TOP_K, int(tables.catalogue[F.MOVIE_INDEX].shape[0]))
        write_projector(run_dir, trained.model, tables, tft_output)
        module = ServingModule(trained.model, tft_output, tables.catalogue, tables.users, top_k,
                               tables.seen)
        export(module, serving_dir)
        serving_requests.write_warmup(serving_dir, serving_requests.warmup_requests(
            name, module.signatures(), warmup_sample(tft_output, tables)))
        if catalogue.entry(name).tflite:
            tflite.write(trained.model, tables.catalogue, tft_output, serving_dir, top_k)
        if strategy.extended.should_checkpoint:  # the chief's logs only
            tensorboard.upload(fn_args.custom_config.get(TENSORBOARD_KEY), run_dir,
                               time.strftime("run-%Y%m%d-%H%M%S", time.gmtime()))
    wait_for_all_workers(strategy)


def warmup_sample(tft_output: tft.TFTransformOutput,
                  tables: data.TrainingTables) -> serving_requests.Sample:
    """Real ids for the warm-up requests: the vocabularies and the users' training movies."""
    def strings(name: str) -> list[str]:
        return [value.decode() for value in tft_output.vocabulary_by_name(name)]

    users = max(serving_requests.WARMUP_BATCHES)
    return serving_requests.sample_from_vocabulary(
        strings(F.USER_VOCAB), strings(F.MOVIE_VOCAB), tables.seen[:users].to_list(),
        data.history_length(tft_output))


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


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """File patterns of the transformed splits (contract/splits.py) the Trainer reads."""

    train: list[str]
    validation: list[str]
    eval: list[str]

    @classmethod
    def of(cls, fn_args: tfx.components.FnArgs) -> SplitFiles:
        """From the Trainer's train_args (TRAIN) and eval_args (EVAL, VALIDATION) patterns,
        TFX's `<uri>/Split-<name>/*` (one per input artifact)."""
        def of_split(split: str) -> list[str]:
            return [pattern for pattern in fn_args.eval_files
                    if os.path.basename(os.path.dirname(pattern)) == f"Split-{split}"]

        return cls(list(fn_args.train_files), of_split(splits.VALIDATION), of_split(splits.EVAL))


def train_and_evaluate(
    name: str,
    config: TrainingConfig,
    files: SplitFiles,
    data_accessor: tfx.components.DataAccessor,
    tft_output: tft.TFTransformOutput,
    strategy: tf.distribute.Strategy,
    log_dir: str | None = None,
    base_model: str | None = None,
) -> TrainedModel:
    """Builds model `name`, fits it on the train files (its curves on the validation files,
    and in TensorBoard's format under `log_dir` if given), then, with `config.refit`, once more
    on the train and validation files for as many epochs as the first fit kept (the curves of
    that fit prefixed `refit_`, under `log_dir`/refit); evaluates the last on the eval files.

    With `base_model` (a SavedModel of the same model) both fits start from that model's
    weights and train `warm_start_fraction` of the epochs; a base of other hyper-parameters is
    left aside (trained from scratch, with a warning)."""

    def batches(patterns: list[str], batch_size: int = SCAN_BATCH, shuffle: bool = False):
        return data.dataset(patterns, data_accessor, tft_output, batch_size, shuffle=shuffle)

    # Same data and config, same model: reruns compare like with like in the Evaluator gate.
    tf.keras.utils.set_random_seed(TRAINING_SEED)
    vocab = data.vocab_sizes(tft_output)
    validation = batches(files.validation) if files.validation else None
    tables = data.training_tables(batches(files.train), vocab, validation)
    if not tables.validation_movie_counts.any():  # e.g. no user with 3 ratings under TOPK
        validation = None
    base = _base(base_model, name, config, vocab.history_length)
    reports: list[warm_start.Report] = []
    initialize = None
    if base is not None:
        config = warm_start.warm_config(config)
        vocabularies = {vocabulary: tft_output.vocabulary_by_name(vocabulary)
                        for vocabulary in warm_start.VOCABULARIES}

        def initialize(model: RecommenderModel) -> None:
            warm_start.build(model, vocab)
            reports.append(warm_start.copy_weights(base, model, vocabularies))

    started = time.monotonic()
    callbacks = tensorboard.callbacks(log_dir, config.early_stopping_patience,
                                      has_validation=validation is not None)
    model, curves = fit(name, vocab, config, tables,
                        batches(files.train, config.batch_size, shuffle=True), strategy,
                        validation, callbacks, initialize)
    if validation is not None and config.refit:
        tf.keras.utils.set_random_seed(TRAINING_SEED)
        tables = tables.with_validation_fitted()
        epochs = kept_epochs(config, curves)
        refit_config = config if epochs == config.epochs else dataclasses.replace(
            config, epochs=epochs)
        refit_callbacks = tensorboard.callbacks(
            log_dir and os.path.join(log_dir, REFIT_RUN), has_validation=False)
        model, refit_curves = fit(
            name, vocab, refit_config, tables,
            batches(files.train + files.validation, config.batch_size, shuffle=True), strategy,
            callbacks=refit_callbacks, initialize=initialize)
        curves.update({f"refit_{metric}": values for metric, values in refit_curves.items()})
    train_seconds = time.monotonic() - started
    metrics = evaluate(model, tables, batches(files.eval))
    for stage in getattr(model, "stages", ()):  # a cascade: each stage alone, same split
        metrics[f"stage_{stage.name}"] = evaluate(stage, tables, batches(files.eval))
    report = {**reports[0].as_json(), "epochs": config.epochs} if reports else None
    return TrainedModel(model, tables, metrics, curves, train_seconds, config, report)


def _base(path: str | None, name: str, config: TrainingConfig,
          history_length: int) -> warm_start.BaseModel | None:
    """The base model to start from, None without one or when it does not fit `config`."""
    if not path:
        return None
    if catalogue.entry(name).stages:  # not measured for cascades: each stage trains anew
        logging.warning("warm start: %s is a cascade; training its stages from scratch", name)
        return None
    if refusal := config.warm_start_refusal:
        logging.warning("warm start: %s: %s; training from scratch", name, refusal)
        return None
    try:
        return warm_start.load_base(path, name, config, history_length)
    except warm_start.IncompatibleBase as error:
        logging.warning("warm start: %s; training %s from scratch", error, name)
        return None


def fit(
    name: str,
    vocab: VocabSizes,
    config: TrainingConfig,
    tables: data.TrainingTables,
    train_batches: tf.data.Dataset,
    strategy: tf.distribute.Strategy | None = None,
    validation_batches: tf.data.Dataset | None = None,
    callbacks: list[tf.keras.callbacks.Callback] | None = None,
    initialize: Callable[[RecommenderModel], None] | None = None,
) -> tuple[RecommenderModel, dict[str, list[float]]]:
    """Builds and compiles model `name` in `strategy`'s scope (then `initialize`s it there,
    e.g. a warm start), fits it for `config.epochs`.

    `train_batches` hold global batches ({name: [B, ...]}, B = config.batch_size): under a
    multi-worker strategy every worker passes the same ones and trains on its share of each
    (`data.shard_by_data`). Returns the model and its curves: metric -> per epoch, the
    validation ones prefixed `val_` when `validation_batches` are given. `callbacks` go to
    Keras' fit (TensorBoard, early stopping: see trainer.tensorboard).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(name, vocab, config, tables.catalogue, tables.movie_counts)
        if initialize is not None:
            initialize(model)
    validation = None if validation_batches is None else data.shard_by_data(validation_batches)
    history = model.fit(data.shard_by_data(train_batches), epochs=config.epochs, verbose=2,
                        validation_data=validation,
                        callbacks=[*(callbacks or ()), *_loss_guard(name, config)])
    return model, history.history


def kept_epochs(config: TrainingConfig, curves: dict[str, list[float]]) -> int:
    """The epochs of the fit whose weights were kept: with early stopping, up to the lowest
    validation loss (what EarlyStopping restored); otherwise all of them."""
    losses = curves.get(tensorboard.MONITORED)
    if not config.early_stopping_patience or not losses:
        return config.epochs
    return int(np.argmin(losses)) + 1


def _loss_guard(name: str, config: Any) -> list[tf.keras.callbacks.Callback]:
    """StopOnNonFiniteLoss for a model with its own optimiser; none for a cascade, whose stages
    train with their own configs (trainer.models.cascade)."""
    learning_rate = getattr(config, "learning_rate", None)
    return [] if learning_rate is None else [StopOnNonFiniteLoss(name, learning_rate)]


class StopOnNonFiniteLoss(tf.keras.callbacks.Callback):
    """Raises TrainingDiverged at the first NaN or infinite batch loss. Keras's TerminateOnNaN
    checks the same but only stops training, silently: run_fn would then export (and the
    Evaluator judge) a model full of NaN."""

    def __init__(self, model_name: str, learning_rate: float) -> None:
        super().__init__()
        self._name, self._learning_rate = model_name, learning_rate
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(self._name, float(loss), self._epoch + 1, batch + 1,
                                   self._learning_rate)

def write_projector(log_dir: str, model: RecommenderModel, tables: data.TrainingTables,
                    tft_output: tft.TFTransformOutput) -> None:
    """The model's movie vectors (what /similar serves) for TensorBoard's Embedding Projector,
    labelled with each movie's id, title and genres."""
    genre_names = [g.decode() for g in tft_output.vocabulary_by_name(F.GENRE_VOCAB)]
    multi_hot = tables.catalogue[F.GENRES_MULTI_HOT].numpy()
    genres = [[genre_names[i] for i in np.flatnonzero(row) if i < len(genre_names)]
              for row in multi_hot]
    movie_ids = [m.decode() for m in tft_output.vocabulary_by_name(F.MOVIE_VOCAB)]
    tensorboard.write_projector(log_dir, model.item_embeddings(tables.catalogue).numpy(),
                                movie_ids, tables.titles, genres)


def evaluate(
    model: RecommenderModel, tables: data.TrainingTables, eval_batches: tf.data.Dataset,
) -> dict[str, Any]:
    """HR@10/NDCG@10 over the full catalogue with seen movies removed (protocol TOPK), RMSE
    for rating models, on every eval example; HR@10 on the eval examples of cold users and of
    cold movies (< COLD_THRESHOLD training ratings; hit rate None if none); and, where the eval
    split has them (protocol COLDSTART), per-bucket figures of the model and of popularity
    (`cold_start_buckets`).

    Seen movies are the user's training movies (`tables.seen` [U + 1, None], row U, the unknown
    user, empty) and those the example gives as its history (a new user's given ratings).
    """
    seen = tables.seen
    seen_lists = np.split(seen.flat_values.numpy(), seen.row_splits.numpy()[1:-1])
    train_counts = {"user": seen.row_lengths().numpy(), "movie": tables.movie_counts}
    eval_features = _collect(eval_batches)
    user_index, movie_index = eval_features[F.USER_INDEX], eval_features[F.MOVIE_INDEX]
    num_movies = len(tables.movie_counts)
    seen_per_example = [np.union1d(seen_lists[u], _history_movies(history, num_movies))
                        for u, history in zip(user_index, eval_features[F.HISTORY_INDEX],
                                              strict=True)]
    ranks = evaluation.model_ranks(
        model, eval_features, {k: v.numpy() for k, v in tables.catalogue.items()}, movie_index,
        seen_per_example)
    metrics: dict[str, Any] = topk_metrics.metrics_from_ranks(ranks, k=TOP_K)
    if model.kind == catalogue.Kind.RATING:
        predictions = model.predict_rating(eval_features)
        metrics["rmse"] = topk_metrics.rmse(predictions, eval_features[F.RATING])
        metrics["rmse_standard_error"] = topk_metrics.rmse_standard_error(
            predictions, eval_features[F.RATING])
    metrics["eval_examples"] = int(len(user_index))
    for side, eval_ids in (("user", user_index), ("movie", movie_index)):
        cold = _training_count(train_counts[side], eval_ids) < COLD_THRESHOLD
        subset = topk_metrics.subset_hit_rate(ranks, cold, k=TOP_K)
        metrics[f"cold_{side}_hit_rate_at_{TOP_K}"] = subset[f"hit_rate_at_{TOP_K}"]
        metrics[f"cold_{side}_examples"] = subset["count"]
    buckets = cold_start_buckets(user_index >= len(seen_lists) - 1, movie_index >= num_movies,
                                 eval_features[F.HISTORY_LENGTH_FEATURE])
    if buckets:
        in_any = np.flatnonzero(np.logical_or.reduce(list(buckets.values())))
        popularity = np.zeros(len(ranks), np.int64)
        popularity[in_any] = _popularity_ranks(
            tables.movie_counts, movie_index[in_any], [seen_per_example[i] for i in in_any])
        metrics["cold_start_buckets"] = {
            name: {"examples": int(mask.sum()),
                   **topk_metrics.metrics_from_ranks(ranks[mask], k=TOP_K),
                   **{f"popularity_{key}": value for key, value in
                      topk_metrics.metrics_from_ranks(popularity[mask], k=TOP_K).items()}}
            for name, mask in buckets.items()}
    return metrics


def _popularity_ranks(movie_counts: np.ndarray, test_items: np.ndarray, seen: list,
                      batch_size: int = 256) -> np.ndarray:
    """[E] ranks of the held-out movies when the most rated unseen movies are recommended (a
    movie outside the catalogue has no training rating: a miss)."""
    scores = movie_counts.astype(np.float64)[None, :]
    return np.concatenate([
        topk_metrics.held_out_ranks(
            np.repeat(scores, len(test_items[start:start + batch_size]), axis=0),
            test_items[start:start + batch_size], seen[start:start + batch_size])
        for start in range(0, len(test_items), batch_size)] or [np.zeros(0, np.int64)])


def cold_start_buckets(new_user: np.ndarray, new_movie: np.ndarray,
                       history_length: np.ndarray) -> dict[str, np.ndarray]:
    """[E] masks of the eval examples by protocol COLDSTART's buckets: a new user given k
    ratings (`new_user_given_<k>`, k = the history given) and a known user's new movie
    (`new_movie`). Empty under the other protocols (no new user or movie)."""
    buckets = {f"new_user_given_{k}": new_user & (history_length == k)
               for k in splits.GIVEN_RATINGS}
    buckets["new_movie"] = new_movie & ~new_user
    return {name: mask for name, mask in buckets.items() if mask.any()}


def _history_movies(history_index: np.ndarray, num_movies: int) -> np.ndarray:
    """Catalogue movie indices of a history row (movie_index + 1, 0 padding, M + 1 unknown)."""
    known = history_index[(history_index > 0) & (history_index <= num_movies)]
    return known - 1


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
