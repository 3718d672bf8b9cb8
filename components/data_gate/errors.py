"""Error type of the data gate, importable without TensorFlow (the CLI recognizes it)."""

from __future__ import annotations


class DataValidationError(ValueError):
    """The data do not match the curated schema, or drifted from the previous run's.

    The message is one line: it names each feature, what is wrong and the offending values,
    and where the full report is.
    """
