"""The raw tf.Example feature spec of recsys/features.py, for tests that build a Transform
output from hand-written rows."""

import tensorflow as tf

from recsys import features as F

RAW_SPEC = {
    F.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    F.MOVIE_ID: tf.io.FixedLenFeature([1], tf.string),
    F.RATING: tf.io.FixedLenFeature([1], tf.float32),
    F.TIMESTAMP: tf.io.FixedLenFeature([1], tf.int64),
    F.TITLE: tf.io.FixedLenFeature([1], tf.string),
    F.YEAR: tf.io.FixedLenFeature([1], tf.int64),
    F.GENRES: tf.io.VarLenFeature(tf.string),
    F.GENDER: tf.io.FixedLenFeature([1], tf.string),
    F.AGE: tf.io.FixedLenFeature([1], tf.int64),
    F.OCCUPATION: tf.io.FixedLenFeature([1], tf.string),
    F.HISTORY: tf.io.VarLenFeature(tf.string),
}
