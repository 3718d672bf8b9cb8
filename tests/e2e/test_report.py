"""write_report on a real (tiny) pipeline run: report.html and valid PNGs, one set per model."""

import pytest
from PIL import Image

from tests.fixtures.pipeline_run import MODELS, pipeline_output

pytestmark = pytest.mark.e2e


def test_report_files(tmp_path):
    from recsys.inspection import report

    data_dir, output = pipeline_output()
    path = report.write_report(str(output / "metadata.sqlite"), str(tmp_path / "report"))
    assert path == str(tmp_path / "report" / "report.html")
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    expected = {"metrics.png", *(f"curves_{m}.png" for m in MODELS),
                *(f"embeddings_{m}.png" for m in MODELS)}
    assert set(pngs) == expected
    for name in pngs:
        with Image.open(tmp_path / "report" / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 200
    page = (tmp_path / "report" / "report.html").read_text()
    assert all(f'src="{name}"' in page for name in pngs)


def test_pca_projection_orders_components_by_variance():
    import numpy as np

    from recsys.inspection.report import project_2d

    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 5)) * np.array([10.0, 3.0, 0.1, 0.1, 0.1])
    points = project_2d(data)
    assert points.shape == (200, 2)
    assert points[:, 0].var() > points[:, 1].var() > 1.0
