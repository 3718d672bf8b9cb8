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
