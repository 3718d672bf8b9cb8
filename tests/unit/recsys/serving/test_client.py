"""The REST and gRPC requests `recsys query` builds are what the exported signatures accept.

A tiny SavedModel with trainer/export.py's signature names and input specs echoes its inputs,
so every assertion pins down how ids travel; small TF Serving stand-ins (REST and gRPC, on
loopback) run the same conversion TF Serving does, to test the CLI end to end.
"""

import inspect
import json
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from recsys import cli
from recsys.serving import client as serving_client
from recsys.serving.client import Query
from tests.fixtures.json_server import json_server
from trainer import export

MODEL = "retrieval"


class EchoModel(tf.Module):
    @tf.function(input_signature=[export.STRING_BATCH] * 3)
    def recommend(self, user_id, history, exclude_movie_ids):
        ids = tf.concat([user_id[:, None], tf.strings.split(history).to_tensor(),
                         tf.strings.split(exclude_movie_ids).to_tensor()], axis=1)
        return {"movie_ids": ids, "scores": tf.cast(tf.strings.length(ids), tf.float32)}

    @tf.function(input_signature=[export.STRING_BATCH, export.STRING_BATCH])
    def predict_rating(self, user_id, movie_id):
        rating = tf.strings.to_number(user_id) + tf.strings.to_number(movie_id) / 1000
        return {"predicted_rating": rating}

    @tf.function(input_signature=[export.STRING_BATCH])
    def similar_items(self, movie_id):
        return {"movie_ids": tf.stack([movie_id, movie_id], 1), "scores": tf.ones([1, 2]),
                "known": tf.equal(movie_id, "50")}

    @tf.function(input_signature=[export.STRING_BATCH])
    def item_embeddings(self, movie_id):
        value = tf.strings.to_number(movie_id)
        return {"embedding": tf.stack([value, -value], 1), "known": tf.ones_like(value) > 0}


@pytest.fixture(scope="module")
def signatures(tmp_path_factory):
    module = EchoModel()
    path = str(tmp_path_factory.mktemp("model") / "1")
    tf.saved_model.save(module, path, signatures={
        name: getattr(module, name).get_concrete_function()
        for name in serving_client.SIGNATURE_INPUTS})
    return tf.saved_model.load(path).signatures


def _call(signatures, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What TF Serving does with converted inputs: call the signature by input name."""
    function = signatures[name]
    specs = function.structured_input_signature[1]
    assert set(inputs) == set(specs)
    return {k: v.numpy() for k, v in function(
        **{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()}).items()}


def _rest_to_tensors(body: dict) -> tuple[str, dict[str, np.ndarray]]:
    """TF Serving's row format: each named input stacked across instances."""
    instances = body["instances"]
    names = instances[0].keys()
    return body["signature_name"], {n: np.array([i[n] for i in instances]) for n in names}


def _rest_response(signature: str, outputs: dict[str, np.ndarray]) -> dict:
    """TF Serving's row-format answer (a lone output loses its name)."""
    rows = [{k: serving_client._jsonable(v[i]) for k, v in outputs.items()}
            for i in range(len(next(iter(outputs.values()))))]
    if len(outputs) == 1:
        rows = [next(iter(row.values())) for row in rows]
    return {"predictions": rows}


QUERIES = {
    "recommend": (Query("recommend", user_id="42", history=("50", "181"),
                        exclude_movie_ids=("1",)),
                  {"movie_ids": ["42", "50", "181", "1"], "scores": [2.0, 2.0, 3.0, 1.0]}),
    "new_user": (Query("recommend", user_id="9999"),
                 {"movie_ids": ["9999"], "scores": [4.0]}),
    "predict_rating": (Query("predict_rating", user_id="42", movie_id="50"),
                       {"predicted_rating": pytest.approx(42.05)}),
    "similar_items": (Query("similar_items", movie_id="50"),
                      {"movie_ids": ["50", "50"], "scores": [1.0, 1.0], "known": True}),
    "item_embeddings": (Query("item_embeddings", movie_id="7"),
                        {"embedding": [7.0, -7.0], "known": True}),
}


def test_signature_inputs_match_the_export():
    """The client's input names are the exported functions' argument names."""
    module = export.ServingModule
    functions = {"recommend": module.recommend.python_function,
                 "predict_rating": module._predict_rating,
                 "similar_items": module.similar_items.python_function,
                 "item_embeddings": module.item_embeddings.python_function}
    for name, function in functions.items():
        arguments = tuple(inspect.signature(function).parameters)[1:]
        assert arguments == serving_client.SIGNATURE_INPUTS[name], name


@pytest.mark.parametrize("case", QUERIES)
def test_rest_body_is_accepted(signatures, case):
    query, expected = QUERIES[case]
    body = json.loads(json.dumps(serving_client.build_rest_request(query)))  # over the wire
    signature, inputs = _rest_to_tensors(body)
    assert signature == query.signature
    outputs = _call(signatures, signature, inputs)
    answer = json.loads(json.dumps(_rest_response(signature, outputs)))
    assert serving_client.parse_rest_response(signature, answer) == expected


@pytest.mark.parametrize("case", QUERIES)
def test_grpc_request_is_accepted(signatures, case):
    query, expected = QUERIES[case]
    request = predict_pb2.PredictRequest.FromString(
        serving_client.build_grpc_request(MODEL, query).SerializeToString())
    assert (request.model_spec.name, request.model_spec.signature_name) == (MODEL, query.signature)
    outputs = _call(signatures, query.signature,
                    {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    assert serving_client.parse_grpc_response(response) == expected


def test_rest_error_body_is_raised():
    with pytest.raises(serving_client.ServingError, match="Servable not found"):
        serving_client.parse_rest_response("recommend", {"error": "Servable not found"})


@pytest.mark.parametrize(("args", "message"), [
    (["--model", MODEL], "give --user, --movie or both"),
    (["--model", MODEL, "--movie", "1", "--signature", "recommend"], "needs user_id"),
])
def test_query_argument_errors(capsys, args, message):
    assert cli.main(["query", "--url", "http://127.0.0.1:1", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def rest_server(signatures):
    def answer(path: str, body: dict) -> tuple[int, dict]:
        if path not in (f"/v1/models/{MODEL}:predict",
                        f"/v1/models/{MODEL}/labels/canary:predict"):
            return 404, {"error": f"Servable not found for {path}"}
        signature, inputs = _rest_to_tensors(body)
        return 200, _rest_response(signature, _call(signatures, signature, inputs))

    with json_server(answer) as url:
        yield url


@pytest.fixture(scope="module")
def grpc_target(signatures):
    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - the gRPC method name
            if request.model_spec.version_label not in ("", "canary"):
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"no version labelled {request.model_spec.version_label}")
            outputs = _call(signatures, request.model_spec.signature_name,
                            {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_query_over_rest(rest_server, capsys):
    args = ["query", "--url", rest_server, "--model", MODEL, "--user", "42",
            "--history", "50,181", "--exclude", "1"]
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out) == QUERIES["recommend"][1]
    assert cli.main(["query", "--url", rest_server, "--model", MODEL, "--user", "42",
                     "--movie", "50"]) == 0
    assert json.loads(capsys.readouterr().out) == QUERIES["predict_rating"][1]


def test_query_over_rest_unknown_model(rest_server, capsys):
    assert cli.main(["query", "--url", rest_server, "--model", "nope", "--user", "1"]) == 2
    assert "Servable not found" in capsys.readouterr().err


def test_query_over_grpc(grpc_target, capsys):
    assert cli.main(["query", "--grpc", grpc_target, "--model", MODEL, "--movie", "50"]) == 0
    assert json.loads(capsys.readouterr().out) == QUERIES["similar_items"][1]


def test_query_a_labelled_version(rest_server, grpc_target, capsys):
    """--label asks TF Serving for the version with that label: the REST path's labels/LABEL,
    gRPC's model_spec.version_label."""
    assert cli.main(["query", "--url", rest_server, "--model", MODEL, "--movie", "50",
                     "--label", "canary"]) == 0
    assert json.loads(capsys.readouterr().out) == QUERIES["similar_items"][1]
    assert cli.main(["query", "--grpc", grpc_target, "--model", MODEL, "--movie", "50",
                     "--label", "canary"]) == 0
    assert json.loads(capsys.readouterr().out) == QUERIES["similar_items"][1]
    assert cli.main(["query", "--grpc", grpc_target, "--model", MODEL, "--movie", "50",
                     "--label", "stable"]) == 2
    assert "NOT_FOUND: no version labelled stable" in capsys.readouterr().err
    request = serving_client.build_grpc_request(MODEL, QUERIES["recommend"][0], "canary")
    assert request.model_spec.version_label == "canary"
    assert serving_client.rest_url("http://h:8501/", MODEL, "canary") == (
        f"http://h:8501/v1/models/{MODEL}/labels/canary:predict")
