"""The ExampleGen's error type, importable without TensorFlow (the command line reports it)."""

from __future__ import annotations


class InputDataError(ValueError):
    """A problem in the raw input, located by file and 1-based line number."""

    def __init__(self, path: str, line_number: int | None, problem: str):
        where = f"{path}:{line_number}" if line_number else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line_number = line_number
        self.problem = problem
