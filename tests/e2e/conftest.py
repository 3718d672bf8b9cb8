import pytest

from tests.fixtures.pipeline_run import pipeline_output


@pytest.fixture(scope="session")
def run_output():
    """(raw data dir, run output dir) of the one `recsys run` of every model that the serving,
    pipeline, report and TensorBoard tests share (tests/fixtures/pipeline_run.py)."""
    return pipeline_output()
