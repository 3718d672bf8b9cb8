"""Model names -> (class, default config), and `build_model` to make a compiled one."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from trainer.config import DEFAULT_CONFIGS, TrainingConfig
from trainer.models.base import RETRIEVAL, RecommenderModel
from trainer.models.hybrid import HybridTwoTower
from trainer.models.mf import BiasedMatrixFactorization
from trainer.models.ranking import DeepRanking
from trainer.models.retrieval import TwoTowerRetrieval
from trainer.models.sequential import SequentialNextItem
from trainer.models.towers import Features, VocabSizes

_CLASSES: dict[str, type[RecommenderModel]] = {
    "mf": BiasedMatrixFactorization,
    "retrieval": TwoTowerRetrieval,
    "ranking": DeepRanking,
    "hybrid": HybridTwoTower,
    "sequential": SequentialNextItem,
}
MODELS: dict[str, tuple[type[RecommenderModel], TrainingConfig]] = {
    name: (cls, DEFAULT_CONFIGS[name]) for name, cls in _CLASSES.items()
}
MODEL_NAMES = tuple(MODELS)


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
    catalogue: Features | None = None, movie_counts: np.ndarray | None = None,
) -> RecommenderModel:
    """The model `name` built for `vocab`, compiled with the config's optimiser.

    `config` defaults to the model's DEFAULT_CONFIGS entry and must be of the same class.
    Retrieval models need the `catalogue` and, for the sampled softmax, the training
    `movie_counts` [M] (see trainer.data.TrainingTables); a cosine learning-rate schedule
    needs `movie_counts` too (their sum is the number of training examples). Under a
    distribution strategy, call this in its `scope()`.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")
    cls, default = MODELS[name]
    config = config or default
    if type(config) is not type(default):
        raise ValueError(f"{name} needs a {type(default).__name__}, got {type(config).__name__}")
    if cls.kind == RETRIEVAL:
        if catalogue is None:
            raise ValueError(f"{name} is a retrieval model: it needs the catalogue")
        model = cls(vocab, config, catalogue, movie_counts)
    else:
        model = cls(vocab, config)
    train_examples = None if movie_counts is None else int(np.sum(movie_counts))
    model.compile(optimizer=make_optimizer(config, train_examples))
    return model
