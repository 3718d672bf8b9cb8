"""Model names -> (class, default config), and `build_model` to make a compiled one."""

from __future__ import annotations

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


def make_optimizer(config: TrainingConfig) -> tf.keras.optimizers.Optimizer:
    optimizers = {"adam": tf.keras.optimizers.Adam, "adagrad": tf.keras.optimizers.Adagrad}
    return optimizers[config.optimizer](learning_rate=config.learning_rate)


def build_model(
    name: str, vocab: VocabSizes, config: TrainingConfig | None = None,
    catalogue: Features | None = None, movie_counts: np.ndarray | None = None,
) -> RecommenderModel:
    """The model `name` built for `vocab`, compiled with the config's optimiser.

    `config` defaults to the model's DEFAULT_CONFIGS entry and must be of the same class.
    Retrieval models need the `catalogue` and, for the sampled softmax, the training
    `movie_counts` [M] (see trainer.data.TrainingTables). Under a distribution strategy, call
    this in its `scope()`.
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
    model.compile(optimizer=make_optimizer(config))
    return model
