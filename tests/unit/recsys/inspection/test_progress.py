"""A run's progress read from ML Metadata: each node of the new run reported once per state."""

from __future__ import annotations

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from recsys.inspection import progress

State = mlmd.Execution.State


class _Store:
    """A writable store playing LocalDagRunner: one node context per execution."""

    def __init__(self, path: str) -> None:
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = path
        self.store = metadata_store.MetadataStore(config)
        self.execution_type = self.store.put_execution_type(mlmd.ExecutionType(name="step"))
        self.node_type = self.store.put_context_type(mlmd.ContextType(name="node"))

    def start(self, node: str) -> mlmd.Execution:
        execution = mlmd.Execution(type_id=self.execution_type,
                                   last_known_state=State.RUNNING)
        [execution.id] = self.store.put_executions([execution])
        [context] = self.store.put_contexts([mlmd.Context(type_id=self.node_type,
                                                          name=f"pipeline.{node}")])
        self.store.put_attributions_and_associations(
            [], [mlmd.Association(context_id=context, execution_id=execution.id)])
        return execution

    def finish(self, execution: mlmd.Execution, state: int) -> None:
        execution.last_known_state = state
        self.store.put_executions([execution])


def test_each_new_node_is_reported_running_then_finished(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    runner = _Store(path)
    runner.finish(runner.start("Trainer.old"), State.COMPLETE)  # an earlier run
    updates = []
    watcher = progress._Watcher(path, updates.append, interval=3600)
    transform = runner.start("Transform")
    watcher.poll()
    watcher.poll()  # nothing new: nothing reported twice
    runner.finish(transform, State.COMPLETE)
    cached = runner.start("StatisticsGen")
    runner.finish(cached, State.CACHED)
    failed = runner.start("Trainer.mf")
    runner.finish(failed, State.FAILED)
    watcher.poll()
    assert [(u.node, u.state) for u in updates] == [
        ("Transform", "running"), ("Transform", "done"), ("StatisticsGen", "cached"),
        ("Trainer.mf", "failed")]
    assert updates[0].seconds is None and updates[1].seconds >= 0


def test_a_store_that_does_not_exist_yet_is_waited_for(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    updates = []
    watcher = progress._Watcher(path, updates.append, interval=3600)
    watcher.poll()
    runner = _Store(path)
    runner.start("MovieLensExampleGen")
    watcher.poll()
    assert [(u.node, u.state) for u in updates] == [("MovieLensExampleGen", "running")]
