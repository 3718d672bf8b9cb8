"""The README's command on a real (tiny) run: `tensorboard --logdir
OUTPUT/pipeline_root/Trainer.<model>/model_run` serves each run's training and validation
curves and the movie embeddings with their titles and genres in the Projector (checked through
TensorBoard's own HTTP API, as its web page reads it)."""

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from components.movielens_example_gen.formats import ML100K_GENRES

pytestmark = pytest.mark.e2e


def _get(base: str, path: str, **query: str):
    url = f"{base}/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read().decode()
    return json.loads(body) if response.headers.get_content_type() == "application/json" else body


@pytest.fixture(scope="module")
def tensorboard(run_output):
    """`tensorboard --logdir .../Trainer.retrieval/model_run` as the README runs it."""
    _, output = run_output
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logdir = output / "pipeline_root" / "Trainer.retrieval" / "model_run"
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                runs = _get(base, "data/runs")
                if len(runs) >= 3:  # the logdir is read in the background
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("tensorboard did not serve the Trainer's logs")
            time.sleep(1)
        yield base, runs, output
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_training_and_validation_curves(tensorboard):
    base, runs, _ = tensorboard
    [execution] = {run.split("/")[0] for run in runs}
    # The validated fit's training and validation curves, the refit's (train + validation)
    # training curve, the projector.
    assert set(runs) == {f"{execution}/{name}"
                         for name in ("train", "validation", "refit/train", "embeddings")}
    metrics = json.loads((tensorboard[2] / "pipeline_root" / "Trainer.retrieval" / "model_run" /
                          execution / "metrics.json").read_text())["training_curves"]
    for run, curve in (("train", "loss"), ("validation", "val_loss"),
                       ("refit/train", "refit_loss")):
        points = _get(base, "data/plugin/scalars/scalars", run=f"{execution}/{run}",
                      tag="epoch_loss")
        assert [point[2] for point in points] == pytest.approx(metrics[curve], rel=1e-5)


def test_the_projector_shows_movies_with_titles_and_genres(tensorboard):
    base, runs, _ = tensorboard
    [run] = [run for run in runs if run.endswith("/embeddings")]
    assert run in _get(base, "data/plugin/projector/runs")
    [embedding] = _get(base, "data/plugin/projector/info", run=run)["embeddings"]
    movies, dimensions = embedding["tensorShape"]
    assert dimensions > 1
    rows = _get(base, "data/plugin/projector/metadata", run=run,
                name=embedding["tensorName"]).splitlines()
    assert rows[0] == "movie_id\ttitle\tgenres" and len(rows) == movies + 1
    for movie_id, title, genres in (row.split("\t") for row in rows[1:]):
        assert title == f"Caf\u00e9 N\u00b0{movie_id}"  # as written by write_ml100k
        assert genres in ML100K_GENRES  # each of its movies has one genre
