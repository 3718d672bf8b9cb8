"""Hyper-parameter tuning on the validation split: the TFX Tuner's `tuner_fn` and the objective.

The Tuner component (pipeline/pipeline.py, `recsys run --tune`) calls `tuner_fn` with the
transformed `train` split as its train files and the `validation` split as its eval files
(contract/splits.py); the test split is never read here. Each trial builds the model's config
from its defaults (trainer/config.py) with the trial's values of the model's SEARCH_SPACE, fits
it on `train` and scores it on `validation`: NDCG@10 under protocol TOPK for the retrieval
models (HR@10's smoother sibling: one hit more moves it by a fraction of a rank, not a whole
user), RMSE for the rating models. The best values become the Tuner's best_hyperparameters,
which `trainer.task.run_fn` applies over the defaults (`--hparam` overrides win).

Our models are tf-keras (Keras 2) models and KerasTuner 1.4.8 targets Keras 3, whose callbacks
tf-keras' `fit` rejects, so `ValidationTuner` takes KerasTuner's documented "tune anything"
path: a `Tuner` subclass whose `run_trial` trains and returns the objective itself; KerasTuner
keeps the oracle (random search or Bayesian optimisation), the trial bookkeeping and the
best-hyper-parameters record the TFX Tuner writes out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import keras_tuner
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from scipy.stats import qmc
from tfx import v1 as tfx

from contract import catalogue, splits
from contract.keys import HPARAMS_KEY, MODEL_NAME_KEY, TOP_K, TUNER_ALGORITHM_KEY, TUNER_TRIALS_KEY
from trainer import data, task
from trainer.config import (
    TRAINING_SEED,
    Choice,
    Range,
    TrainingConfig,
    config_with_tuned,
    default_config,
    search_space,
)

SCAN_BATCH = 4096
TUNING_SEED = 42
DEFAULT_TRIALS = 10
ALGORITHMS = ("random", "bayesian")
TOPK_OBJECTIVE = f"val_ndcg_at_{TOP_K}"
RATING_OBJECTIVE = "val_rmse"


def objective(name: str) -> keras_tuner.Objective:
    """What a trial of model `name` is ranked by (see the module docstring)."""
    if catalogue.entry(name).kind == catalogue.Kind.RATING:
        return keras_tuner.Objective(RATING_OBJECTIVE, direction="min")
    return keras_tuner.Objective(TOPK_OBJECTIVE, direction="max")


def hyperparameters(name: str, fixed: Mapping[str, str] | None = None
                    ) -> keras_tuner.HyperParameters:
    """Model `name`'s search space as KerasTuner HyperParameters, each defaulting to the
    model's default config value where the space holds it; `fixed` fields (the run's --hparam
    overrides) are left out of the search."""
    defaults = default_config(name)
    space = keras_tuner.HyperParameters()
    for field, dimension in search_space(name, fixed).items():
        if fixed and field in fixed:
            continue
        default = getattr(defaults, field)
        if isinstance(dimension, Choice) and all(isinstance(v, bool) for v in dimension.values):
            space.Boolean(field, default=default)  # a Choice would hold 0 and 1
        elif isinstance(dimension, Choice):
            space.Choice(field, list(dimension.values),
                         default=default if default in dimension.values else None)
        elif isinstance(dimension, Range):
            space.Float(field, dimension.low, dimension.high,
                        sampling="log" if dimension.log else "linear",
                        default=default if dimension.low <= default <= dimension.high else None)
    return space


class _DefaultsFirst:
    """A KerasTuner oracle mixin: the first trial is the search space's defaults (the model's
    default config), so the best trial is never worse on validation than the defaults. Bayesian
    optimisation samples 3 x dimensions random points before its model kicks in, so a budget
    of a few trials is a random search that would otherwise never see the defaults."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:  # create_trial records the trial after populate_space
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                    "values": self.hyperparameters.copy().values}
        return super().populate_space(trial_id)


class _QuasiRandom:
    """A KerasTuner oracle mixin: the random points (all of random search's, Bayesian
    optimisation's initial ones) follow a scrambled Sobol sequence instead of independent
    draws, the initial design Ax and BoTorch use. A budget of a few trials then covers each
    dimension evenly: of the first 2^k points, half take each value of a yes-or-no field and
    each 2^k-quantile of a range holds one. The count of points drawn is not part of the
    oracle's saved state: a reloaded oracle starts the sequence again and skips the points its
    trials already hold (`_duplicate`). Independent draws clump; with the seed used here, 8 of
    them gave the two-tower `retrieval` no trial with `movie_bias` and a temperature above
    0.3, the corner that wins on the synthetic data (trainer/config.py). KerasTuner has no
    quasi-random sampler, hence this one."""

    def _random_values(self) -> dict[str, Any] | None:
        space = self.hyperparameters.space
        drawn = getattr(self, "_sobol_drawn", 0)
        for _ in range(self._max_collisions + 1):
            drawn += 1
            point = _sobol_point(len(space), drawn)
            values = {hp.name: hp.prob_to_value(float(share))
                      for hp, share in zip(space, point, strict=True)}
            if not self._duplicate(values):
                self._sobol_drawn = drawn
                return values
        return None


def _sobol_point(dimensions: int, index: int) -> np.ndarray:
    """The `index`-th (from 1) point of the scrambled Sobol sequence in [0, 1)^dimensions
    seeded by TUNING_SEED; drawn as a power-of-two prefix, which keeps its balance."""
    sequence = qmc.Sobol(dimensions, scramble=True, seed=TUNING_SEED)
    return sequence.random_base2(max(1, math.ceil(math.log2(index))))[index - 1]


class _BayesianDefaultsFirst(_DefaultsFirst, _QuasiRandom,
                             keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _RandomDefaultsFirst(_DefaultsFirst, _QuasiRandom, keras_tuner.oracles.RandomSearchOracle):
    pass


def validation_metrics(
    name: str,
    config: TrainingConfig,
    train_files: list[str],
    validation_files: list[str],
    data_accessor: tfx.components.DataAccessor,
    tft_output: tft.TFTransformOutput,
    seed: int = TRAINING_SEED,
) -> dict[str, Any]:
    """Fits model `name` with `config` from training `seed` on the train files, scores the
    validation files as the Trainer scores the test split (trainer.task.evaluate), the
    validation movies not counted as seen. Keys prefixed `val_`."""
    def batches(patterns: list[str], batch_size: int = SCAN_BATCH, shuffle: bool = False):
        return data.dataset(patterns, data_accessor, tft_output, batch_size, shuffle=shuffle)

    tf.keras.utils.set_random_seed(seed)
    vocab = data.vocab_sizes(tft_output)
    tables = data.training_tables(batches(train_files), vocab)
    model, _ = task.fit(name, vocab, config, tables,
                        batches(train_files, config.batch_size, shuffle=True))
    metrics = task.evaluate(model, tables, batches(validation_files))
    return {f"val_{key}": value for key, value in metrics.items()}


class ValidationTuner(keras_tuner.Tuner):
    """A KerasTuner tuner whose trials train one of our models and return its validation
    objective (see the module docstring); `hypermodel` is unused."""

    def __init__(self, name: str, overrides: Mapping[str, str], train_files: list[str],
                 validation_files: list[str], data_accessor: tfx.components.DataAccessor,
                 tft_output: tft.TFTransformOutput, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = name
        self._overrides = dict(overrides)
        self._files = (train_files, validation_files)
        self._data_accessor, self._tft_output = data_accessor, tft_output

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args, **kwargs
                  ) -> dict[str, float]:
        config = config_with_tuned(self.model_name, trial.hyperparameters.values, self._overrides)
        metrics = validation_metrics(self.model_name, config, *self._files,
                                     self._data_accessor, self._tft_output)
        return {key: float(value) for key, value in metrics.items()
                if isinstance(value, (int, float, np.floating)) and value is not None}


def make_oracle(name: str, algorithm: str, trials: int,
                fixed: Mapping[str, str] | None = None) -> keras_tuner.Oracle:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"tuning algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    oracle_class = _BayesianDefaultsFirst if algorithm == "bayesian" else _RandomDefaultsFirst
    return oracle_class(objective=objective(name), max_trials=trials,
                        hyperparameters=hyperparameters(name, fixed), seed=TUNING_SEED)


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """The TFX Tuner's entry point: custom_config names the model, its --hparam overrides
    (fixed, not searched), the trial budget and the algorithm."""
    config = fn_args.custom_config or {}
    name = config[MODEL_NAME_KEY]
    overrides = config.get(HPARAMS_KEY) or {}
    trials = int(config.get(TUNER_TRIALS_KEY) or DEFAULT_TRIALS)
    algorithm = config.get(TUNER_ALGORITHM_KEY) or "bayesian"
    validation = [pattern for pattern in fn_args.eval_files
                  if os.path.basename(os.path.dirname(pattern)) == f"Split-{splits.VALIDATION}"]
    if not validation:
        raise ValueError(f"the Tuner of {name} needs the {splits.VALIDATION!r} split as its "
                         f"eval split; got {list(fn_args.eval_files)}")
    tuner = ValidationTuner(
        name, overrides, list(fn_args.train_files), validation, fn_args.data_accessor,
        tft.TFTransformOutput(fn_args.transform_graph_path),
        oracle=make_oracle(name, algorithm, trials, overrides),
        directory=fn_args.working_dir, project_name=f"tune_{name}", overwrite=True)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={})
