"""`build_model`: a compiled model from its catalogue entry (contract/catalogue.py)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import tensorflow as tf

from contract import catalogue
from trainer.config import TrainingConfig, default_config
from trainer.models.base import RecommenderModel
from trainer.models.towers import Features, VocabSizes


def model_class(name: str) -> type[RecommenderModel]:
    """The class the catalogue entry of `name` names."""
    module, _, cls = catalogue.entry(name).model_class.rpartition(".")
    return getattr(importlib.import_module(module), cls)


def learning_rate(
    config: TrainingConfig, train_examples: int | None = None
) -> float | tf.keras.optimizers.schedules.LearningRateSchedule:
    """The config's learning rate; a cosine schedule needs the (global) training example count
    to decay to 0 at the last step."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if not train_examples:
        raise ValueError("lr_schedule 'cosine' needs the number of training examples")
    steps = config.epochs * math.ceil(train_examples / config.batch_size)
    return tf.keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)


def make_optimizer(
    config: TrainingConfig, train_examples: int | None = None
) -> tf.keras.optimizers.Optimizer:
    optimizers = {"adam": tf.keras.optimizers.Adam, "adagrad": tf.keras.optimizers.Adagrad}
    return optimizers[config.optimizer](learning_rate=learning_rate(config, train_examples))


def build_model(
    name: str, vocab: VocabSizes, config: TrainingConfig | None = None,
    catalogue_features: Features | None = None, movie_counts: np.ndarray | None = None,
) -> RecommenderModel:
    """The model `name` built for `vocab`, compiled with the config's optimiser.

    `config` defaults to the catalogue's config class and must be of that class. Two-tower
    models need the `catalogue_features` (one row per known movie) and, for the sampled
    softmax, the training `movie_counts` [M] (see trainer.data.TrainingTables); a cosine
    learning-rate schedule needs `movie_counts` too (their sum is the number of training
    examples). Under a distribution strategy, call this in its `scope()`.
    """
    entry = catalogue.entry(name)
    default = default_config(name)
    config = config or default
    if type(config) is not type(default):
        raise ValueError(f"{name} needs a {type(default).__name__}, got {type(config).__name__}")
    model = model_class(name)(entry, vocab, config, catalogue_features, movie_counts)
    if isinstance(config, TrainingConfig):  # else a cascade, whose stages come compiled
        train_examples = None if movie_counts is None else int(np.sum(movie_counts))
        # Compiled either way (evaluate and the callbacks need it); Keras' default optimiser
        # for a model that Keras' fit does not train (mf's Gibbs sampler).
        model.compile(optimizer=make_optimizer(config, train_examples)
                      if config.fitted_by_gradient else "rmsprop")
    return model
