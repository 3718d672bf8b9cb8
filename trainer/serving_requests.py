"""TF Serving requests for the exported signatures, and the warm-up file built from them.

`predict_request` is the gRPC PredictRequest every client of the project sends (the REST
service's TF Serving client, `recsys query`); `write_warmup` turns real requests into TF
Serving's warm-up file, `<SavedModel>/assets.extra/tf_serving_warmup_requests` (TFRecord of
PredictionLog), which TF Serving replays when it loads a version, before the version takes
traffic, so the first real requests do not pay for lazy initialisation (hash tables, the first
run of each signature's graph).

The Trainer writes the file into its export (not the Pusher): the Evaluator and the infra check
then see exactly what TF Serving will see, the infra check replays the file before anything is
pushed, and the Pusher copies the SavedModel directory as it is, so the pushed version holds it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from contract import keys

# Request batch sizes replayed per signature: a single request, and several rows (a batch TF
# Serving's batching could form) so that the batch dimension is exercised too.
WARMUP_BATCHES = (1, 3)
# Signatures TF Serving never receives: TFMA calls serving_tf_example in its own process.
NOT_SERVED = frozenset({keys.SERVING_TF_EXAMPLE})


def predict_request(model: str, signature: str, inputs: Mapping[str, Any],
                    label: str | None = None) -> predict_pb2.PredictRequest:
    """A PredictRequest for `model` (optionally its version `label`), one tensor per named
    input; values are nested lists or arrays of str / bool, shaped as the signature wants."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if label:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind in "US":
            array = array.astype(object)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


@dataclasses.dataclass(frozen=True)
class Sample:
    """Real ids of the model's vocabulary to build requests from (at least max(WARMUP_BATCHES)
    users and movies); `histories[i]` are movies user i rated."""

    user_ids: Sequence[str]
    movie_ids: Sequence[str]
    histories: Sequence[Sequence[str]]
    history_length: int  # the run's history length: score_features' history_keep width


def sample_from_vocabulary(user_ids: Sequence[str], movie_ids: Sequence[str],
                           seen: Sequence[Sequence[int]], history_length: int) -> Sample:
    """The most active users (the vocabularies are frequency-ordered), the most popular movies
    and the users' own latest `history_length` training movies (indices into `movie_ids`) as
    their histories; a vocabulary smaller than the largest warm-up batch (a tiny dataset) is
    used round-robin."""
    count = max(WARMUP_BATCHES)
    if not user_ids or not movie_ids:
        raise ValueError(f"warm-up requests need users and movies, the vocabularies have "
                         f"{len(user_ids)} and {len(movie_ids)}")
    users = [i % len(user_ids) for i in range(count)]
    histories = [[movie_ids[i] for i in list(seen[u])[-history_length:]] for u in users]
    return Sample([user_ids[u] for u in users],
                  [movie_ids[i % len(movie_ids)] for i in range(count)], histories,
                  history_length)


def warmup_requests(model: str, signatures: Mapping[str, Any], sample: Sample,
                    ) -> list[predict_pb2.PredictRequest]:
    """Requests of each batch size in WARMUP_BATCHES for every served signature.

    `signatures` maps names to concrete functions (`ServingModule.signatures()`), whose input
    names choose the values; an input this module does not know is an error, so a new
    signature cannot ship without warm-up requests.
    """
    requests = []
    for signature, function in sorted(signatures.items()):
        if signature in NOT_SERVED:
            continue
        names = list(function.function_type.parameters)
        for batch in WARMUP_BATCHES:
            inputs = {name: [_value(name, row, sample) for row in range(batch)] for name in names}
            requests.append(predict_request(model, signature, inputs))
    return requests


def _value(name: str, row: int, sample: Sample) -> Any:
    """Row `row`'s value of input `name`: the known user and movie of that row, row 1 with its
    history given in the request (a new user's query), movies to exclude, resets that vary."""
    if name == "user_id":
        return sample.user_ids[row]
    if name == "movie_id":
        return sample.movie_ids[row]
    if name == "history":
        return keys.ID_SEPARATOR.join(sample.histories[row]) if row == 1 else ""
    if name == "exclude_movie_ids":
        return keys.ID_SEPARATOR.join(sample.histories[row][:5])
    if name == "user_reset":
        return [(row >> i) & 1 == 1 for i in range(len(keys.USER_GROUPS))]
    if name == "history_keep":
        return [(position + row) % 2 == 0 for position in range(sample.history_length)]
    raise ValueError(f"no warm-up value for signature input {name!r}: add it to "
                     f"{__name__}._value")


def write_warmup(export_dir: str, requests: Sequence[predict_pb2.PredictRequest]) -> str:
    """Writes `requests` as TF Serving's warm-up file of `export_dir`; returns its path."""
    path = os.path.join(export_dir, keys.WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path

