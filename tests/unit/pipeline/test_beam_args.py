"""Beam args of every runner: worker processes must import `tfx` before unpickling a DoFn
(TFDV and TFMA do not import in a fresh worker otherwise; the e2e bench-scale test runs it)."""

from __future__ import annotations

from pipeline import configs, kubeflow_v2_runner


def test_local_workers_run_multi_processing_with_the_tfx_plugin() -> None:
    assert configs.local_beam_args(2) == ("--direct_running_mode=multi_processing",
                                          "--direct_num_workers=2", "--beam_plugins=tfx")


def test_vertex_direct_and_dataflow_workers_get_the_tfx_plugin_too() -> None:
    assert "--beam_plugins=tfx" in kubeflow_v2_runner.direct_beam_args()
    assert "--direct_num_workers=0" in kubeflow_v2_runner.direct_beam_args()
    dataflow = kubeflow_v2_runner.dataflow_beam_args(
        "my-project", "us-central1", "gs://bucket/tmp", "us-docker.pkg.dev/p/r/pipeline:1")
    assert "--runner=DataflowRunner" in dataflow and "--beam_plugins=tfx" in dataflow
