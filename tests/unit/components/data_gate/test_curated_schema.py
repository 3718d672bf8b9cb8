"""The curated schema's importer: the run's history length replaces the schema's limit."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.data_gate import executor
from contract import features as F
from contract.schema import CURATED_SCHEMA


def _imported(tmp_path, **properties) -> dict:
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path)
    executor.ImportSchemaExecutor().Do(
        {}, {executor.SCHEMA_KEY: [schema]}, {"schema_file": CURATED_SCHEMA, **properties})
    imported = io_utils.SchemaReader().read(str(tmp_path / executor.SCHEMA_FILE))
    return {feature.name: feature for feature in imported.feature}


def test_the_history_length_becomes_the_most_history_ids(tmp_path) -> None:
    curated = _imported(tmp_path / "curated")
    assert curated[F.HISTORY].value_count.max == F.DEFAULT_HISTORY_LENGTH
    longer = _imported(tmp_path / "longer", **{executor.HISTORY_LENGTH_KEY: 50})
    assert longer[F.HISTORY].value_count.max == 50 and longer[F.HISTORY].value_count.min == 0
    for name, feature in curated.items():  # nothing else changes
        if name != F.HISTORY:
            assert longer[name] == feature
