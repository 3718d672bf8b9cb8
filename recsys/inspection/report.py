"""`write_report`: report.html and its PNG plots about the latest pipeline run, read from ML
Metadata, readable without opening any JSON. One section per model:

- the gate's verdict: blessed or not, and every threshold of its Evaluator with the value it
  was checked against (the ones that failed first), from TFMA's validation result;
- the TFMA metrics of the model beside those of the model it would replace (the Evaluator's
  `baseline`, the last blessed one) and of the popularity baseline on the same examples;
- where the Pusher put it, and the TensorBoard command for its training logs;
- curves_<model>.png: each training metric per epoch, on the training and the validation
  split (metrics.json `training_curves`; `val_*` are the validation ones);
- embeddings_<model>.png: a 2-D PCA (numpy SVD) of the model's movie vectors (the
  `item_embeddings` signature over every movie in the raw data), coloured by primary genre.

Genres come from the raw data dir: `data_dir`, or else the ExampleGen's `input_base`.
"""

from __future__ import annotations

import dataclasses
import html
import os

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from components.evaluation_results import Evaluation, ThresholdCheck, format_value  # noqa: E402
from components.movielens_example_gen import (
    spans,  # noqa: E402
)
from contract import keys  # noqa: E402
from recsys.inspection import run_summary  # noqa: E402

# Rows of the metrics table: label, TFMA metric name, transformation for display.
TABLE_METRICS = (("HR@10", "hit_rate_at_10"), ("NDCG@10", "ndcg_at_10"),
                 ("RMSE", "mean_squared_error"), ("eval examples", "example_count"))
# Keras' bookkeeping losses: the task loss and the metrics are what tells how training went.
_HIDDEN_CURVES = ("regularization_loss", "total_loss")
VALIDATION_PREFIX = "val_"
REFIT_PREFIX = "refit_"  # the refit's curves (trainer.task, config.refit)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.blessed { color: #1a7f37; font-weight: bold; }
.refused { color: #cf222e; font-weight: bold; }
section.model { border-top: 2px solid #ddd; margin-top: 2em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


@dataclasses.dataclass
class ModelReport:
    """Everything the report shows about one model."""

    name: str
    blessed: bool | None = None
    checks: list[ThresholdCheck] = dataclasses.field(default_factory=list)
    evaluation: Evaluation | None = None
    pushed_to: str | None = None
    tensorboard_dir: str | None = None  # the Trainer's model_run directory (all runs)
    images: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (caption, file)
    trainer_eval: dict = dataclasses.field(default_factory=dict)  # the Trainer's metrics.json

    @property
    def failed(self) -> list[ThresholdCheck]:
        return [check for check in self.checks if not check.passed]


def write_report(metadata_path: str, output_dir: str, data_dir: str | None = None) -> str:
    """Writes the plots and report.html into output_dir; returns report.html's path."""
    os.makedirs(output_dir, exist_ok=True)
    store = run_summary.open_store(metadata_path)
    nodes = {result.node: result for result in run_summary.latest_run(store)}
    names = [node.split(".", 1)[1] for node in nodes if node.startswith("Trainer.")]
    data_dir = data_dir or _input_base(store)
    genres = _genres(data_dir) if data_dir else {}
    reports = [_model_report(name, nodes, genres, output_dir) for name in names]
    return _write_html(output_dir, reports)


def _model_report(name: str, nodes: dict, genres: dict[str, str], output_dir: str
                  ) -> ModelReport:
    report = ModelReport(name)
    trainer = nodes[f"Trainer.{name}"]
    evaluator, pusher = nodes.get(f"Evaluator.{name}"), nodes.get(f"Pusher.{name}")
    if evaluator is not None:
        report.blessed = run_summary.blessed(evaluator)
        report.checks = run_summary.gate_checks(evaluator)
        report.evaluation = run_summary.evaluation(evaluator)
    if pusher is not None:
        report.pushed_to = run_summary.pushed_destination(pusher)
    runs = trainer.outputs.get("model_run", [])
    if runs:
        report.tensorboard_dir = os.path.dirname(runs[0].uri.rstrip("/"))
    trainer_metrics = run_summary.model_metrics(trainer)
    report.trainer_eval = trainer_metrics.get("eval", {})
    curves = trainer_metrics.get("training_curves")
    if curves:
        report.images.append(("training (solid), validation (dashed), refit (dotted) per epoch",
                              _plot_curves(name, curves, output_dir)))
    path = _serving_model(trainer)
    if path and genres:
        report.images.append(("movie embeddings (PCA), by primary genre",
                              _plot_embeddings(name, path, genres, output_dir)))
    return report


def _input_base(store) -> str | None:
    """The raw data dir the ExampleGen read (its `input_base` execution property)."""
    for execution in sorted(store.get_executions(), key=lambda e: -e.id):
        value = execution.properties.get("input_base") or execution.custom_properties.get(
            "input_base")
        if value is not None and value.string_value:
            return value.string_value
    return None


def curve_pairs(curves: dict[str, list[float]]) -> dict[str, tuple[list, list, list]]:
    """metric -> (training, validation, refit) values per epoch, the refit being the second fit
    on training and validation examples (trainer.task); bookkeeping losses left out, [] where a
    fit has none."""
    names = sorted({name.removeprefix(VALIDATION_PREFIX).removeprefix(REFIT_PREFIX)
                    for name in curves} - set(_HIDDEN_CURVES))
    return {name: (curves.get(name, []), curves.get(VALIDATION_PREFIX + name, []),
                   curves.get(REFIT_PREFIX + name, [])) for name in names}


def _plot_curves(name: str, curves: dict[str, list[float]], output_dir: str) -> str:
    pairs = curve_pairs(curves)
    figure, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 3.2), squeeze=False)
    for axis, (metric, lines) in zip(axes[0], pairs.items(), strict=True):
        for values, style, label in zip(lines, ("-", "--", ":"), (
                "training", "validation", "refit on training + validation"), strict=True):
            if values:
                axis.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3,
                          label=label)
        axis.set(title=f"{name}: {metric}", xlabel="epoch")
        axis.legend(fontsize=8)
    return _save(figure, output_dir, f"curves_{name}.png")


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
    embeddings = outputs["embedding"].numpy()
    known = outputs["known"].numpy() & np.isfinite(embeddings).all(axis=1)  # SVD needs finite
    points = project_2d(embeddings[known])
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


# -- HTML --------------------------------------------------------------------------------------
def verdict_text(report: ModelReport) -> str:
    """One sentence: blessed or not, and the threshold(s) that decided it."""
    if report.blessed is None:
        return "Not evaluated (the run stopped before its Evaluator)."
    if report.blessed:
        count = len(report.checks)
        return f"Blessed: it passed the {count} threshold(s) of its gate." if count else (
            "Blessed.")
    reasons = "; ".join(check.describe() for check in report.failed) or (
        "see the Evaluator's validation result")
    return f"Not blessed: {reasons}."


def _escape(value) -> str:
    return html.escape(str(value))


def _number(metric: str, value: float | None) -> str:
    return "" if value is None else format_value(metric, value)


def _metric(metrics: dict[str, float], name: str) -> float | None:
    if name == "mean_squared_error":
        return run_summary.rmse(metrics)
    return metrics.get(name)


def _metrics_table(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return ""
    popularity = {"hit_rate_at_10": evaluation.candidate.get("popularity_hit_rate_at_10"),
                  "example_count": evaluation.candidate.get("example_count")}
    rows = []
    for label, name in TABLE_METRICS:
        values = [_metric(evaluation.candidate, name), _metric(evaluation.baseline, name),
                  popularity.get(name)]
        if all(value is None for value in values):
            continue
        rows.append(f"<tr><th>{label}</th>" + "".join(
            f'<td class="number">{_number(name, v)}</td>' for v in values) + "</tr>")
    baseline = "last blessed model" if evaluation.baseline else (
        "last blessed model (none yet)")
    return (f'<table class="metrics"><tr><th>TFMA, eval split</th><th>this model</th>'
            f"<th>{baseline}</th><th>popularity</th></tr>{''.join(rows)}</table>")


def _gate_table(checks: list[ThresholdCheck]) -> str:
    if not checks:
        return ""
    rows = "".join(
        f"<tr><td>{_escape(check.describe())}</td><td class="
        f"\"{'blessed' if check.passed else 'refused'}\">"
        f"{'passed' if check.passed else 'FAILED'}</td></tr>"
        for check in sorted(checks, key=lambda c: c.passed))
    return f'<table class="gate"><tr><th>threshold</th><th>result</th></tr>{rows}</table>'


def _model_section(report: ModelReport) -> str:
    css = {True: "blessed", False: "refused", None: ""}[report.blessed]
    label = {True: "blessed", False: "not blessed", None: "not evaluated"}[report.blessed]
    pushed = (f"Pushed to <code>{_escape(report.pushed_to)}</code>." if report.pushed_to
              else "Not pushed.")
    tensorboard = (f"<p>Training logs: <code>tensorboard --logdir "
                   f"{_escape(report.tensorboard_dir)}</code></p>"
                   if report.tensorboard_dir else "")
    figures = "".join(
        f'<figure><img src="{_escape(file)}" alt="{_escape(report.name)}: {_escape(caption)}">'
        f"<figcaption>{_escape(caption)}</figcaption></figure>"
        for caption, file in report.images)
    return (f'<section class="model" id="model-{_escape(report.name)}">'
            f'<h2>{_escape(report.name)} <span class="{css}">{label}</span></h2>'
            f'<p class="verdict {css}">{_escape(verdict_text(report))}</p>'
            f"{_gate_table(report.checks)}<p class=\"push\">{pushed}</p>"
            f"{_metrics_table(report.evaluation)}{tensorboard}{figures}</section>")


def _summary_table(reports: list[ModelReport]) -> str:
    rows = []
    for report in reports:
        metrics = report.evaluation.candidate if report.evaluation else {}
        css = {True: "blessed", False: "refused", None: ""}[report.blessed]
        verdict = {True: "blessed", False: "not blessed", None: ""}[report.blessed]
        rows.append(
            f'<tr><td><a href="#model-{_escape(report.name)}">{_escape(report.name)}</a></td>'
            + "".join(f'<td class="number">{_number(name, _metric(metrics, name))}</td>'
                      for _, name in TABLE_METRICS[:3])
            + f'<td class="{css}">{verdict}</td><td>{_escape(report.pushed_to or "-")}</td></tr>')
    header = "".join(f"<th>{label}</th>" for label, _ in TABLE_METRICS[:3])
    return (f'<table class="summary"><tr><th>model</th>{header}<th>gate</th><th>pushed to</th>'
            f"</tr>{''.join(rows)}</table>")


def _write_html(output_dir: str, reports: list[ModelReport]) -> str:
    page = ("<!doctype html><html lang='en'><meta charset='utf-8'>"
            f"<title>recsys run report</title><style>{STYLE}</style>"
            "<h1>recsys run report</h1>"
            "<p>The latest pipeline run: each model's Evaluator (TFMA on the eval split), "
            "its gate and its push.</p>"
            f"{_summary_table(reports)}"
            f"{cold_start_table({r.name: {'eval': r.trainer_eval} for r in reports})}"
            f"{''.join(_model_section(r) for r in reports)}</html>")
    path = os.path.join(output_dir, "report.html")
    with open(path, "w") as handle:
        handle.write(page)
    return path


def cold_start_table(metrics: dict[str, dict]) -> str:
    """HTML table of protocol COLDSTART's buckets (rows) by model and popularity (columns):
    HR@10 / NDCG@10 and the examples per bucket; "" when no model has buckets."""
    buckets = {name: model["eval"]["cold_start_buckets"] for name, model in sorted(metrics.items())
               if model.get("eval", {}).get("cold_start_buckets")}
    if not buckets:
        return ""
    names = sorted({bucket for model in buckets.values() for bucket in model})
    header = "".join(f"<th>{_escape(model)}</th>" for model in buckets)
    rows = []
    for bucket in names:
        cells = [buckets[model].get(bucket) for model in buckets]
        shown = next(cell for cell in cells if cell)
        rows.append(
            f"<tr><td>{_escape(bucket)}</td><td>{shown['examples']}</td>"
            + "".join(f"<td>{_figures(cell, '')}</td>" for cell in cells)
            + f"<td>{_figures(shown, 'popularity_')}</td></tr>")
    return ("<h2>Cold start (protocol coldstart): HR@10 / NDCG@10</h2><table class=\"cold\">"
            f"<tr><th>bucket</th><th>examples</th>{header}<th>popularity</th></tr>"
            f"{''.join(rows)}</table>")


def _figures(cell: dict | None, prefix: str) -> str:
    if not cell:
        return ""
    return f"{cell[prefix + 'hit_rate_at_10']:.4f} / {cell[prefix + 'ndcg_at_10']:.4f}"

