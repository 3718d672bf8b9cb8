"""Feature names and shapes shared by ExampleGen, Transform, Trainer and serving.

Defined once here; every other module imports these names instead of spelling strings.

Raw features (tf.Examples written by ``components.movielens_example_gen``), one example per
rating event:

| name         | dtype  | shape  | meaning                                                     |
| --- | --- | --- | --- |
| user_id      | bytes  | [1]    | GroupLens user id, as written in the ratings file           |
| movie_id     | bytes  | [1]    | GroupLens movie id                                          |
| rating       | float  | [1]    | explicit rating (0.5-5); the label of rating models         |
| timestamp    | int64  | [1]    | seconds since the epoch                                     |
| title        | bytes  | [1]    | UTF-8 title without the year suffix                         |
| year         | int64  | [1]    | release year; 0 when the data has none                      |
| genres       | bytes  | [0..]  | genre names                                                 |
| gender       | bytes  | [1]    | "M"/"F"; UNKNOWN_TOKEN when the dataset has no demographics |
| age          | int64  | [1]    | age (ML-100K) or age-group code (ML-1M); 0 when unknown     |
| occupation   | bytes  | [1]    | occupation name; UNKNOWN_TOKEN when absent                  |
| history      | bytes  | [0..L] | the user's previous <= L movie ids, oldest first            |

Transformed features (``transform.preprocessing.preprocessing_fn``):

| name | dtype | shape | meaning |
| --- | --- | --- | --- |
| user_index | int64 | [B] | 0..U-1 known users, U = out-of-vocabulary |
| movie_index | int64 | [B] | 0..M-1 known movies, M = out-of-vocabulary |
| rating | float32 | [B] | label, passed through |
| genres_multi_hot | float32 | [B, GENRE_SLOTS] | one slot per genre, last slot = other |
| gender_index | int64 | [B] | vocabulary index, OOV = vocabulary size |
| occupation_index | int64 | [B] | vocabulary index, OOV = vocabulary size |
| age_bucket | int64 | [B] | 0..AGE_BUCKETS-1 quantile bucket |
| year_bucket | int64 | [B] | 0..YEAR_BUCKETS-1 quantile bucket |
| timestamp_scaled | float32 | [B] | timestamp scaled to [0, 1] over the training data |
| history_index | int64 | [B, L] | movie_index + 1 per item, 0 = padding, newest last |
| history_length | int64 | [B] | number of real (non-padding) history items |
| title | bytes | [B] | the raw title, passed through: a label for inspection, not a model input |

L, the history length, is one run's setting (`recsys run --history-length`, default
DEFAULT_HISTORY_LENGTH): the ExampleGen and Transform are given it, and every later step (the
Trainer, export, TFLite, serving) reads it from the data as the width of history_index.
"""

from __future__ import annotations

# Raw feature names.
USER_ID = "user_id"
MOVIE_ID = "movie_id"
RATING = "rating"
TIMESTAMP = "timestamp"
TITLE = "title"
YEAR = "year"
GENRES = "genres"
GENDER = "gender"
AGE = "age"
OCCUPATION = "occupation"
HISTORY = "history"

UNKNOWN_TOKEN = "unknown"

# Transformed feature names.
USER_INDEX = "user_index"
MOVIE_INDEX = "movie_index"
GENRES_MULTI_HOT = "genres_multi_hot"
GENDER_INDEX = "gender_index"
OCCUPATION_INDEX = "occupation_index"
AGE_BUCKET = "age_bucket"
YEAR_BUCKET = "year_bucket"
TIMESTAMP_SCALED = "timestamp_scaled"
HISTORY_INDEX = "history_index"
HISTORY_LENGTH_FEATURE = "history_length"

LABEL = RATING
# The MovieLens rating scale (half stars in ml-latest/25M); the parser rejects anything outside.
MIN_RATING, MAX_RATING = 0.5, 5.0

# Vocabulary file names written by Transform (tft.TFTransformOutput.vocabulary_file_by_name).
USER_VOCAB = "user_id_vocab"
MOVIE_VOCAB = "movie_id_vocab"
GENRE_VOCAB = "genre_vocab"
GENDER_VOCAB = "gender_vocab"
OCCUPATION_VOCAB = "occupation_vocab"

# Shapes fixed at graph-construction time.
DEFAULT_HISTORY_LENGTH = 20  # previous movies kept per interaction, unless a run sets another
GENRE_VOCAB_SIZE = 31  # MovieLens has 19-20 genres; the extra slot below catches the rest
GENRE_SLOTS = GENRE_VOCAB_SIZE + 1
AGE_BUCKETS = 7
YEAR_BUCKETS = 10

# Raw features describing the user (query side) and the movie (candidate side); serving
# signatures take these and fill the other side with defaults before the Transform graph.
USER_FEATURES = (USER_ID, GENDER, AGE, OCCUPATION, HISTORY, TIMESTAMP)
MOVIE_FEATURES = (MOVIE_ID, TITLE, YEAR, GENRES)
