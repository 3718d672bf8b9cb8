"""Warm start: a new model starts from the weights of the last blessed model of its name.

TFX's Trainer hands `run_fn` the base model (`fn_args.base_model`, the SavedModel that the
`LatestBlessedModel.<name>` resolver picked); its vocabularies are the TFT vocabularies it was
trained with (assets/<vocabulary> in the SavedModel). Between two runs Transform recomputes
the vocabularies: users and movies come and go, and the order (by frequency) changes. So:

1. `load_base` rebuilds the base model's architecture with the base's vocabulary sizes and
   restores its variables from the SavedModel (`tf.train.Checkpoint`: the export's ServingModule
   keeps the Keras model under `model`). A base of other hyper-parameters (shapes) does not
   restore: the Trainer then trains from scratch, saying why.
2. `copy_weights` copies, variable by variable (both models are built by the same code, so
   their variables come in the same order), into the freshly built new model:
   - tables keyed by an id (`id_tables`: user and movie embeddings and biases, the history
     embedding with its padding row 0 and +1 offset, gender and occupation embeddings, the
     genre projection's rows) row by row through the vocabularies: a known id keeps its
     trained row, a new id keeps its fresh initialisation, the out-of-vocabulary row keeps
     the base's;
   - every other variable (dense layers, GRU, convolutions, age and year buckets, attention's
     positions, biases) as it is; an Embedding layer not listed in `id_tables` (of a future
     model) starts fresh.
   The optimizer starts fresh: its moments belong to the old rows.
"""

from __future__ import annotations

import dataclasses
import enum
import os

import numpy as np
import tensorflow as tf
from absl import logging

from contract import features as F
from trainer.config import TrainingConfig
from trainer.models.base import RecommenderModel
from trainer.models.registry import build_model
from trainer.models.towers import (
    BiasedFactors,
    CausalSelfAttention,
    HistoryEncoder,
    MovieTower,
    UserTower,
    VocabSizes,
)
from trainer.models.two_tower import TwoTowerModel

ASSETS_DIR = "assets"
_BUILD_BATCH = 2


class Space(enum.Enum):
    """What the rows of an id-keyed table are: (TFT vocabulary, rows before the vocabulary)."""

    USER = (F.USER_VOCAB, 0)
    MOVIE = (F.MOVIE_VOCAB, 0)
    HISTORY = (F.MOVIE_VOCAB, 1)  # row 0 is padding, movie i is row i + 1
    GENDER = (F.GENDER_VOCAB, 0)
    OCCUPATION = (F.OCCUPATION_VOCAB, 0)
    GENRE = (F.GENRE_VOCAB, 0)  # the multi-hot slots: genre i, then OOV and unused slots

    @property
    def vocabulary(self) -> str:
        return self.value[0]

    @property
    def offset(self) -> int:
        return self.value[1]


VOCABULARIES = tuple(dict.fromkeys(space.vocabulary for space in Space))
Vocabularies = dict[str, list[bytes]]  # TFT vocabulary name -> tokens, in index order


class IncompatibleBase(ValueError):
    """The base model cannot seed this one (other hyper-parameters, or not one of ours)."""


@dataclasses.dataclass
class BaseModel:
    """A restored base model and the vocabularies it was trained with."""

    path: str
    model: RecommenderModel
    vocabularies: Vocabularies


@dataclasses.dataclass
class Report:
    """What `copy_weights` did, for metrics.json: per id space, rows kept from the base and
    rows new in this run; variables copied whole, and those left to their initialisation."""

    base_model: str
    kept_rows: dict[str, int] = dataclasses.field(default_factory=dict)
    new_rows: dict[str, int] = dataclasses.field(default_factory=dict)
    copied_variables: int = 0
    fresh_variables: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def warm_config(config: TrainingConfig) -> TrainingConfig:
    """`config` for a warm start: `warm_start_fraction` of its epochs, at least one (a cosine
    learning rate then decays over those)."""
    epochs = max(1, round(config.epochs * config.warm_start_fraction))
    return dataclasses.replace(config, epochs=epochs)


def read_vocabularies(saved_model_dir: str) -> Vocabularies:
    """The TFT vocabularies a SavedModel of ours carries in its assets."""
    vocabularies = {}
    for name in VOCABULARIES:
        path = os.path.join(saved_model_dir, ASSETS_DIR, name)
        if not tf.io.gfile.exists(path):
            raise IncompatibleBase(f"{saved_model_dir} has no {ASSETS_DIR}/{name}")
        with tf.io.gfile.GFile(path, "rb") as handle:
            vocabularies[name] = handle.read().splitlines()
    return vocabularies


def vocab_sizes(vocabularies: Vocabularies, history_length: int) -> VocabSizes:
    return VocabSizes(users=len(vocabularies[F.USER_VOCAB]),
                      movies=len(vocabularies[F.MOVIE_VOCAB]),
                      genders=len(vocabularies[F.GENDER_VOCAB]),
                      occupations=len(vocabularies[F.OCCUPATION_VOCAB]),
                      history_length=history_length)


def load_base(path: str, name: str, config: TrainingConfig, history_length: int) -> BaseModel:
    """Model `name` as `path` (a SavedModel of ours) holds it; IncompatibleBase if the
    architecture `config` describes, with this run's `history_length`, does not match its
    variables (e.g. attention's position table of a run with another history length)."""
    vocabularies = read_vocabularies(path)
    vocab = vocab_sizes(vocabularies, history_length)
    model = build_model(name, vocab, config, _placeholder_catalogue(vocab.movies),
                        np.ones(vocab.movies, np.int64))
    build(model, vocab)
    prefix = os.path.join(path, tf.saved_model.VARIABLES_DIRECTORY,
                          tf.saved_model.VARIABLES_FILENAME)
    try:
        status = tf.train.Checkpoint(model=model).read(prefix)
        status.expect_partial().assert_existing_objects_matched()  # no optimizer slots
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise IncompatibleBase(f"{path} does not restore into {name} as configured now: "
                               f"{str(error).splitlines()[0]}") from None
    return BaseModel(path, model, vocabularies)


def build(model: RecommenderModel, vocab: VocabSizes) -> None:
    """Creates every variable of `model` (Keras builds layers on their first call)."""
    model.compute_loss(_placeholder_features(vocab), training=False)


def copy_weights(base: BaseModel, model: RecommenderModel, vocabularies: Vocabularies) -> Report:
    """Copies `base`'s weights into the built `model` (trained with `vocabularies`); see the
    module docstring."""
    report = Report(base.path)
    tables = id_tables(model)
    # The models' own weights, not the optimizer's nor the metrics' counters.
    old_variables, new_variables = base.model.trainable_variables, model.trainable_variables
    if len(old_variables) != len(new_variables):
        raise IncompatibleBase(f"{base.path}: {len(old_variables)} variables, the model to "
                               f"train has {len(new_variables)}")
    unlisted = {id(layer.embeddings) for layer in _embeddings(model)} - set(tables)
    for old, new in zip(old_variables, new_variables, strict=True):
        space = tables.get(id(new))
        if space is not None:
            value, kept = remap_rows(
                old.numpy(), new.numpy(), base.vocabularies[space.vocabulary],
                vocabularies[space.vocabulary], space.offset)
            new.assign(value)
            report.kept_rows[space.name.lower()] = kept
            report.new_rows[space.name.lower()] = (
                len(vocabularies[space.vocabulary]) - kept)
        elif id(new) in unlisted or old.shape != new.shape:
            report.fresh_variables.append(new.name)
        else:
            new.assign(old)
            report.copied_variables += 1
    if report.fresh_variables:
        logging.warning("warm start: %s start from their initialisation",
                        ", ".join(report.fresh_variables))
    return report


def remap_rows(old: np.ndarray, fresh: np.ndarray, old_vocab: list[bytes],
               new_vocab: list[bytes], offset: int = 0) -> tuple[np.ndarray, int]:
    """`fresh` with the rows of ids also in `old_vocab` taken from `old`: row `offset + i`
    is the token `vocab[i]`; rows before `offset` (padding) and after the vocabulary (the
    out-of-vocabulary row, unused slots) are matched by position from either end of the
    vocabulary. Returns the rows and how many ids kept their old row."""
    result = fresh.copy()
    old_rows = {token: offset + i for i, token in enumerate(old_vocab)}
    pairs = [(offset + i, old_rows[token]) for i, token in enumerate(new_vocab)
             if token in old_rows]
    if pairs:
        new_index, old_index = map(list, zip(*pairs, strict=True))
        result[new_index] = old[old_index]
    result[:offset] = old[:offset]
    tail = min(len(old) - offset - len(old_vocab), len(fresh) - offset - len(new_vocab))
    if tail > 0:
        new_start, old_start = offset + len(new_vocab), offset + len(old_vocab)
        result[new_start:new_start + tail] = old[old_start:old_start + tail]
    return result, len(pairs)


def id_tables(model: RecommenderModel) -> dict[int, Space]:
    """id(variable) -> Space of every table of `model` whose rows are ids of a vocabulary.

    Lists the towers' parts (trainer/models/towers.py); a new tower with an id-keyed table
    belongs here, otherwise its table starts fresh on warm start (never copied misaligned).
    """
    tables: dict[int, Space] = {}

    def add(layer, space: Space) -> None:
        if layer is not None:
            variable = layer.embeddings if hasattr(layer, "embeddings") else layer.kernel
            tables[id(variable)] = space

    for module in (model, *model.submodules):
        if isinstance(module, UserTower):
            add(module.user_embedding, Space.USER)
            if module.demographics:  # gender, occupation, age (fixed buckets: copied)
                add(module.demographics[0], Space.GENDER)
                add(module.demographics[1], Space.OCCUPATION)
        elif isinstance(module, MovieTower):
            add(module.movie_embedding, Space.MOVIE)
            add(module.genre_projection, Space.GENRE)
        elif isinstance(module, BiasedFactors):
            for layer, space in ((module.user_vectors, Space.USER),
                                 (module.user_bias, Space.USER),
                                 (module.movie_vectors, Space.MOVIE),
                                 (module.movie_bias, Space.MOVIE)):
                add(layer, space)
        elif isinstance(module, HistoryEncoder):
            add(module.embedding, Space.HISTORY)
        elif isinstance(module, TwoTowerModel):
            add(module.movie_bias, Space.MOVIE)
    return tables


def fixed_bucket_embeddings(model: RecommenderModel) -> set[int]:
    """id(variable) of the Embedding tables over fixed buckets (age, year, history size,
    attention's recency positions): copied as is."""
    fixed = set()
    for module in (model, *model.submodules):
        if isinstance(module, UserTower):
            if module.demographics:
                fixed.add(id(module.demographics[2].embeddings))
            if module.history_size is not None:
                fixed.add(id(module.history_size.embeddings))
        elif isinstance(module, MovieTower) and module.year_embedding is not None:
            fixed.add(id(module.year_embedding.embeddings))
        elif isinstance(module, CausalSelfAttention):  # load_base checks the history length
            fixed.add(id(module.positions.embeddings))
    return fixed


def _embeddings(model: RecommenderModel) -> list[tf.keras.layers.Embedding]:
    """Embedding layers whose table is neither id-keyed nor over fixed buckets."""
    fixed = fixed_bucket_embeddings(model)
    return [module for module in model.submodules
            if isinstance(module, tf.keras.layers.Embedding)
            and id(module.embeddings) not in fixed]


def _placeholder_features(vocab: VocabSizes) -> dict[str, tf.Tensor]:
    """A batch of every transformed feature (contract/features.py), ids 0."""
    ints = tf.zeros([_BUILD_BATCH], tf.int64)
    return {
        F.USER_INDEX: ints, F.MOVIE_INDEX: ints, F.GENDER_INDEX: ints,
        F.OCCUPATION_INDEX: ints, F.AGE_BUCKET: ints, F.YEAR_BUCKET: ints,
        F.HISTORY_LENGTH_FEATURE: ints,
        F.RATING: tf.ones([_BUILD_BATCH]),
        F.TIMESTAMP_SCALED: tf.zeros([_BUILD_BATCH]),
        F.GENRES_MULTI_HOT: tf.zeros([_BUILD_BATCH, F.GENRE_SLOTS]),
        F.HISTORY_INDEX: tf.zeros([_BUILD_BATCH, vocab.history_length], tf.int64),
    }


def _placeholder_catalogue(num_movies: int) -> dict[str, tf.Tensor]:
    """A catalogue of `num_movies` rows: two-tower models need one to be built."""
    return {F.MOVIE_INDEX: tf.range(num_movies, dtype=tf.int64),
            F.GENRES_MULTI_HOT: tf.zeros([num_movies, F.GENRE_SLOTS]),
            F.YEAR_BUCKET: tf.zeros([num_movies], tf.int64)}
