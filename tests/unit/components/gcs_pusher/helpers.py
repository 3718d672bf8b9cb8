"""The tiny model and the Pusher execution shared by the pusher tests."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.cloud import storage
from tfx.types import standard_artifacts, standard_component_specs

MOVIES = ["m10", "m20", "m30"]
# Row i = movie i; the extra last row is what unknown movies would gather.
EMBEDDINGS = np.arange(4 * 4, dtype=np.float32).reshape(4, 4) / 10


class TinyRecommender(tf.Module):
    """Same signature names and dtypes as trainer.export.ServingModule.item_embeddings."""

    def __init__(self, vocab_file: str):
        super().__init__()
        self.vocab = tf.saved_model.Asset(vocab_file)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
            default_value=-1)
        self.vectors = tf.Variable(EMBEDDINGS)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def item_embeddings(self, movie_id):
        index = self.table.lookup(movie_id)
        known = index >= 0
        vectors = tf.gather(self.vectors, tf.where(known, index, len(MOVIES)))
        return {"embedding": tf.where(known[:, None], vectors, 0.0), "known": known}


class PushRun:
    """The input/output dicts and exec properties of one Pusher execution."""

    def __init__(self, model_uri: str, blessed: bool, destination: str, out_dir: Path):
        self.model = standard_artifacts.Model()
        self.model.uri = model_uri
        self.blessing = standard_artifacts.ModelBlessing()
        self.blessing.uri = str(out_dir / "blessing")
        self.blessing.set_int_custom_property("blessed", int(blessed))
        self.pushed = standard_artifacts.PushedModel()
        self.pushed.uri = str(out_dir / f"pushed_model_{uuid.uuid4().hex[:8]}")
        os.makedirs(self.pushed.uri)
        self.input_dict = {standard_component_specs.MODEL_KEY: [self.model],
                           standard_component_specs.MODEL_BLESSING_KEY: [self.blessing]}
        self.output_dict = {standard_component_specs.PUSHED_MODEL_KEY: [self.pushed]}
        self.exec_properties = {standard_component_specs.PUSH_DESTINATION_KEY: json.dumps(
            {"filesystem": {"base_directory": destination}})}

    @property
    def version(self) -> str:
        return self.pushed.get_string_custom_property("pushed_version")


def objects(bucket: storage.Bucket, prefix: str = "") -> dict[str, int]:
    """Object name -> generation, straight from the API."""
    return {b.name: b.generation for b in bucket.client.list_blobs(bucket, prefix=prefix)}
