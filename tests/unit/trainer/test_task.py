"""The Trainer's training loop: a loss that stops being finite is an error, not an export;
the refit runs the epochs the first fit kept."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import catalogue
from tests.fixtures.documented import assert_documented
from tests.fixtures.model_inputs import FAST, VOCAB, make_features
from trainer import data, task
from trainer.config import TRAINING_SEED, config_with_overrides, default_config
from trainer.errors import TrainingDiverged


def _batches() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(make_features(256, seed=3)).batch(64)


def test_a_diverging_loss_stops_training_naming_model_and_learning_rate() -> None:
    config = config_with_overrides("mf", {**FAST, "solver": "adam", "learning_rate": "1e30",
                                          "epochs": "3"})
    tables = data.training_tables(_batches(), VOCAB)
    with pytest.raises(TrainingDiverged) as error:
        task.fit("mf", VOCAB, config, tables, _batches())
    # The line docs/operating.md shows (the command prints the error's message as it is).
    assert_documented(str(error.value), "mf: training diverged: the loss became nan at epoch 1, "
                      "step 2; nothing was exported. Lower mf.learning_rate (now 1e+30), e.g. "
                      "--hparam mf.learning_rate=1e+29")


def test_a_finite_loss_trains_every_epoch() -> None:
    config = config_with_overrides("mf", {**FAST, "solver": "adam", "epochs": "2"})
    _, curves = task.fit("mf", VOCAB, config, data.training_tables(_batches(), VOCAB),
                         _batches())
    assert len(curves["loss"]) == 2


@pytest.mark.parametrize(("patience", "expected"), [(0, 5), (2, 3)])
def test_the_refit_trains_as_many_epochs_as_the_fit_kept(patience, expected) -> None:
    """Early stopping restored the epoch of the lowest validation loss (the 3rd); the refit on
    training + validation runs that many, and every epoch without early stopping."""
    config = config_with_overrides("mf", {"solver": "adam", "epochs": "5",
                                          "early_stopping_patience": str(patience)})
    curves = {"loss": [5, 4, 3, 2, 1], "val_loss": [3.0, 2.5, 2.4, 2.6, 2.7]}
    assert task.kept_epochs(config, curves) == expected


def test_a_cascade_trains_through_the_same_loop() -> None:
    """two_stage's config has no optimiser of its own: the loop's loss guard and the refit's
    epoch count leave it alone, and each stage reports its curves."""
    config = config_with_overrides("two_stage", {})
    tables = data.training_tables(_batches(), VOCAB)
    _, curves = task.fit("two_stage", VOCAB, config, tables, _batches())
    assert {f"{stage}_loss" for stage in catalogue.entry("two_stage").stages} <= set(curves)
    assert task.kept_epochs(config, curves) == config.epochs


def test_a_cascade_stage_trains_as_it_does_alone() -> None:
    """Each stage starts from the training seed, so the second stage ends with the weights of
    the same model fitted alone on the same batches: the first stage cannot move it."""
    tables = data.training_tables(_batches(), VOCAB)
    cascade, _ = task.fit("two_stage", VOCAB, config_with_overrides("two_stage", {}), tables,
                          _batches())
    name = catalogue.entry("two_stage").stages[1]
    config = default_config(name)
    tf.keras.utils.set_random_seed(TRAINING_SEED)
    alone, _ = task.fit(name, VOCAB, config, tables,
                        _batches().unbatch().batch(config.batch_size))
    assert len(cascade.second.weights) == len(alone.weights) > 0
    for inside, outside in zip(cascade.second.weights, alone.weights, strict=True):
        np.testing.assert_allclose(inside.numpy(), outside.numpy(), rtol=1e-5, err_msg=inside.name)
