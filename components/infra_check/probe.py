"""Serve one SavedModel as TF Serving would, replay its warm-up requests, and judge it.

Run as a script in a fresh interpreter (`python -I probe.py MODEL_DIR ...`): it imports only
TensorFlow and TF Serving's request protos (tensorflow-serving-api), never this project, so a
model that needs project code (a custom layer, a Python-only op) fails here as it would in the
model server. It prints one JSON object: {"blessed", "reason", "tensorflow", "signatures",
"records", "modules"}.

What TF Serving does, and this does too:
* loads the SavedModel through the session API (tag "serve"), running its init op, not through
  tf.saved_model.load: the model server only has the SignatureDefs and the graph;
* replays `assets.extra/tf_serving_warmup_requests` (PredictionLog records): a record whose
  signature is missing, whose inputs are not the signature's, or that fails, fails the load;
* with --enable_batching, concatenates concurrent requests of one signature along dimension 0
  and splits every output back by rows: all inputs of a request must share dimension 0, every
  output must have it too, and the answers must not change. Here all records of a signature are
  merged into one batch and each one's slice of the answer is compared with its own answer.

Then it checks every output against its SignatureDef (dtype, rank, fixed dimensions, the batch
dimension, finite numbers) and the median latency of each record against the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
DEFAULT_SIGNATURE = "serving_default"


class Refused(Exception):
    """The model would fail in TF Serving, or misses the budget; the message says why."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--latency-budget-ms", type=float, required=True,
                        help="the median latency allowed for any warm-up request")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed replays of each record after the first")
    args = parser.parse_args(argv)
    report = {"blessed": False, "reason": "", "tensorflow": tf.__version__, "signatures": {},
              "records": 0}
    try:
        report.update(probe(args.model_dir, args.latency_budget_ms, args.repeats))
        report["blessed"], report["reason"] = True, "loads, answers every warm-up request " \
            f"as its signature says, batched too, within {args.latency_budget_ms:g} ms"
    except Refused as refusal:
        report["reason"] = str(refusal)
    report["modules"] = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps(report))
    return 0


def probe(model_dir: str, budget_ms: float, repeats: int) -> dict:
    records = read_warmup(model_dir)
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], model_dir)
        except Exception as error:  # noqa: BLE001 - any load failure refuses the model
            raise Refused(f"the SavedModel does not load: {_first_line(error)}") from None
        signatures = meta_graph.signature_def
        by_signature: dict[str, list[tuple[dict, dict]]] = {}
        timings: dict[str, list[float]] = {}
        for number, record in enumerate(records, 1):
            name, feeds = _request(record, signatures, number)
            outputs = _run(session, signatures[name], feeds, f"warm-up record {number} ({name})")
            by_signature.setdefault(name, []).append((feeds, outputs))
            timings.setdefault(name, []).append(_median_ms(session, signatures[name], feeds,
                                                           repeats))
        for name, calls in by_signature.items():
            _check_batching(session, signatures[name], name, calls)
    summary = {name: {"requests": len(values), "max_median_ms": round(max(values), 3)}
               for name, values in timings.items()}
    slowest = max(timings, key=lambda name: max(timings[name]))
    if max(timings[slowest]) > budget_ms:
        raise Refused(f"signature {slowest}: median latency {max(timings[slowest]):.1f} ms "
                      f"over the budget of {budget_ms:g} ms")
    return {"signatures": summary, "records": len(records)}


def read_warmup(model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    path = os.path.join(model_dir, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        raise Refused(f"no warm-up requests: {WARMUP_FILE} is missing")
    records = [prediction_log_pb2.PredictionLog.FromString(raw.numpy())
               for raw in tf.data.TFRecordDataset(path)]
    if not records:
        raise Refused(f"{WARMUP_FILE} holds no requests")
    return records


def _request(record, signatures, number: int) -> tuple[str, dict[str, np.ndarray]]:
    """(signature name, input name -> array) of a PredictLog record, checked against the
    signature as TF Serving's Predict does."""
    if record.WhichOneof("log_type") != "predict_log":
        raise Refused(f"warm-up record {number}: {record.WhichOneof('log_type')} records are "
                      "not replayed here (only predict_log)")
    request = record.predict_log.request
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    if name not in signatures:
        raise Refused(f"warm-up record {number}: no signature {name!r} in the SavedModel")
    expected = set(signatures[name].inputs)
    if set(request.inputs) != expected:
        raise Refused(f"warm-up record {number} ({name}): inputs {sorted(request.inputs)}, the "
                      f"signature takes {sorted(expected)}")
    feeds = {}
    for input_name, proto in request.inputs.items():
        spec = signatures[name].inputs[input_name]
        array = tf.make_ndarray(proto)
        _check_tensor(array, spec, f"warm-up record {number} ({name}) input {input_name}")
        feeds[input_name] = array
    batch_sizes = {array.shape[0] if array.ndim else None for array in feeds.values()}
    if len(batch_sizes) != 1 or None in batch_sizes:
        raise Refused(f"warm-up record {number} ({name}): inputs do not share a batch "
                      f"dimension ({sorted(map(str, batch_sizes))}), which TF Serving's "
                      "batching requires")
    return name, feeds


def _run(session, signature, feeds: dict[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    fetches = {name: info.name for name, info in signature.outputs.items()}
    feed_dict = {signature.inputs[name].name: value for name, value in feeds.items()}
    try:
        outputs = session.run(fetches, feed_dict)
    except Exception as error:  # noqa: BLE001 - TF Serving would answer with this error
        raise Refused(f"{what} fails: {_first_line(error)}") from None
    batch = next(iter(feeds.values())).shape[0]
    for name, value in outputs.items():
        spec = signature.outputs[name]
        _check_tensor(np.asarray(value), spec, f"{what} output {name}")
        if np.ndim(value) == 0 or np.shape(value)[0] != batch:
            raise Refused(f"{what} output {name} has shape {np.shape(value)}, not the request's "
                          f"batch of {batch} first")
        if np.asarray(value).dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise Refused(f"{what} output {name} is not finite")
    return outputs


def _check_tensor(array: np.ndarray, spec, what: str) -> None:
    """dtype and shape against a TensorInfo (unknown dimensions match anything)."""
    expected_dtype = tf.dtypes.as_dtype(spec.dtype)
    actual = tf.dtypes.as_dtype(array.dtype) if array.dtype != object else tf.string
    if actual != expected_dtype:
        raise Refused(f"{what} is {actual.name}, the signature says {expected_dtype.name}")
    if spec.tensor_shape.unknown_rank:
        return
    dims = [dim.size for dim in spec.tensor_shape.dim]
    if len(dims) != array.ndim or any(
            d not in (-1, a) for d, a in zip(dims, array.shape, strict=True)):
        raise Refused(f"{what} has shape {list(array.shape)}, the signature says "
                      f"{['?' if d == -1 else d for d in dims]}")


def _median_ms(session, signature, feeds: dict[str, np.ndarray], repeats: int) -> float:
    seconds = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        _run(session, signature, feeds, "a timed replay")
        seconds.append(time.perf_counter() - started)
    return 1000 * statistics.median(seconds)


def _check_batching(session, signature, name: str, calls) -> None:
    """All records of one signature as one batch, as TF Serving's batching would form it:
    each record's rows of every output must equal its own answer."""
    if len(calls) < 2:
        return
    try:
        merged = {key: np.concatenate([feeds[key] for feeds, _ in calls])
                  for key in calls[0][0]}
    except ValueError as error:
        raise Refused(f"signature {name}: its requests cannot be batched together "
                      f"({_first_line(error)}); TF Serving's batching would fail them") from None
    outputs = _run(session, signature, merged, f"signature {name}, warm-up requests batched")
    start = 0
    for number, (feeds, alone) in enumerate(calls, 1):
        rows = next(iter(feeds.values())).shape[0]
        for key, value in alone.items():
            part = outputs[key][start:start + rows]
            same = (np.allclose(part, value, rtol=1e-4, atol=1e-5)
                    if np.asarray(value).dtype.kind == "f" else np.array_equal(part, value))
            if not same:
                raise Refused(f"signature {name}: batched with other requests, request "
                              f"{number}'s output {key} changes; TF Serving's batching would "
                              "return wrong answers")
        start += rows


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


if __name__ == "__main__":
    sys.exit(main())
