"""MultiWorkerMirroredStrategy through the trainer: two worker processes on loopback train the
retrieval model together (tests/unit/trainer/multi_worker_worker.py), each on its own share of the
data, and end with the weights one process gets on all of it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.fixtures.paths import REPO_ROOT
from tests.unit.trainer import multi_worker_worker as worker
from trainer import task

ROOT = REPO_ROOT
TIMEOUT_S = 180  # a hung collective fails the test instead of blocking the run


def test_strategy_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(task.DISTRIBUTION_ENV, raising=False)
    default = task.make_strategy()
    assert default is tf.distribute.get_strategy()
    with task.output_dirs(default, str(tmp_path)) as (kept,):
        assert kept == str(tmp_path)  # no distribution: this process is the chief
    monkeypatch.setenv(task.DISTRIBUTION_ENV, "mirrored")
    assert isinstance(task.make_strategy(), tf.distribute.MirroredStrategy)
    monkeypatch.setenv(task.DISTRIBUTION_ENV, "parameter_server")
    with pytest.raises(ValueError, match=task.DISTRIBUTION_ENV):
        task.make_strategy()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(out_dir: Path) -> list[dict[str, np.ndarray]]:
    """Starts both workers, waits for them (TIMEOUT_S), returns each one's npz contents."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="",
                   **{task.DISTRIBUTION_ENV: "multi_worker", "TF_CONFIG": json.dumps(
                       {"cluster": cluster, "task": {"type": "worker", "index": index}})})
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.unit.trainer.multi_worker_worker", str(out_dir)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        logs = [process.communicate(timeout=TIMEOUT_S)[0] for process in processes]
    except subprocess.TimeoutExpired:
        pytest.fail(f"the workers did not finish in {TIMEOUT_S} s")
    finally:
        for process in processes:
            process.kill()
    for index, (process, log) in enumerate(zip(processes, logs, strict=True)):
        assert process.returncode == 0, f"worker {index} failed:\n{log[-3000:]}"
    return [dict(np.load(out_dir / f"worker-{index}.npz")) for index in range(2)]


def _weights(result: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [result[f"weight_{i}"] for i in range(sum(k.startswith("weight_") for k in result))]


def test_two_workers_train_one_model_on_disjoint_shares(tmp_path) -> None:
    results = _run_workers(tmp_path)

    assert [int(r["replicas"]) for r in results] == [2, 2]
    # Each worker got half of every global batch: disjoint shares covering the data.
    steps = worker.EXAMPLES // worker.BATCH_SIZE
    assert [int(r["batches"]) for r in results] == [steps, steps]
    shares = [set(r["examples"].tolist()) for r in results]
    assert all(len(share) == worker.EXAMPLES // 2 for share in shares)
    assert not shares[0] & shares[1]
    assert shares[0] | shares[1] == set(range(worker.EXAMPLES))

    # The gradients were all-reduced: both end with the same weights, and these are the
    # weights of one process training on all the data, so both shares contributed and each
    # step followed the global batch's mean gradient (without the loss scaling of
    # RecommenderModel.train_step the embeddings differ by ~0.03).
    for first, second in zip(_weights(results[0]), _weights(results[1]), strict=True):
        np.testing.assert_array_equal(first, second)
    single = worker.train(None).get_weights()
    for distributed, alone in zip(_weights(results[0]), single, strict=True):
        np.testing.assert_allclose(distributed, alone, atol=1e-5)

    # Only the chief (worker 0) kept what it wrote through task.output_dirs.
    assert json.loads((tmp_path / "chief.json").read_text()) == {"index": 0}
    # The closing barrier held the other worker until the (slow) chief had written it.
    for index in (0, 1):
        seen = json.loads((tmp_path / f"after-barrier-{index}.json").read_text())
        assert seen == {"chief_output_seen": True}
