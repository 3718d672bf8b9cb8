"""Micro-batching: concurrent requests for one signature share one call.

A signature call has a fixed cost (~0.6-1 ms on 2 cores: the Transform graph, table look-ups,
executor overhead) that barely grows with the batch (8 rows: +0.1 ms per row or less), so one
worker thread per model version takes every request queued while its previous call ran and
answers them all with one call, as TF Serving's batching does. There is no artificial wait by
default: a lone request is called at once, and batches form by themselves under load
(`max_wait_s` adds a linger for more rows, for backends where a call costs more).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np

from recsys.serving.backends import Backend, join_ids

Row = dict[str, str | list[str]]  # one instance: input name -> id or list of ids
Answer = dict[str, np.ndarray]  # output name -> this row's slice
Pending = tuple[Row, Future]


class Batcher:
    """Batches rows for `signature` of `backend` on daemon worker threads until `close()`.

    Each of the `threads` workers takes the next queued row and whatever else is queued (up to
    `max_batch`, waiting up to `max_wait_s` for more) and calls the backend with them: the
    scheme of TF Serving's batch scheduler (num_batch_threads, max_batch_size,
    batch_timeout_micros), which benchmarks/serving_batching.py measures with this class.
    """

    def __init__(self, backend: Backend, signature: str, max_batch: int = 64,
                 max_wait_s: float = 0.0, threads: int = 1) -> None:
        self.backend, self.signature = backend, signature
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"batch-{signature}-{i}",
                                          daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, row: Row) -> Future:
        """A future of this row's outputs. After `close()` (the model version was replaced
        while the request held it) the row is answered at once in the caller's thread."""
        future: Future = Future()
        with self._lock:
            if not self._closed:
                self._queue.put((row, future))
                return future
        self._call([(row, future)])
        return future

    def close(self) -> None:
        """Answers what is queued, then stops the workers (and releases the backend)."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._call(batch)
            if stop:
                return

    def _collect(self, first: Pending) -> tuple[list[Pending], bool]:
        """The first row and whatever else is queued, up to max_batch; True when the close
        sentinel was taken."""
        batch, deadline = [first], time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else \
                    self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _call(self, batch: list[Pending]) -> None:
        batch = [(row, future) for row, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            outputs = self.backend.call(self.signature, stack_rows([row for row, _ in batch]))
        except Exception as error:  # noqa: BLE001 - every waiting request gets the error
            for _, future in batch:
                future.set_exception(error)
            return
        for i, (_, future) in enumerate(batch):
            future.set_result({name: value[i] for name, value in outputs.items()})


def stack_rows(rows: list[Row]) -> dict[str, list[str]]:
    """Rows -> batched inputs, [B] strings (a list of ids joined into one string)."""
    return {name: [join_ids(row[name]) if isinstance(first, list) else row[name]
                   for row in rows] for name, first in rows[0].items()}
