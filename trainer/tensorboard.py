"""What the Trainer leaves for TensorBoard in its `model_run` directory (TFX's place for it):

    <model_run>/train/        per-epoch training metrics (Keras' TensorBoard callback)
    <model_run>/validation/   the same metrics on the validation split, one chart each
    <model_run>/embeddings/   the movie vectors for the Embedding Projector, with a metadata.tsv
                              of movie id, title and genres

`tensorboard --logdir PIPELINE_ROOT/Trainer.<model>/model_run` shows every run of a model side
by side. With a Vertex AI TensorBoard instance in custom_config (`recsys compile
--tensorboard`), the directory is also uploaded there once the model is trained (`upload`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from tensorboard.plugins import projector

from contract.keys import TENSORBOARD_EXPERIMENT, TENSORBOARD_RESOURCE

EMBEDDINGS_RUN = "embeddings"
METADATA_FILE = "metadata.tsv"
CHECKPOINT_PREFIX = "movie_embeddings.ckpt"
MONITORED = "val_loss"  # what early stopping watches: the task loss on the validation split
_TENSORBOARD_NAME = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tensorboards/(?P<id>[^/]+)$")


def callbacks(log_dir: str | None, early_stopping_patience: int = 0,
              has_validation: bool = True) -> list[tf.keras.callbacks.Callback]:
    """Keras' TensorBoard callback writing per-epoch curves under `log_dir` (train/ and
    validation/; none without a `log_dir`), plus EarlyStopping on the validation loss when a
    patience is set."""
    result: list[tf.keras.callbacks.Callback] = [] if log_dir is None else [
        tf.keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch", histogram_freq=0,
                                       write_graph=False, profile_batch=0)]
    if early_stopping_patience:
        if not has_validation:
            raise ValueError("early_stopping_patience needs a validation split to watch")
        result.append(tf.keras.callbacks.EarlyStopping(
            monitor=MONITORED, mode="min", patience=early_stopping_patience,
            restore_best_weights=True, verbose=1))
    return result


def write_projector(log_dir: str, embeddings: np.ndarray, movie_ids: Sequence[str],
                    titles: Sequence[str], genres: Sequence[Sequence[str]]) -> str:
    """The movie vectors [M, D] as a checkpoint in `log_dir`/embeddings/ with the projector
    config and a metadata.tsv row per movie (id, title, genres); returns that directory.

    A one-line text summary makes the directory a TensorBoard run, which is where the
    Projector looks for its config when the logdir holds several runs.
    """
    if not len(embeddings) == len(movie_ids) == len(titles) == len(genres):
        raise ValueError(f"{len(embeddings)} embeddings for {len(movie_ids)} movie ids, "
                         f"{len(titles)} titles and {len(genres)} genre lists")
    run_dir = os.path.join(log_dir, EMBEDDINGS_RUN)
    tf.io.gfile.makedirs(run_dir)
    with tf.io.gfile.GFile(os.path.join(run_dir, METADATA_FILE), "w") as handle:
        handle.write("movie_id\ttitle\tgenres\n")
        for row in zip(movie_ids, titles, genres, strict=True):
            handle.write("\t".join(_tsv_cell(cell) for cell in (row[0], row[1], "|".join(row[2])))
                         + "\n")
    variable = tf.Variable(np.asarray(embeddings, np.float32), name="movie_embeddings")
    checkpoint = tf.train.Checkpoint(movie_embeddings=variable)
    checkpoint.save(os.path.join(run_dir, CHECKPOINT_PREFIX))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "movie_embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = METADATA_FILE
    projector.visualize_embeddings(run_dir, config)
    with tf.summary.create_file_writer(run_dir).as_default():
        tf.summary.text("movie_embeddings", tf.constant(
            f"{len(movie_ids)} movies x {embeddings.shape[1]} dimensions: the vectors the "
            "model serves similar movies from. Open the Projector tab."), step=0)
    return run_dir


def _tsv_cell(text: str) -> str:
    """A metadata cell: tabs and line breaks would shift the projector's columns and rows."""
    return re.sub(r"[\t\r\n]+", " ", text) or "(none)"


def parse_tensorboard(resource_name: str) -> dict[str, str]:
    """projects/P/locations/R/tensorboards/ID -> {project, location, id}; ValueError else."""
    match = _TENSORBOARD_NAME.match(resource_name or "")
    if not match:
        raise ValueError(f"{resource_name!r} is not a Vertex AI TensorBoard, expected "
                         "projects/PROJECT/locations/REGION/tensorboards/ID")
    return match.groupdict()


def upload(setting: dict[str, Any] | None, log_dir: str, run_name: str) -> None:
    """Uploads `log_dir` to the Vertex AI TensorBoard in `setting` ({TENSORBOARD_RESOURCE:
    name, TENSORBOARD_EXPERIMENT: experiment}) as runs `run_name`/train, /validation ...;
    nothing without a setting.

    The aiplatform SDK's uploader (what `tb-gcp-uploader` runs), once, after training: it works
    the same whether the Trainer runs in its pipeline step or as a Vertex AI training job (the
    training job's own `tensorboard` field only exists for the latter, and would move the logs
    out of model_run), and a one-shot upload sends every point, where the SDK's streaming mode
    drops what was written after its last poll. A failed upload is logged, not raised: the
    logs stay in model_run and the trained model goes on to its Evaluator.
    """
    if not setting:
        return
    from google.cloud import aiplatform

    where = parse_tensorboard(setting[TENSORBOARD_RESOURCE])
    try:
        aiplatform.upload_tb_log(
            tensorboard_id=where["id"],
            tensorboard_experiment_name=setting[TENSORBOARD_EXPERIMENT], logdir=log_dir,
            project=where["project"], location=where["location"],
            run_name_prefix=f"{run_name}-", verbosity=0)
    except Exception:  # noqa: BLE001 - inspection must not cost the trained model
        logging.exception("Uploading %s to TensorBoard %s failed; the logs stay there.",
                          log_dir, setting[TENSORBOARD_RESOURCE])
