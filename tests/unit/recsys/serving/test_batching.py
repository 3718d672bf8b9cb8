"""The micro-batcher: concurrent rows share one call, each gets its own slice, errors reach
every waiting row, and a closed batcher still answers (in the caller's thread)."""

import threading
import time

import numpy as np
import pytest

from recsys.serving.batching import Batcher


class SlowEcho:
    """A backend whose call takes `seconds` and echoes each row's user id and history size
    (a history arrives as one string of ids, as the exported signatures take it)."""

    signatures = frozenset({"recommend"})

    def __init__(self, seconds: float = 0.02, error: Exception | None = None) -> None:
        self.seconds, self.error, self.batches = seconds, error, []

    def call(self, signature: str, inputs: dict) -> dict:
        self.batches.append(len(inputs["user_id"]))
        time.sleep(self.seconds)
        if self.error:
            raise self.error
        assert all(isinstance(row, str) for row in inputs["history"])  # [B] strings
        return {"user": np.asarray(inputs["user_id"]),
                "real": np.asarray([len(row.split()) for row in inputs["history"]])}


def _submit_concurrently(batcher: Batcher, count: int) -> list:
    futures = [None] * count

    def submit(i: int) -> None:
        futures[i] = batcher.submit({"user_id": str(i), "history": ["m"] * i})

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [future.result(timeout=10) for future in futures]


def test_concurrent_rows_share_calls_and_get_their_own_answers():
    backend = SlowEcho()
    batcher = Batcher(backend, "recommend")
    try:
        answers = _submit_concurrently(batcher, 16)
    finally:
        batcher.close()
    assert [a["user"] for a in answers] == [str(i) for i in range(16)]
    assert [int(a["real"]) for a in answers] == list(range(16))
    assert sum(backend.batches) == 16 and len(backend.batches) < 16  # rows were batched


def test_a_lone_row_is_called_at_once():
    backend = SlowEcho(seconds=0.0)
    batcher = Batcher(backend, "recommend", max_wait_s=0.0)
    started = time.monotonic()
    batcher.submit({"user_id": "1", "history": []}).result(timeout=10)
    batcher.close()
    assert time.monotonic() - started < 1.0 and backend.batches == [1]


def test_max_batch_caps_a_call():
    backend = SlowEcho()
    batcher = Batcher(backend, "recommend", max_batch=4)
    try:
        _submit_concurrently(batcher, 12)
    finally:
        batcher.close()
    assert max(backend.batches) <= 4 and sum(backend.batches) == 12


def test_an_error_reaches_every_row_of_the_batch():
    batcher = Batcher(SlowEcho(error=RuntimeError("model broke")), "recommend")
    futures = [batcher.submit({"user_id": str(i), "history": []}) for i in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="model broke"):
            future.result(timeout=10)
    batcher.close()


def test_several_workers_share_one_queue_and_all_stop():
    backend = SlowEcho()
    batcher = Batcher(backend, "recommend", max_batch=4, threads=3)
    try:
        answers = _submit_concurrently(batcher, 24)
    finally:
        batcher.close()
    assert [a["user"] for a in answers] == [str(i) for i in range(24)]
    assert max(backend.batches) <= 4 and sum(backend.batches) == 24
    for thread in batcher._threads:
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_a_closed_batcher_answers_in_the_callers_thread():
    backend = SlowEcho(seconds=0.0)
    batcher = Batcher(backend, "recommend")
    batcher.close()
    future = batcher.submit({"user_id": "7", "history": ["a", "b"]})
    assert future.done() and future.result()["user"] == "7"
    assert int(future.result()["real"]) == 2
    for thread in batcher._threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
