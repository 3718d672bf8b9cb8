"""Where signature calls run: in this process (a loaded SavedModel) or in TF Serving (REST).

Both take a batch of instances as plain Python lists of strings (a list of ids is one string,
see `join_ids`) and return numpy arrays, so the API code does not care which one it talks to.
"""

from __future__ import annotations

import functools
import json
import urllib.error
import urllib.request
from typing import Protocol

import numpy as np

from contract import keys
from recsys.serving import client as serving_client

Inputs = dict[str, list]  # input name -> [B] strings, or [B][N] booleans
Outputs = dict[str, np.ndarray]
join_ids = serving_client.join_ids


class BackendError(Exception):
    """The model could not answer (TF Serving down, bad model files)."""


class Backend(Protocol):
    signatures: frozenset[str]

    def call(self, signature: str, inputs: Inputs) -> Outputs: ...


class InProcessBackend:
    """A SavedModel loaded with tf.saved_model.load; signature functions called directly."""

    def __init__(self, path: str) -> None:
        import tensorflow as tf  # only the process that serves in-process needs TensorFlow

        saved_signatures(path)  # refuses an export in an older format before loading it
        self._tf = tf
        self._loaded = tf.saved_model.load(path)
        self._functions = dict(self._loaded.signatures)
        self._dtypes = {name: {arg: spec.dtype for arg, spec in
                               function.structured_input_signature[1].items()}
                        for name, function in self._functions.items()}
        self.signatures = frozenset(self._functions)
        self.path = path

    def call(self, signature: str, inputs: Inputs) -> Outputs:
        dtypes = self._dtypes[signature]
        tensors = {name: self._tf.constant(value, dtypes[name]) for name, value in inputs.items()}
        outputs = self._functions[signature](**tensors)
        return {name: decode_strings(value.numpy()) for name, value in outputs.items()}


class RestBackend:
    """Forwards to TF Serving's REST API (`/v1/models/NAME[/labels/LABEL]:predict`, columnar
    format); with a `label`, to the version TF Serving's models.config gives that label."""

    def __init__(self, base_url: str, model: str, signatures: frozenset[str],
                 timeout: float = 10.0, label: str | None = None) -> None:
        self.base_url, self.model, self.signatures = base_url, model, signatures
        self.label = label
        self._timeout = timeout

    def call(self, signature: str, inputs: Inputs) -> Outputs:
        body = json.dumps({"signature_name": signature, "inputs": inputs}).encode()
        request = urllib.request.Request(
            serving_client.rest_url(self.base_url, self.model, self.label), data=body,
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise BackendError(f"TF Serving: HTTP {error.code}: {error.read()[:200]!r}") from None
        except (urllib.error.URLError, OSError) as error:
            raise BackendError(f"cannot reach TF Serving at {self.base_url}: {error}") from None
        if "error" in answer or "outputs" not in answer:
            raise BackendError(f"TF Serving: {answer.get('error', 'no outputs')}")
        outputs = answer["outputs"]
        if not isinstance(outputs, dict):  # TF Serving drops the name of a lone output
            (name,) = serving_client.SIGNATURE_OUTPUTS[signature]
            outputs = {name: outputs}
        return {name: np.asarray(value) for name, value in outputs.items()}


def saved_signatures(path: str) -> frozenset[str]:
    """Signature names of a SavedModel on disk, read from saved_model.pb without TensorFlow
    sessions (used with --tf-serving, where this process loads no model). Raises BackendError
    for a model exported before id lists became one string per row (keys.ID_SEPARATOR): this
    service would send it inputs of the wrong shape."""
    signatures = _signature_defs(path)
    recommend = signatures.get(keys.RECOMMEND)
    if recommend is not None and len(recommend.inputs["history"].tensor_shape.dim) != 1:
        raise BackendError(f"{path}: exported by an older recsys-tfx (history as [B, N] "
                           "lists); re-run `recsys run` to export and push it again")
    return frozenset(signatures)


@functools.lru_cache(maxsize=256)  # a version directory never changes once pushed
def input_width(path: str, signature: str, name: str) -> int:
    """The static second dimension of input `name` [B, N] of a SavedModel's signature (e.g.
    score_features' history_keep: the run's history length), read from saved_model.pb."""
    dims = _signature_defs(path)[signature].inputs[name].tensor_shape.dim
    return dims[1].size


def _signature_defs(path: str):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(f"{path}/saved_model.pb", "rb") as handle:
        proto.ParseFromString(handle.read())
    return proto.meta_graphs[0].signature_def


def decode_strings(array: np.ndarray) -> np.ndarray:
    """TensorFlow's bytes as str (other dtypes as they are)."""
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array)
    return array
