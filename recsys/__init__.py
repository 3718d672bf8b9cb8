"""The top of the project: the `recsys` command line (`cli`), the REST service and UI
(`serving`), run inspection (`inspection`) and data sources (`data`).

Lower layers (contract <- components, transform, trainer <- pipeline) never import it; see
docs/architecture.md.
"""
