"""A new version pushed while requests run: no request fails, the new version is served."""

import os
import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e


def test_hot_reload_under_load(models_copy, run_output):
    from recsys.serving.app import build_app

    app = build_app(str(models_copy), str(run_output[0]), poll_seconds=0.2)
    registry = app.state.registry
    old = registry.get("hybrid").version
    statuses, versions, stop = [], [], threading.Event()

    def hammer():
        client = TestClient(app)
        while not stop.is_set():
            response = client.get("/recommend", params={"user_id": "1", "model": "hybrid"})
            statuses.append(response.status_code)
            versions.append(response.json().get("version"))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        # The pusher's way: copy beside, then rename into place (atomic on one filesystem).
        staging = models_copy / "hybrid" / ".staging"
        shutil.copytree(models_copy / "hybrid" / str(old), staging)
        os.rename(staging, models_copy / "hybrid" / str(old + 1))
        deadline = time.monotonic() + 60
        while registry.get("hybrid").version != old + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        registry.stop()
    assert registry.get("hybrid").version == old + 1
    assert statuses and set(statuses) == {200}
    assert versions[0] == old and versions[-1] == old + 1
    # After the first answer from the new version, only requests already in flight on the
    # old one (at most one per thread) may still report it.
    first_new = versions.index(old + 1)
    assert versions[first_new:].count(old) <= len(threads)
