"""On-device top-K for the sequential model: its query tower + brute-force top-K as TFLite.

Written inside the SavedModel directory (`extra/`, which TF Serving ignores), so the Pusher
ships it with the model:

- `extra/model.tflite`: history_index [B, L] int64 (movie_index + 1, 0 = padding, newest last,
  as Transform writes it: L is the run's history length) -> movie_index [B, K] int32,
  scores [B, K] float32,
  over every catalogue movie (the app filters what the user has already seen);
- `extra/movie_ids.txt`: the movie vocabulary, line i = the movie id of movie_index i.
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_transform as tft

from contract import features as F
from trainer import data
from trainer.models.base import RecommenderModel

EXTRA_DIR = "extra"
TFLITE_FILE = "model.tflite"
MOVIE_IDS_FILE = "movie_ids.txt"


def convert(model: RecommenderModel, catalogue: dict[str, tf.Tensor], top_k: int,
            history_length: int) -> bytes:
    """The TFLite flatbuffer (builtin ops only) of history [B, history_length] -> top-K over
    the catalogue."""
    candidates = tf.constant(model.candidate_embeddings(catalogue))

    @tf.function(input_signature=[tf.TensorSpec([None, history_length], tf.int64)])
    def recommend(history_index: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = model.score(model.query_embeddings({F.HISTORY_INDEX: history_index}),
                             candidates)
        top = tf.math.top_k(scores, k=top_k)
        return {"movie_index": top.indices, "scores": top.values}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [recommend.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def write(
    model: RecommenderModel, catalogue: dict[str, tf.Tensor],
    tf_transform_output: tft.TFTransformOutput, saved_model_dir: str, top_k: int,
) -> str:
    """Writes extra/model.tflite and extra/movie_ids.txt; returns the .tflite path. The input's
    width is the history length Transform wrote (its history_index feature's)."""
    folder = os.path.join(saved_model_dir, EXTRA_DIR)
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, TFLITE_FILE)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(convert(model, catalogue, top_k, data.history_length(tf_transform_output)))
    movie_ids = tf_transform_output.vocabulary_by_name(F.MOVIE_VOCAB)
    with tf.io.gfile.GFile(os.path.join(folder, MOVIE_IDS_FILE), "w") as handle:
        handle.write("".join(m.decode() + "\n" for m in movie_ids))
    return path


def top_k(tflite_model: bytes, history_index: tf.Tensor) -> dict[str, tf.Tensor]:
    """Runs the TFLite model: history_index [B, L] -> {movie_index [B, K], scores [B, K]}."""
    runner = tf.lite.Interpreter(model_content=tflite_model).get_signature_runner()
    return runner(history_index=tf.cast(history_index, tf.int64))
