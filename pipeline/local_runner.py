"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, MLMD on SQLite."""

from __future__ import annotations

import os

from tfx import v1 as tfx

from pipeline import configs
from pipeline.pipeline import create_pipeline


def run(settings: configs.PipelineSettings, metadata_path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(metadata_path)), exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(
        settings,
        tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)))
