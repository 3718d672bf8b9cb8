"""Names that cross a process or file boundary: the Trainer's custom_config keys, environment
variables, files the Trainer writes and the SavedModel's signature names.

Spelled once here so that the pipeline that sets them, the process that reads them and the
tools that inspect them agree without importing one another.
"""

from __future__ import annotations

# Trainer custom_config (pipeline/pipeline.py sets them, trainer/task.py reads them).
MODEL_NAME_KEY = "model_name"
HPARAMS_KEY = "hparams"
# Tuner custom_config (pipeline/pipeline.py sets them, trainer/tuning.py reads them).
TUNER_TRIALS_KEY = "tuner_trials"
TUNER_ALGORITHM_KEY = "tuner_algorithm"
# Transform custom_config (pipeline/pipeline.py sets it, transform/preprocessing.py reads it):
# the run's history length, the width of history_index that every later step reads from it.
HISTORY_LENGTH_KEY = "history_length"
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
# score_features scores each row's movie under every movie-side coalition: column c keeps
# movie group i iff bit i of c is set.
MOVIE_COALITIONS = 2 ** len(MOVIE_GROUPS)
# The most rows one request may carry: TF Serving's batching refuses larger requests
# (max_batch_size of k8s_serving's batching_parameters.txt), so clients split bigger ones. An
# explanation's whole coalition grid (2^10 user-side coalitions) is one request.
MAX_REQUEST_ROWS = 1024
# Lists of ids (a history, movies to exclude) travel as ONE string per row, ids separated by
# whitespace: every signature input is then [B] or [B, fixed], which TF Serving's batching
# needs (it concatenates concurrent requests along the batch dimension).
ID_SEPARATOR = " "
# Every signature returns the model's top K.
TOP_K = 10

# TF Serving replays this file of PredictionLog records (TFRecord) when it loads a version, so
# the first real requests do not pay for the model's lazy initialisation. The Trainer writes it
# into the SavedModel (trainer/warmup.py); the infra check replays it before a push.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"

# Custom properties of the infra check's InfraBlessing, beside TFX's `blessed` (the
# InfraCheck executor writes them, the run summary reads them): whether the model was served at
# all (only models the Evaluator blessed are) and why it was blessed or refused, in one line.
INFRA_CHECKED = "checked"
INFRA_REASON = "reason"
