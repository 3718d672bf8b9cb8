"""A local run's progress, read from ML Metadata while the run goes on (not from log text).

`watch_run` polls the run's SQLite store, read-only, from a thread and reports each node of
the new run as its execution changes state: running, then done (with seconds), cached or
failed. LocalDagRunner runs one node at a time in the calling thread; a store it is writing
to at that moment is simply read again on the next poll.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

State = metadata_store_pb2.Execution.State
POLL_SECONDS = 0.5
_SHOWN = {State.RUNNING: "running", State.COMPLETE: "done", State.CACHED: "cached",
          State.FAILED: "failed", State.CANCELED: "canceled"}


@dataclasses.dataclass(frozen=True)
class NodeUpdate:
    """A node of the run reached `state` ("running", "done", "cached", "failed", ...)."""

    node: str
    state: str
    seconds: float | None  # from start to this state, for finished nodes


Report = Callable[[NodeUpdate], None]


def read_only_store(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


class _Watcher:
    def __init__(self, metadata_path: str, report: Report, interval: float) -> None:
        self._path, self._report, self._interval = metadata_path, report, interval
        self._store: metadata_store.MetadataStore | None = None
        self._first_id = self._next_execution_id()
        self._shown: dict[int, int] = {}  # execution id -> last state reported
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-progress", daemon=True)

    def _open(self) -> metadata_store.MetadataStore | None:
        if self._store is None and os.path.exists(self._path):
            with contextlib.suppress(mlmd_errors.StatusError):
                self._store = read_only_store(self._path)
        return self._store

    def _next_execution_id(self) -> int:
        """Executions of earlier runs have smaller ids: only newer ones belong to this run."""
        store = self._open()
        if store is None:
            return 0
        return 1 + max((e.id for e in store.get_executions()), default=0)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def poll(self) -> None:
        store = self._open()
        if store is None:
            return
        try:
            executions = [e for e in store.get_executions() if e.id >= self._first_id]
            for execution in sorted(executions, key=lambda e: e.id):
                self._update(store, execution)
        except mlmd_errors.StatusError:
            pass  # the runner is writing: read again next time

    def _update(self, store: metadata_store.MetadataStore,
                execution: metadata_store_pb2.Execution) -> None:
        state = execution.last_known_state
        if state not in _SHOWN or self._shown.get(execution.id) == state:
            return
        node = _node_name(store, execution)
        if node is None:
            return
        self._shown[execution.id] = state
        seconds = None
        if state != State.RUNNING:
            seconds = max(0.0, (execution.last_update_time_since_epoch
                                - execution.create_time_since_epoch) / 1000)
        self._report(NodeUpdate(node, _SHOWN[state], seconds))

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last node's final state


def _node_name(store: metadata_store.MetadataStore,
               execution: metadata_store_pb2.Execution) -> str | None:
    """'Trainer.mf' from the execution's node context ('<pipeline>.<node id>')."""
    contexts = store.get_contexts_by_execution(execution.id)
    types = {t.id: t.name for t in store.get_context_types_by_id([c.type_id for c in contexts])}
    for context in contexts:
        if types.get(context.type_id) == "node":
            return context.name.split(".", 1)[-1]
    return None


@contextlib.contextmanager
def watch_run(metadata_path: str, report: Report,
              interval: float = POLL_SECONDS) -> Iterator[None]:
    """Reports the nodes of the run started inside this block (see the module docstring)."""
    with _Watcher(metadata_path, report, interval):
        yield
