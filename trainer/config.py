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
from typing import Any, ClassVar

from contract import catalogue
from contract.catalogue import Group

# Every fit starts from this seed (each stage of a cascade too, so one stage's shape cannot move
# the other's initial weights): reruns on the same data compare like with like.
TRAINING_SEED = 42
OPTIMIZERS = ("adam", "adagrad")
LR_SCHEDULES = ("constant", "cosine")
HISTORY_ENCODERS = ("bow", "cnn", "gru", "attention")
MF_SOLVERS = ("gibbs", "adam")
SOFTMAXES = ("full", "sampled", "auto")
_GROUPS = "groups"  # field metadata: the feature groups a field configures
_SOLVERS = "solvers"  # field metadata: the mf solvers a field configures


def _group_field(default: Any, *groups: Group) -> Any:
    """A field that only matters to models whose towers read one of `groups`."""
    return dataclasses.field(default=default, metadata={_GROUPS: groups})


def _solver_field(default: Any, *solvers: str) -> Any:
    """A field that only matters to a model fitted by one of `solvers` (its `solver` field)."""
    return dataclasses.field(default=default, metadata={_SOLVERS: solvers})


def _ignored_by(config: Any, field: dataclasses.Field) -> str | None:
    """Why `config` does not read `field` (a field of a solver it is not fitted by); None when
    it does. Feature groups are the catalogue entry's business (see `_unread_groups`)."""
    solvers = field.metadata.get(_SOLVERS, ())
    if solvers and config.solver not in solvers:
        return (f"configures solver {' or '.join(solvers)}, and this model is fitted by "
                f"solver {config.solver}")
    return None


def _unread_groups(name: str, field: dataclasses.Field) -> str | None:
    """Why model `name` does not read `field` (it configures feature groups its towers do not
    read); None when it does."""
    groups = field.metadata.get(_GROUPS, ())
    entry = catalogue.entry(name)
    if groups and not set(groups) & set(entry.query + entry.candidate):
        return f"configures {' or '.join(groups)}, which {name} does not read"
    return None


@dataclasses.dataclass(frozen=True)
class Choice:
    """A tuning search dimension: one of `values` (trainer.tuning maps it to KerasTuner's)."""

    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Range:
    """A tuning search dimension: a float in [low, high], sampled on a log scale if `log`."""

    low: float
    high: float
    log: bool = False


SearchSpace = Mapping[str, Choice | Range]


def search_space(name: str, overrides: Mapping[str, str] | None = None) -> SearchSpace:
    """Model `name`'s tuning search space: its config class's SEARCH_SPACE (field -> dimension),
    restricted to the fields that model reads with `overrides` (--hparam strings) applied: its
    feature groups', and its solver's (`mf.solver=adam` searches Adam's fields)."""
    config = config_with_overrides(name, overrides or {})
    fields = {field.name: field for field in dataclasses.fields(config)}
    return {key: dimension for key, dimension in type(config).SEARCH_SPACE.items()
            if not (_unread_groups(name, fields[key]) or _ignored_by(config, fields[key]))}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Fields every model has: the optimiser and the training loop."""

    # What `recsys run --tune` searches (trainer.tuning), field -> dimension; defaults stay
    # for runs without it.
    SEARCH_SPACE: ClassVar[SearchSpace] = {"learning_rate": Range(1e-3, 3e-2, log=True)}

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

    @property
    def warm_start_refusal(self) -> str | None:
        """Why a fit with this config cannot start from a base model's weights
        (trainer/warm_start.py); None when it can."""
        return None

    @property
    def fitted_by_gradient(self) -> bool:
        """Whether Keras' fit trains the model with the optimiser fields above."""
        return True


@dataclasses.dataclass(frozen=True)
class MFConfig(TrainingConfig):
    SEARCH_SPACE: ClassVar[SearchSpace] = {
        "embedding_dim": Choice((8, 16, 32)), "noise_precision": Range(1.0, 3.0, log=True),
        "sweeps": Choice((100, 200, 400)), "learning_rate": Range(5e-4, 5e-3, log=True),
        "l2": Choice((0.03, 0.1, 0.3))}
    # How the factors are fitted. "gibbs": Bayesian MF (trainer.models.gibbs), `sweeps` Gibbs
    # sweeps. "adam": the rating MSE plus per-example L2, minimised by the optimiser for
    # `epochs`. A field of the other solver is refused (config_with_overrides) and not searched.
    # ML-100K RATING validation split (5 % of the training events), RMSE at training seeds
    # 42 / 1: adam 0.8993 / 0.8985 (64 dims, the fields below). gibbs, 200 sweeps: 16 dims,
    # 60 samples kept 0.8857 / 0.8850 (12 s); 100 kept 0.8854, 20 kept 0.8903 (32 dims);
    # 8 dims 0.8875, 24 dims 0.8866, 32 dims 0.8865 / 0.8859 (54 s); noise_precision 1.25
    # 0.8882 / 0.8881, 1.75 0.8878, 2.0 0.8932 (32 dims); 400 sweeps 0.8856.
    solver: str = "gibbs"
    embedding_dim: int = 16
    # gibbs: the ratings' precision (1 / the noise variance around <user, movie>).
    noise_precision: float = _solver_field(1.5, "gibbs")
    sweeps: int = _solver_field(200, "gibbs")
    # The share of the sweeps whose samples are discarded.
    burn_in: float = _solver_field(0.1, "gibbs")
    # Samples kept, evenly spread after the burn-in; the exported model averages them, so its
    # vectors are embedding_dim x posterior_samples wide.
    posterior_samples: int = _solver_field(60, "gibbs")
    # adam: tuned on a validation split (every 10th RATING-protocol training example; never
    # the test split), RMSE: 0.9036 (batch 512, constant learning rate), 0.9026 (batch 256),
    # 0.8996 (batch 256, cosine decay; 0.8998 with another seed); L2 0.09 / 0.12 with the
    # cosine: 0.9001 / 0.9011; constant rate: 128 dims 0.9027, L2 0.12 with 30 epochs 0.9022;
    # Adagrad 0.948. All with 64 dims (`--hparam mf.embedding_dim=64` with adam).
    # Per-example L2 on the looked-up vectors (see towers.id_embedding).
    l2: float = _solver_field(0.1, "adam")
    bias_l2: float = _solver_field(0.01, "adam")
    rating_mean: float = _solver_field(3.5, "adam")  # initial global bias: ratings average ~3.5
    optimizer: str = _solver_field("adam", "adam")
    learning_rate: float = _solver_field(0.002, "adam")
    lr_schedule: str = _solver_field("cosine", "adam")
    epochs: int = _solver_field(20, "adam")
    batch_size: int = _solver_field(256, "adam")
    # A Gibbs chain starts anew rather than from a base model (warm_start_refusal).
    warm_start_fraction: float = _solver_field(0.25, "adam")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.solver in MF_SOLVERS, f"solver must be one of {MF_SOLVERS}")
        _check(self.embedding_dim > 0, "embedding_dim must be > 0")
        _check(self.noise_precision > 0, "noise_precision must be > 0")
        _check(self.sweeps > 0 and self.posterior_samples > 0,
               "sweeps and posterior_samples must be > 0")
        _check(0 <= self.burn_in < 1, "burn_in must be in [0, 1)")
        # EarlyStopping would restore weights from before the samples are stored.
        _check(self.solver == "adam" or not self.early_stopping_patience,
               "early_stopping_patience needs solver adam (a Gibbs chain keeps its samples)")

    @property
    def fitted_by_gradient(self) -> bool:
        return self.solver == "adam"

    @property
    def warm_start_refusal(self) -> str | None:
        return None if self.solver == "adam" else (
            f"solver {self.solver} samples a new chain (solver adam warm-starts)")

    @property
    def kept_sweeps(self) -> list[int]:
        """gibbs: the sweeps (0-based) whose samples are kept: `posterior_samples` (at most the
        sweeps after the burn-in, at least the last) evenly spread over those sweeps."""
        first = min(int(self.burn_in * self.sweeps), self.sweeps - 1)
        last = self.sweeps - 1
        count = min(self.posterior_samples, last - first + 1)
        if count == 1:
            return [last]
        return [first + round(i * (last - first) / (count - 1)) for i in range(count)]

    @property
    def vector_width(self) -> int:
        """The exported user and movie vectors' size: a gibbs model's are its kept samples'
        side by side (trainer.models.mf)."""
        if self.solver == "adam":
            return self.embedding_dim
        return self.embedding_dim * len(self.kept_sweeps)


@dataclasses.dataclass(frozen=True)
class TwoTowerConfig(TrainingConfig):
    """Hyper-parameters of the two-tower family (trainer.models.two_tower); the catalogue entry
    decides which towers exist, so a field of a feature group the model does not read (its
    `group` metadata) cannot be overridden for it (see `config_with_overrides`)."""

    # The temperature reaches 1: with movie_bias, the Zipf-popular synthetic data (10K movies x
    # 600 users) wants the cosine term small beside the bias. Validation HR@10 / NDCG@10 there
    # with the bias: hybrid 0.0683 / 0.0333 at 0.2, 0.095 / 0.0525 at 0.5, 0.090 / 0.0535 at 1;
    # retrieval 0.0983 / 0.0543 at 0.5 (its defaults: 0.080 / 0.0388). ML-100K wants 0.2
    # (hybrid with the bias: 0.2142 / 0.1115 at 0.2, 0.210 / 0.1085 at 0.3, 0.176 at 0.5).
    SEARCH_SPACE: ClassVar[SearchSpace] = {
        "learning_rate": Range(1e-3, 2e-2, log=True), "temperature": Range(0.05, 1.0, log=True),
        "embedding_dim": Choice((32, 64, 128)), "l2": Choice((0.0, 0.001, 0.01)),
        "epochs": Choice((5, 10, 20)), "id_dropout": Choice((0.0, 0.1, 0.2)),
        "feature_dim": Choice((8, 16, 32)), "history_encoder": Choice(HISTORY_ENCODERS),
        "movie_bias": Choice((False, True))}

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
    # history_encoder="attention" (SASRec): heads (dividing embedding_dim), blocks, dropout.
    attention_heads: int = _group_field(2, Group.HISTORY)
    attention_blocks: int = _group_field(2, Group.HISTORY)
    attention_dropout: float = _group_field(0.2, Group.HISTORY)
    # Embedding size of the history's item count (0: not read; see towers.UserTower).
    history_size_dim: int = _group_field(0, Group.HISTORY)
    # A learned per-movie term added to every logit (trainer.models.two_tower): how often a
    # movie is watched whoever the user, which a cosine / temperature score can hold only in
    # the same few directions as the user's taste.
    movie_bias: bool = False

    @property
    def vector_width(self) -> int:
        """The width of the model's query and candidate vectors (trainer.models.two_tower)."""
        return self.embedding_dim + int(self.movie_bias)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.temperature > 0, "temperature must be > 0")
        _check(self.history_size_dim >= 0, "history_size_dim must be >= 0")
        _check(self.softmax in SOFTMAXES, f"softmax must be one of {SOFTMAXES}")
        _check(0.0 <= self.id_dropout < 1.0, "id_dropout must be in [0, 1)")
        _check(self.history_encoder in HISTORY_ENCODERS, f"history_encoder: {HISTORY_ENCODERS}")
        _check(self.cnn_kernel_size > 0, "cnn_kernel_size must be > 0")
        _check(self.attention_heads > 0 and self.embedding_dim % self.attention_heads == 0,
               "attention_heads must divide embedding_dim")
        _check(self.attention_blocks > 0, "attention_blocks must be > 0")
        _check(0.0 <= self.attention_dropout < 1.0, "attention_dropout must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class RetrievalConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 with the full-catalogue softmax: 0.144 (32 dims, no L2, 10 epochs),
    # 0.154 (64 dims, L2 0.01, 20 epochs). Validation split (defaults): HR@10 0.1506, NDCG@10
    # 0.0769.
    pass


@dataclasses.dataclass(frozen=True)
class RankingConfig(TrainingConfig):
    SEARCH_SPACE: ClassVar[SearchSpace] = {
        "learning_rate": Range(5e-4, 5e-3, log=True), "dropout": Range(0.2, 0.6),
        "retrieval_weight": Choice((0.1, 0.3, 1.0, 3.0)),
        "epochs": Choice((5, 10, 15))}
    # ML-100K RATING-protocol RMSE: 0.9137 for the MLP alone (32 dims, dropout 0.1, L2 0.01),
    # 0.9066 with the wide MF part (dropout 0.3, batch 1024, constant rate). Then on a validation
    # split (every 10th training example), over training seeds 42 / 1 / 2: batch 512 + cosine
    # decay 0.9019 / 0.9065 / 0.9125 (the MLP makes it seed-sensitive); + wide_dim 64 and
    # dropout 0.4: - / 0.8980 / 0.9025; dropout 0.5: - / 0.8996 / 0.8987. More steps over-fit:
    # 15 epochs 0.9148, batch 256 0.9126.
    embedding_dim: int = 64
    feature_dim: int = 8  # embedding size of each side feature (gender, genres, ...)
    # The user tower's history encoder (trainer.models.towers.HistoryEncoder). Validation
    # split, training seeds 42 and 1: TOPK HR@10 gru 0.2301 and 0.2227, bow 0.2036 and 0.2142;
    # RATING RMSE (1 rating head) gru 0.9008 and 0.8964, bow 0.8995 and 0.8991 (one standard
    # error ~0.005).
    # The order of the history tells what a user watches next. RATING RMSE by
    # retrieval_weight: 0.3 0.9084 and 0.9065, 3 0.8990 and 0.8958 (docs/benchmarks.md).
    history_encoder: str = _group_field("gru", Group.HISTORY)
    hidden_units: tuple[int, ...] = (128, 64)
    # MLPs of hidden_units, each from its own initial weights, whose mean is the rating's deep
    # part: the MLP's draw is what makes the RMSE seed-sensitive. Validation RMSE, seeds 42 / 1:
    # 1 head 0.9008 / 0.8964, 3 heads 0.8966 / 0.8940 (HR@10 0.2378 / 0.2420 vs 0.2393 /
    # 0.2378); 3 heads each fitted on its own loss 0.8979 / 0.8961; an average of the weights
    # (Keras' use_ema, 0.995) 0.9002 / 0.8963.
    rating_heads: int = 3
    dropout: float = 0.5
    l2: float = 0.05
    wide_dim: int = 64  # the wide part: a biased MF with these vector sizes and L2
    wide_l2: float = 0.1
    wide_bias_l2: float = 0.01
    use_side_features: bool = True
    rating_mean: float = 3.5
    # Multi-task (trainer.models.ranking): loss = rating_weight * MSE + retrieval_weight *
    # catalogue softmax of cos(user tower, movie tower) / temperature; a top-K ranks by that
    # logit + score_rating_weight * the predicted rating. retrieval_weight 0: ratings only.
    rating_weight: float = 1.0
    retrieval_weight: float = 1.0
    temperature: float = 0.1
    score_rating_weight: float = 0.0
    learning_rate: float = 0.002
    lr_schedule: str = "cosine"
    epochs: int = 10
    batch_size: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.wide_dim > 0, "wide_dim must be > 0")
        _check(self.rating_weight >= 0 and self.retrieval_weight >= 0
               and self.rating_weight + self.retrieval_weight > 0,
               "rating_weight and retrieval_weight must be >= 0, not both 0")
        _check(self.temperature > 0, "temperature must be > 0")
        _check(self.history_encoder in HISTORY_ENCODERS, f"history_encoder: {HISTORY_ENCODERS}")
        _check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        _check(self.rating_heads > 0, "rating_heads must be > 0")


@dataclasses.dataclass(frozen=True)
class HybridConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 0.196 in 10 epochs: the history makes it an item-based model.
    # Validation split: HR@10 0.2110, NDCG@10 0.1123 (defaults).
    embedding_dim: int = 32
    l2: float = 0.0
    temperature: float = 0.2
    epochs: int = 10
    id_dropout: float = 0.1
    # A history of 1-5 items is a new user's: the history's size tells the query so.
    history_size_dim: int = _group_field(8, Group.HISTORY)
    # Warm after ML-100K's 4th quarter (bench-warm-start), HR@10 vs 0.1790 cold in 10 epochs:
    # 0.1634 in 2 epochs (0.25), 0.1738 in 4 (0.4), 0.1751 in 6; one standard error is 0.0138.
    warm_start_fraction: float = 0.4


@dataclasses.dataclass(frozen=True)
class SequentialConfig(TwoTowerConfig):
    # ML-100K TOPK HR@10 0.200 after 10 epochs (full-catalogue softmax; in-batch: 0.11).
    # Validation split (each user's latest training event; fit on the rest), HR@10 / NDCG@10
    # at training seeds 42 and 1: attention (2 heads, 2 blocks, dropout 0.2, history 20)
    # 0.2195 / 0.1157 and 0.2174 / 0.1104; gru 0.1803 / 0.0907 and 0.1994 / 0.1001. Attention
    # is 0.029 better on average (two standard errors) and fits ~3.5x slower (311-350 s vs
    # 81-91 s at load 2-4).
    l2: float = 0.0
    epochs: int = 10
    history_encoder: str = _group_field("attention", Group.HISTORY)


@dataclasses.dataclass(frozen=True)
class CascadeConfig:
    """A two-stage model (trainer.models.cascade): its stages (the catalogue entry's `stages`)
    train with their own configs, so it has no optimiser of its own."""

    SEARCH_SPACE: ClassVar[SearchSpace] = {}
    # The Trainer reads the data in batches of this size; the cascade's `fit` re-batches them
    # to each stage's batch_size and trains each stage for its own epochs.
    batch_size: ClassVar[int] = 4096
    epochs: ClassVar[int] = 1
    # The stages' own configs decide these; the cascade refits them on train + validation
    # as the Trainer refits any model (trainer.task).
    early_stopping_patience: ClassVar[int] = 0
    refit: ClassVar[bool] = True

    # First-stage candidates the second stage re-scores (the catalogue's top N).
    candidates: int = 100
    # A candidate's score: the second stage's + this x the first stage's (0: the second stage
    # alone orders them). See trainer.models.cascade. Chosen on ML-100K's TOPK validation split
    # (fit on train): mean HR@10 / NDCG@10 over 2 x 2 training seeds of the stages, by weight:
    # 0: 0.2375 / 0.1169, 1: 0.2434 / 0.1213, 2: 0.2468 / 0.1242, 5: 0.2468 / 0.1258,
    # 10: 0.2481 / 0.1280, 20: 0.2426 / 0.1264 (stages alone: sequential 0.2195 and 0.2174,
    # ranking 0.2301 and 0.2227). hybrid (bag-of-words history) as the first stage, with
    # ranking's bag-of-words encoder, seeds 42 and 1, weight 10: 0.2089 and 0.2195.
    first_stage_weight: float = 10.0

    def __post_init__(self) -> None:
        _check(self.candidates >= 10, "candidates must be >= 10 (the top-K served)")
        _check(math.isfinite(self.first_stage_weight) and self.first_stage_weight >= 0,
               "first_stage_weight must be >= 0")


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


def default_config(name: str) -> TrainingConfig | CascadeConfig:
    """The default config of model `name`: its catalogue entry's config class."""
    module, _, cls = catalogue.entry(name).config_class.rpartition(".")
    return getattr(importlib.import_module(module), cls)()


def config_with_overrides(name: str, overrides: Mapping[str, str]) -> TrainingConfig:
    """The default config of model `name` with `overrides` (field -> string value) applied.

    Tuples are written comma-separated (``hidden_units=256,64``), booleans as true/false.
    Raises ValueError naming the unknown model, unknown field, a field the model would not
    read (a feature group it does not read, a solver it is not fitted by), or an unparsable
    value: an override never goes silently unused.
    """
    config = default_config(name)
    fields = {field.name: field for field in dataclasses.fields(config)}
    field_types = typing.get_type_hints(type(config))
    parsed = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ValueError(f"unknown hyper-parameter {name}.{key}; known: {sorted(fields)}")
        if unread := _unread_groups(name, fields[key]):
            raise ValueError(f"{name}.{key} {unread}")
        try:
            parsed[key] = _parse_value(text, field_types[key])
        except ValueError as error:
            raise ValueError(f"bad value {text!r} for {name}.{key}: {error}") from error
    try:
        config = dataclasses.replace(config, **parsed)
    except ValueError as error:
        raise ValueError(f"invalid {name} hyper-parameters {dict(overrides)}: {error}") from error
    for key in parsed:
        if ignored := _ignored_by(config, fields[key]):
            raise ValueError(f"{name}.{key} {ignored}")
    return config


def config_with_tuned(name: str, tuned: Mapping[str, Any] | None,
                      overrides: Mapping[str, str] | None = None) -> TrainingConfig:
    """The config of model `name`: its defaults, then `tuned` values (a Tuner's best
    hyper-parameters: KerasTuner's HyperParameters config, {"values": {...}}, or the values
    themselves), then `overrides` (--hparam strings), which win."""
    values = dict((tuned or {}).get("values", tuned or {}))
    merged = {key: _as_text(value) for key, value in values.items()}
    merged.update(overrides or {})
    return config_with_overrides(name, merged)


def _as_text(value: Any) -> str:
    """A tuned value as config_with_overrides parses it (tuples comma-separated)."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


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
