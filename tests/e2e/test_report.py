"""The run report of a real (tiny) pipeline run: report.html and valid PNGs, one set per model,
read in headless Chromium as a user reads it (the gate's verdict and thresholds, the metrics
beside the popularity baseline, where the model was pushed, the training curves)."""

import re

import pytest
from PIL import Image

from tests.fixtures.browser import browser as open_browser
from tests.fixtures.pipeline_run import MODELS

pytestmark = pytest.mark.e2e
RATING_MODELS = ("ranking", "mf")


@pytest.fixture(scope="module")
def report(run_output, tmp_path_factory):
    from recsys.inspection import report

    data_dir, output = run_output
    directory = tmp_path_factory.mktemp("report")
    path = report.write_report(str(output / "metadata.sqlite"), str(directory))
    return directory, path, output


def test_report_files(report):
    directory, path, _ = report
    assert path == str(directory / "report.html")
    pngs = sorted(p.name for p in directory.glob("*.png"))
    assert set(pngs) == {*(f"curves_{m}.png" for m in MODELS),
                         *(f"embeddings_{m}.png" for m in MODELS)}
    for name in pngs:
        with Image.open(directory / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 200
    page = (directory / "report.html").read_text()
    assert all(f'src="{name}"' in page for name in pngs)
    assert "{" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S)  # no JSON dumps


def test_the_report_shows_each_gate_verdict_in_a_browser(report):
    from selenium.webdriver.common.by import By

    directory, _, output = report
    browser = open_browser()
    try:
        browser.get((directory / "report.html").as_uri())
        for name in MODELS:
            section = browser.find_element(By.ID, f"model-{name}")
            assert section.find_element(By.TAG_NAME, "h2").text == f"{name} blessed"
            verdict = section.find_element(By.CSS_SELECTOR, "p.verdict").text
            # A rerun of the shared pipeline output also has change thresholds vs the last
            # blessed model: only the value thresholds are counted here.
            rows = [row for row in section.find_elements(
                By.CSS_SELECTOR, "table.gate tr td:first-child")
                if not row.text.startswith("change in ")]
            # contract/gates.py: example_count, then the lift over popularity (top-K models)
            # or the rating error and its reduction against a constant (rating models)
            expected = (("mean_squared_error = ", "needs <= 1.21"),
                        ("rating_error_reduction = ", "needs >= 0.01")) if (
                name in RATING_MODELS) else (("hit_rate_lift_at_10 = ", "needs >= 0.01"),)
            assert len(rows) == 1 + len(expected), [r.text for r in rows]
            assert re.fullmatch(r"Blessed: it passed the \d+ threshold\(s\) of its gate\.", verdict)
            gate = section.find_element(By.CSS_SELECTOR, "table.gate").text
            assert "example_count = " in gate and "needs >= 30" in gate
            assert all(bound in gate and threshold in gate for bound, threshold in expected)
            assert "FAILED" not in gate
            assert re.fullmatch(rf"Pushed to {re.escape(str(output))}/serving/{name}/\d+\.",
                                section.find_element(By.CSS_SELECTOR, "p.push").text)
            metrics = section.find_element(By.CSS_SELECTOR, "table.metrics").text
            assert "HR@10" in metrics and "popularity" in metrics
            assert ("RMSE" in metrics) == (name in RATING_MODELS)
            curves = section.find_element(By.CSS_SELECTOR, f'img[src="curves_{name}.png"]')
            assert browser.execute_script("return arguments[0].naturalWidth", curves) > 200
            assert f"Trainer.{name}/model_run" in section.text  # the TensorBoard command
        summary = browser.find_element(By.CSS_SELECTOR, "table.summary").text
        assert summary.count("blessed") == len(MODELS)
    finally:
        browser.quit()


def test_pca_projection_orders_components_by_variance():
    import numpy as np

    from recsys.inspection.report import project_2d

    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 5)) * np.array([10.0, 3.0, 0.1, 0.1, 0.1])
    points = project_2d(data)
    assert points.shape == (200, 2)
    assert points[:, 0].var() > points[:, 1].var() > 1.0
