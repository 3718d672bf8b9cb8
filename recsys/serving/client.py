"""TF Serving requests for the exported signatures (trainer/export.py), REST and gRPC.

Building and parsing are pure functions, so tests can feed the exact request bodies to a
SavedModel; only `rest_predict` and `grpc_predict` touch the network.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from contract import keys

if TYPE_CHECKING:  # tensorflow-serving-api imports TensorFlow: only inside the gRPC helpers
    from tensorflow_serving.apis import predict_pb2

# Input and output names of each signature a client can call with ids (see trainer/export.py).
SIGNATURE_INPUTS: dict[str, tuple[str, ...]] = {
    keys.RECOMMEND: ("user_id", "history", "exclude_movie_ids"),
    keys.PREDICT_RATING: ("user_id", "movie_id"),
    keys.SIMILAR_ITEMS: ("movie_id",),
    keys.ITEM_EMBEDDINGS: ("movie_id",),
}
SIGNATURE_OUTPUTS: dict[str, tuple[str, ...]] = {
    keys.RECOMMEND: ("movie_ids", "scores"),
    keys.PREDICT_RATING: ("predicted_rating",),
    keys.SIMILAR_ITEMS: ("movie_ids", "scores", "known"),
    keys.ITEM_EMBEDDINGS: ("embedding", "known"),
}


class ServingError(Exception):
    """TF Serving answered with an error, or could not be reached."""


@dataclasses.dataclass(frozen=True)
class Query:
    """One instance for one signature; ids are strings, as in the raw data."""

    signature: str
    user_id: str | None = None
    movie_id: str | None = None
    history: tuple[str, ...] = ()
    exclude_movie_ids: tuple[str, ...] = ()


def default_signature(user_id: str | None, movie_id: str | None) -> str:
    """recommend for a user, predict_rating for a (user, movie) pair, similar_items for a movie."""
    if user_id is not None:
        return keys.PREDICT_RATING if movie_id is not None else keys.RECOMMEND
    return keys.SIMILAR_ITEMS


def instance(query: Query) -> dict[str, Any]:
    """The named inputs of one instance, every one a string (a list of ids is one string,
    keys.ID_SEPARATOR between ids); raises ValueError if the signature needs more."""
    if query.signature not in SIGNATURE_INPUTS:
        raise ValueError(f"unknown signature {query.signature!r}; choose from "
                         f"{', '.join(SIGNATURE_INPUTS)}")
    values = {
        "user_id": query.user_id,
        "movie_id": query.movie_id,
        "history": join_ids(query.history),
        "exclude_movie_ids": join_ids(query.exclude_movie_ids),
    }
    names = SIGNATURE_INPUTS[query.signature]
    missing = [name for name in names if values[name] is None]
    if missing:
        raise ValueError(f"signature {query.signature} needs {', '.join(missing)}")
    return {name: values[name] for name in names}


def join_ids(ids: Iterable[str]) -> str:
    """A list of ids as the signatures take it: one string, keys.ID_SEPARATOR between ids."""
    return keys.ID_SEPARATOR.join(ids)


# -- REST ------------------------------------------------------------------------------------
def rest_url(base_url: str, model: str, label: str | None = None) -> str:
    """TF Serving's predict URL, for the version that carries `label` if given."""
    version = f"/labels/{label}" if label else ""
    return f"{base_url.rstrip('/')}/v1/models/{model}{version}:predict"


def build_rest_request(query: Query) -> dict[str, Any]:
    """The JSON body of POST /v1/models/NAME:predict (row format)."""
    return {"signature_name": query.signature, "instances": [instance(query)]}


def parse_rest_response(signature: str, body: dict[str, Any]) -> dict[str, Any]:
    """The first instance's outputs by name (TF Serving drops the name of a lone output)."""
    if "error" in body:
        raise ServingError(body["error"])
    prediction = body["predictions"][0]
    if not isinstance(prediction, dict):
        (name,) = SIGNATURE_OUTPUTS[signature]
        prediction = {name: prediction}
    return prediction


def rest_predict(base_url: str, model: str, query: Query, timeout: float = 10.0,
                 label: str | None = None) -> dict:
    request = urllib.request.Request(
        rest_url(base_url, model, label), data=json.dumps(build_rest_request(query)).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:  # TF Serving puts the reason in a JSON body
        body = _error_body(error.read(), f"HTTP {error.code}")
    except urllib.error.URLError as error:
        raise ServingError(f"cannot reach {base_url}: {error.reason}") from None
    return parse_rest_response(query.signature, body)


def _error_body(raw: bytes, fallback: str) -> dict[str, Any]:
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": fallback}


# -- gRPC ------------------------------------------------------------------------------------
def build_grpc_request(model: str, query: Query,
                       label: str | None = None) -> predict_pb2.PredictRequest:
    """A PredictRequest with one DT_STRING [1] tensor per input, for the version that carries
    `label` if given: the request the warm-up file holds too (trainer.serving_requests)."""
    from trainer.serving_requests import predict_request

    return predict_request(model, query.signature,
                           {name: [value] for name, value in instance(query).items()}, label)


def parse_grpc_response(response) -> dict[str, Any]:
    """The first instance's outputs by name, as JSON-friendly Python values."""
    import tensorflow as tf

    return {name: _jsonable(tf.make_ndarray(proto)[0])
            for name, proto in sorted(response.outputs.items())}


def grpc_predict(target: str, model: str, query: Query, timeout: float = 10.0,
                 label: str | None = None) -> dict:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(build_grpc_request(model, query, label), timeout=timeout)
        except grpc.RpcError as error:
            raise ServingError(f"{error.code().name}: {error.details()}") from None
    return parse_grpc_response(response)


def _jsonable(value) -> Any:
    """numpy scalars/arrays (bytes for strings) -> lists of str, float, int, bool."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.decode() if isinstance(value, bytes) else value
