"""The recommendation web service (`recsys serve`): FastAPI app, model registry, UI.

Modules: `catalogue` (movies, users and ratings read from the raw data dir: the SavedModels
carry ids only), `registry` (loads the latest pushed version of each model, hot-reloads newer
ones), `backends` (in-process SavedModel or TF Serving REST), `batching` (concurrent requests
share one signature call), `service` (what the endpoints compute), `explain` (exact Shapley
values over the input features), `app` (the HTTP API and the UI under static/).
"""
