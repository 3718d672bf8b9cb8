"""`write_report`: PNG plots and an HTML page about the latest pipeline run, read from MLMD.

- curves_<model>.png: the training curves the Trainer recorded (metrics.json
  `training_curves`, one line per Keras metric over epochs);
- metrics.png: HR@10, NDCG@10 and RMSE per model (metrics.json `eval`);
- embeddings_<model>.png: a 2-D PCA (numpy SVD) of the model's movie vectors (the
  `item_embeddings` signature over every movie in the raw data), coloured by primary genre.

Genres come from the raw data dir: `data_dir`, or else the ExampleGen's `input_base`.
"""

from __future__ import annotations

import html
import json
import os

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from components.movielens_example_gen import spans  # noqa: E402
from contract import keys  # noqa: E402
from recsys.inspection import run_summary  # noqa: E402

METRICS = (("hit_rate_at_10", "HR@10"), ("ndcg_at_10", "NDCG@10"), ("rmse", "RMSE"))


def write_report(metadata_path: str, output_dir: str, data_dir: str | None = None) -> str:
    """Writes the plots and report.html into output_dir; returns report.html's path."""
    os.makedirs(output_dir, exist_ok=True)
    store = run_summary.open_store(metadata_path)
    results = run_summary.latest_run(store)
    trainers = {r.node.split(".", 1)[1]: r for r in results if r.node.startswith("Trainer.")}
    metrics = {name: run_summary.model_metrics(result) for name, result in trainers.items()}
    data_dir = data_dir or _input_base(store)
    images: list[tuple[str, str]] = []
    for name, model_metrics in sorted(metrics.items()):
        if model_metrics.get("training_curves"):
            images.append((f"{name}: training curves",
                           _plot_curves(name, model_metrics["training_curves"], output_dir)))
    if metrics:
        images.append(("evaluation metrics", _plot_metrics(metrics, output_dir)))
    genres = _genres(data_dir) if data_dir else {}
    for name, result in sorted(trainers.items()):
        path = _serving_model(result)
        if path and genres:
            images.append((f"{name}: movie embeddings (PCA)",
                           _plot_embeddings(name, path, genres, output_dir)))
    return _write_html(output_dir, images, metrics)


def _input_base(store) -> str | None:
    """The raw data dir the ExampleGen read (its `input_base` execution property)."""
    for execution in sorted(store.get_executions(), key=lambda e: -e.id):
        value = execution.properties.get("input_base") or execution.custom_properties.get(
            "input_base")
        if value is not None and value.string_value:
            return value.string_value
    return None


def _plot_curves(name: str, curves: dict[str, list[float]], output_dir: str) -> str:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for metric, values in sorted(curves.items()):
        axis.plot(range(1, len(values) + 1), values, marker="o", label=metric)
    axis.set(title=f"{name}: training", xlabel="epoch")
    axis.legend(fontsize=8)
    return _save(figure, output_dir, f"curves_{name}.png")


def _plot_metrics(metrics: dict[str, dict], output_dir: str) -> str:
    figure, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.5))
    names = sorted(metrics)
    for axis, (key, label) in zip(axes, METRICS, strict=True):
        values = [metrics[n].get("eval", {}).get(key) for n in names]
        axis.bar(names, [v if isinstance(v, int | float) else 0.0 for v in values],
                 color="#4f81bd")
        for i, value in enumerate(values):
            axis.text(i, value if isinstance(value, int | float) else 0.0,
                      f"{value:.3f}" if isinstance(value, int | float) else "n/a",
                      ha="center", va="bottom", fontsize=8)
        axis.set_title(label)
        axis.tick_params(axis="x", rotation=30)
    return _save(figure, output_dir, "metrics.png")


def _serving_model(result: run_summary.NodeResult) -> str | None:
    for artifact in result.outputs.get("model", []):
        path = os.path.join(artifact.uri, "Format-Serving")
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return path
    return None


def _genres(data_dir: str) -> dict[str, str]:
    """movie id -> primary (first listed) genre."""
    movies = spans.read_dataset(data_dir).movies  # a plain directory, or all its spans
    return {movie_id: (m.genres[0] if m.genres else "(none)") for movie_id, m in movies.items()}


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """PCA to two components with numpy's SVD (centered data)."""
    centered = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    return centered @ components[:2].T


def _plot_embeddings(name: str, path: str, genres: dict[str, str], output_dir: str) -> str:
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures[keys.ITEM_EMBEDDINGS]
    ids = sorted(genres, key=lambda i: (len(i), i))
    outputs = signature(movie_id=tf.constant(ids))
    known = outputs["known"].numpy()
    points = project_2d(outputs["embedding"].numpy()[known])
    labels = [genres[i] for i, k in zip(ids, known, strict=True) if k]
    figure, axis = plt.subplots(figsize=(7, 5))
    palette = plt.get_cmap("tab20")
    for index, genre in enumerate(sorted(set(labels))):
        mask = np.array([label == genre for label in labels])
        axis.scatter(points[mask, 0], points[mask, 1], s=8, color=palette(index % 20),
                     label=genre)
    axis.set(title=f"{name}: movie embeddings, PCA", xlabel="PC 1", ylabel="PC 2")
    axis.legend(fontsize=6, markerscale=1.5, ncol=2, loc="best")
    return _save(figure, output_dir, f"embeddings_{name}.png")


def _save(figure, output_dir: str, file_name: str) -> str:
    figure.tight_layout()
    figure.savefig(os.path.join(output_dir, file_name), dpi=80)
    plt.close(figure)
    return file_name


def _write_html(output_dir: str, images: list[tuple[str, str]], metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td><pre>"
        f"{html.escape(json.dumps(m.get('eval', {}), indent=1, default=str))}</pre></td></tr>"
        for n, m in sorted(metrics.items()))
    figures = "".join(f'<figure><img src="{html.escape(f)}" alt="{html.escape(t)}">'
                      f"<figcaption>{html.escape(t)}</figcaption></figure>" for t, f in images)
    page = (f"<!doctype html><meta charset='utf-8'><title>recsys run report</title>"
            f"<h1>recsys run report</h1><table border=1><tr><th>model</th><th>eval</th></tr>"
            f"{rows}</table>{figures}")
    path = os.path.join(output_dir, "report.html")
    with open(path, "w") as handle:
        handle.write(page)
    return path
