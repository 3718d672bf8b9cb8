"""Hyper-parameters: one frozen dataclass per model (the catalogue names it), with string
overrides.

The CLI passes overrides as ``--hparam mf.embedding_dim=64``; `parse_hparam_flags` splits those
per model and `config_with_overrides` applies them, parsing each value to its field's type.
No TensorFlow here: the command line checks overrides before any work starts.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from contract import catalogue
from contract.catalogue import Group

OPTIMIZERS = ("adam", "adagrad")
LR_SCHEDULES = ("constant", "cosine")
HISTORY_ENCODERS = ("bow", "cnn", "gru")
SOFTMAXES = ("full", "sampled", "auto")
_GROUPS = "groups"  # field metadata: the feature groups a field configures


def _group_field(default: Any, *groups: Group) -> Any:
    """A field that only matters to models whose towers read one of `groups`."""
    return dataclasses.field(default=default, metadata={_GROUPS: groups})


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Fields every model has: the optimiser and the training loop."""

    learning_rate: float = 0.01
    optimizer: str = "adam"
    # "cosine": decays learning_rate to 0 over the whole run (epochs x steps per epoch).
    lr_schedule: str = "constant"
    epochs: int = 5
    batch_size: int = 1024
    # After the fit on `train` (curves on `validation`), fit again from scratch on train and
    # validation for as many epochs: the exported model learns from every training event, the
    # latest included (under TOPK leaving each user's latest out cost 0.015-0.02 HR@10 on
    # ML-100K). False halves the training time.
    refit: bool = True
    # Stop after this many epochs without a lower validation loss and keep the best epoch's
    # weights (Keras EarlyStopping on the validation split); 0: off, train every epoch.
    early_stopping_patience: int = 0
    # Warm-started from the last blessed model (trainer/warm_start.py), a model trains this
    # share of `epochs` (at least one); docs/benchmarks.md measures what that costs.
    warm_start_fraction: float = 0.25

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # every model's fields, subclasses' included
            value = getattr(self, field.name)
            _check(not isinstance(value, float) or math.isfinite(value),
                   f"{field.name} must be a finite number, got {value}")
        _check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
        _check(self.early_stopping_patience >= 0, "early_stopping_patience must be >= 0")
        _check(0 < self.warm_start_fraction <= 1, "warm_start_fraction must be in (0, 1]")
        _check(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}")
        _check(self.learning_rate > 0, "learning_rate must be > 0")
        _check(self.epochs > 0 and self.batch_size > 0, "epochs and batch_size must be > 0")


@dataclasses.dataclass(frozen=True)
class MFConfig(TrainingConfig):
    # Tuned on a validation split (every 10th RATING-protocol training example; never the test
    # split), RMSE: 0.9036 (batch 512, constant learning rate), 0.9026 (batch 256), 0.8996
    # (batch 256, cosine decay; 0.8998 with another seed); L2 0.09 / 0.12 with the cosine:
    # 0.9001 / 0.9011; constant rate: 128 dims 0.9027, L2 0.12 with 30 epochs 0.9022; Adagrad
    # 0.948.
    embedding_dim: int = 64
    # Per-example L2 on the looked-up vectors (see towers.id_embedding).
    l2: float = 0.1
    bias_l2: float = 0.01
    rating_mean: float = 3.5  # initial global bias: MovieLens ratings average ~3.5
    learning_rate: float = 0.002
    lr_schedule: str = "cosine"
    epochs: int = 20
    batch_size: int = 256


@dataclasses.dataclass(frozen=True)
class TwoTowerConfig(TrainingConfig):
    """Hyper-parameters of the two-tower family (trainer.models.two_tower); the catalogue entry
    decides which towers exist, so a field of a feature group the model does not read (its
    `group` metadata) cannot be overridden for it (see `config_with_overrides`)."""

    embedding_dim: int = 64
    l2: float = 0.01
    temperature: float = 0.1  # used with L2-normalised embeddings (cosine scores)
    normalize_embeddings: bool = True
    learning_rate: float = 0.005
    epochs: int = 20
    batch_size: int = 1024
    # "full": softmax over the catalogue; "sampled": in-batch negatives with logQ correction;
    # "auto": full below trainer.models.two_tower.SAMPLED_SOFTMAX_MIN_MOVIES movies, else sampled.
    softmax: str = "auto"
    # Share of ids replaced by OOV in training, teaching the cold path (side features, history).
    id_dropout: float = 0.0
    # Embedding size of each side feature (demographics, genres, year).
    feature_dim: int = _group_field(16, Group.DEMOGRAPHICS, Group.CONTENT)
    history_encoder: str = _group_field("bow", Group.HISTORY)
    cnn_kernel_size: int = _group_field(3, Group.HISTORY)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.temperature > 0, "temperature must be > 0")
        _check(self.softmax in SOFTMAXES, f"softmax must be one of {SOFTMAXES}")
        _check(0.0 <= self.id_dropout < 1.0, "id_dropout must be in [0, 1)")
        _check(self.history_encoder in HISTORY_ENCODERS, f"history_encoder: {HISTORY_ENCODERS}")
        _check(self.cnn_kernel_size > 0, "cnn_kernel_size must be > 0")


@dataclasses.dataclass(frozen=True)
class RetrievalConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 with the full-catalogue softmax: 0.144 (32 dims, no L2, 10 epochs),
    # 0.154 (64 dims, L2 0.01, 20 epochs).
    pass


@dataclasses.dataclass(frozen=True)
class RankingConfig(TrainingConfig):
    # ML-100K RATING-protocol RMSE: 0.9137 for the MLP alone (32 dims, dropout 0.1, L2 0.01),
    # 0.9066 with the wide MF part (dropout 0.3, batch 1024, constant rate). Then on a validation
    # split (every 10th training example), over training seeds 42 / 1 / 2: batch 512 + cosine
    # decay 0.9019 / 0.9065 / 0.9125 (the MLP makes it seed-sensitive); + wide_dim 64 and
    # dropout 0.4: - / 0.8980 / 0.9025; dropout 0.5: - / 0.8996 / 0.8987. More steps over-fit:
    # 15 epochs 0.9148, batch 256 0.9126.
    embedding_dim: int = 64
    feature_dim: int = 8  # embedding size of each side feature (gender, genres, ...)
    hidden_units: tuple[int, ...] = (128, 64)
    dropout: float = 0.5
    l2: float = 0.05
    wide_dim: int = 64  # the wide part: a biased MF with these vector sizes and L2
    wide_l2: float = 0.1
    wide_bias_l2: float = 0.01
    use_side_features: bool = True
    rating_mean: float = 3.5
    learning_rate: float = 0.002
    lr_schedule: str = "cosine"
    epochs: int = 10
    batch_size: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.wide_dim > 0, "wide_dim must be > 0")
        _check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class HybridConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 0.196 in 10 epochs: the history makes it an item-based model.
    embedding_dim: int = 32
    l2: float = 0.0
    temperature: float = 0.2
    epochs: int = 10
    id_dropout: float = 0.1
    # Warm after ML-100K's 4th quarter (bench-warm-start), HR@10 vs 0.1790 cold in 10 epochs:
    # 0.1634 in 2 epochs (0.25), 0.1738 in 4 (0.4), 0.1751 in 6; one standard error is 0.0138.
    warm_start_fraction: float = 0.4


@dataclasses.dataclass(frozen=True)
class SequentialConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 0.200 after 10 epochs (full-catalogue softmax; in-batch: 0.11).
    l2: float = 0.0
    epochs: int = 10
    history_encoder: str = _group_field("gru", Group.HISTORY)


def _parse_value(text: str, field_type: typing.Any) -> typing.Any:
    if field_type is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"not a boolean: {text!r}")
        return lowered in ("true", "1", "yes")
    if typing.get_origin(field_type) is tuple:
        (item_type, _) = typing.get_args(field_type)
        return tuple(item_type(part) for part in text.split(",") if part.strip())
    return field_type(text)


def default_config(name: str) -> TrainingConfig:
    """The default config of model `name`: its catalogue entry's config class."""
    module, _, cls = catalogue.entry(name).config_class.rpartition(".")
    return getattr(importlib.import_module(module), cls)()


def config_with_overrides(name: str, overrides: Mapping[str, str]) -> TrainingConfig:
    """The default config of model `name` with `overrides` (field -> string value) applied.

    Tuples are written comma-separated (``hidden_units=256,64``), booleans as true/false.
    Raises ValueError naming the unknown model, unknown field, a field of a feature group the
    model does not read, or an unparsable value.
    """
    entry = catalogue.entry(name)
    config = default_config(name)
    fields = {field.name: field for field in dataclasses.fields(config)}
    field_types = typing.get_type_hints(type(config))
    parsed = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ValueError(f"unknown hyper-parameter {name}.{key}; known: {sorted(fields)}")
        groups = fields[key].metadata.get(_GROUPS, ())
        if groups and not set(groups) & set(entry.query + entry.candidate):
            raise ValueError(f"{name}.{key} configures {' or '.join(groups)}, which {name} "
                             "does not read")
        try:
            parsed[key] = _parse_value(text, field_types[key])
        except ValueError as error:
            raise ValueError(f"bad value {text!r} for {name}.{key}: {error}") from error
    try:
        return dataclasses.replace(config, **parsed)
    except ValueError as error:
        raise ValueError(f"invalid {name} hyper-parameters {dict(overrides)}: {error}") from error


def parse_hparam_flags(flags: Sequence[str]) -> dict[str, dict[str, str]]:
    """Splits ``["mf.embedding_dim=64", ...]`` into ``{"mf": {"embedding_dim": "64"}}``."""
    per_model: dict[str, dict[str, str]] = {}
    for flag in flags:
        target, sep, value = flag.partition("=")
        model, dot, key = target.strip().partition(".")
        if not (sep and dot and model and key):
            raise ValueError(f"expected MODEL.KEY=VALUE, got {flag!r}")
        per_model.setdefault(model, {})[key] = value.strip()
    return per_model
