"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, MLMD on SQLite."""

from __future__ import annotations

import os

from tfx import v1 as tfx

from pipeline import configs
from pipeline.pipeline import create_pipeline


def run(settings: configs.PipelineSettings) -> None:
    """Runs every node; raises when one fails (ML Metadata records which, and why)."""
    if settings.metadata_path is None:
        raise ValueError("a local run needs settings.metadata_path (PipelineSettings.local)")
    os.makedirs(os.path.dirname(settings.metadata_path), exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(
        settings,
        tfx.orchestration.metadata.sqlite_metadata_connection_config(settings.metadata_path)))
