"""Names that cross a process or file boundary: the Trainer's custom_config keys, environment
variables, files the Trainer writes and the SavedModel's signature names.

Spelled once here so that the pipeline that sets them, the process that reads them and the
tools that inspect them agree without importing one another.
"""

from __future__ import annotations

# Trainer custom_config (pipeline/pipeline.py sets them, trainer/task.py reads them).
MODEL_NAME_KEY = "model_name"
HPARAMS_KEY = "hparams"
# Only for the cache key: TFX fingerprints module files, not installed packages.
CODE_VERSION_KEY = "code_version"
# A Vertex AI TensorBoard to stream the Trainer's logs to (`recsys compile --tensorboard`):
# {TENSORBOARD_RESOURCE: "projects/P/locations/R/tensorboards/ID", TENSORBOARD_EXPERIMENT: name}.
TENSORBOARD_KEY = "tensorboard"
TENSORBOARD_RESOURCE = "resource"
TENSORBOARD_EXPERIMENT = "experiment"

# Environment.
DISTRIBUTION_ENV = "RECSYS_DISTRIBUTION"  # default | mirrored | multi_worker (trainer/task.py)
MULTI_WORKER = "multi_worker"

# Written by the Trainer into its model_run directory: eval metrics, time, curves, config.
METRICS_FILE = "metrics.json"

# SavedModel signatures (trainer/export.py writes them; the Evaluator, the Pusher and the
# serving process call them).
RECOMMEND = "recommend"
PREDICT_RATING = "predict_rating"
SERVING_TF_EXAMPLE = "serving_tf_example"
ITEM_EMBEDDINGS = "item_embeddings"
SIMILAR_ITEMS = "similar_items"
SCORE_FEATURES = "score_features"
# score_features' reset columns, in order (see trainer/export.py for their reference values).
USER_GROUPS = ("user_id", "gender", "age", "occupation")
MOVIE_GROUPS = ("movie_id", "genres", "year")
# Every signature returns the model's top K.
TOP_K = 10
