"""The ExampleGen's driver under LocalDagRunner: TFX's FileBasedDriver, plus for spans a
fingerprint of the whole window and one-line errors for a bad span directory or when no
complete span matches.

TFX's driver resolves the span (the latest complete one, or the one a static RangeConfig
names) and fingerprints the files its pattern matches: for spans that is only the latest
span's `_SUCCESS` marker. Here the fingerprint covers every file the run reads (spans.py), so
a span re-delivered with new content, or a changed window, invalidates the cache. Vertex AI
runs TFX's own driver (its pre-cache-check hook for FileBasedExampleGen), which keeps the
marker's fingerprint: docs/deploy.md says what that means there.
"""

from __future__ import annotations

from typing import Any

from tfx.components.example_gen import driver, utils
from tfx.proto import range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.movielens_example_gen import executor, spans


class Driver(driver.FileBasedDriver):
    def resolve_exec_properties(self, exec_properties: dict[str, Any], pipeline_info,
                                component_info) -> dict[str, Any]:
        window = exec_properties.get(executor.WINDOW_KEY)
        if window is None:  # a plain MovieLens directory: TFX's driver as it is
            return super().resolve_exec_properties(exec_properties, pipeline_info,
                                                    component_info)
        data_dir = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        # Names first: TFX's driver fails on a marked `span-7b/` with "Cannot find span
        # number", which would read as "no complete span" below.
        spans.complete_spans(data_dir)
        try:
            resolved = super().resolve_exec_properties(exec_properties, pipeline_info,
                                                       component_info)
        except ValueError as error:  # TFX: "Cannot find matching for split ..."
            raise spans.no_complete_span(data_dir, _static_span(exec_properties)) from error
        resolved[utils.FINGERPRINT_PROPERTY_NAME] = spans.fingerprint(
            data_dir, resolved[utils.SPAN_PROPERTY_NAME], int(window))
        return resolved


def _static_span(exec_properties: dict[str, Any]) -> int | None:
    """The span a static RangeConfig asks for, None for the latest."""
    text = exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY)
    if not text:
        return None
    range_config = proto_utils.json_to_proto(text, range_config_pb2.RangeConfig())
    if range_config.HasField("static_range"):
        return range_config.static_range.start_span_number
    return None
