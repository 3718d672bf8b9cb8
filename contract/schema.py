"""Where the curated schema is: `schema.pbtxt` beside this module, the reviewed types, domains,
presence and drift thresholds of the raw features (contract/features.py names them).

It ships inside the package, so an installed wheel and the pipeline image find it without the
source tree.
"""

from __future__ import annotations

import importlib.resources
import os

CURATED_SCHEMA = "schema.pbtxt"


def resolve(schema_file: str = CURATED_SCHEMA) -> str:
    """An absolute path or URL as given; a relative one inside this package."""
    if "://" in schema_file or os.path.isabs(schema_file):
        return schema_file
    return str(importlib.resources.files(__package__).joinpath(schema_file))
