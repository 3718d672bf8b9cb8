"""The model catalogue: every model the pipeline can train, defined once.

One `ModelEntry` per model: its name, kind, the class that builds it and the class of its
hyper-parameters (dotted paths, resolved by the Trainer), the feature groups its towers read,
its default Evaluator gate and its capabilities. The command line, the pipeline, the Trainer,
the serving process and the benchmarks all read this table; nothing else spells a model's name.

Adding a model: see docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import enum

from contract.gates import RATING_GATE, TOP_K_GATE, Gate


class Kind(enum.StrEnum):
    """What a model predicts, hence how it is trained and gated."""

    RATING = "rating"  # an explicit rating; gated on its squared error (protocol RATING)
    RETRIEVAL = "retrieval"  # scores for the whole catalogue; gated on Hit-Rate@10 (TOPK)


class Group(enum.StrEnum):
    """Feature groups a model's towers read (names: contract/features.py)."""

    USER_ID = "user_id"
    DEMOGRAPHICS = "demographics"  # gender, age bucket, occupation
    HISTORY = "history"  # the user's previous movies, newest last
    MOVIE_ID = "movie_id"
    CONTENT = "content"  # genres multi-hot, release-year bucket


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of the catalogue."""

    name: str
    kind: Kind
    summary: str  # one line, for --help, the run summary and the docs
    model_class: str  # "module.Class": a trainer.models.base.RecommenderModel
    config_class: str  # "module.Class": a trainer.config.TrainingConfig
    query: tuple[Group, ...]  # what the query (user) side reads
    candidate: tuple[Group, ...]  # what the candidate (movie) side reads
    gate: Gate
    tflite: bool = False  # also exports an on-device top-K (needs a history-only query)
    explain: bool = True  # exports score_features: exact Shapley values in /explain
    # A cascade: (first stage, second stage) model names. The first stage's top-N candidates
    # are re-scored by the second; its groups must be the union of the stages' groups.
    stages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.tflite and self.query != (Group.HISTORY,):
            raise ValueError(f"{self.name}: TFLite export needs a history-only query tower")
        if self.stages and (len(self.stages) != 2 or self.explain or self.tflite):
            raise ValueError(f"{self.name}: a cascade has two stages, no explain, no TFLite")

    @property
    def reads_history(self) -> bool:
        """Whether a request's history changes the answer (new users, /recommend/history)."""
        return Group.HISTORY in self.query


_TWO_TOWER = "trainer.models.two_tower.TwoTowerModel"

# In serving order: a request that names no model gets the first entry that can answer it
# (best Hit-Rate@10 first on ML-100K, docs/benchmarks.md).
CATALOGUE: tuple[ModelEntry, ...] = (
    ModelEntry(
        "sequential", Kind.RETRIEVAL,
        "next movie from the user's history (self-attention, GRU, CNN or bag-of-words); TFLite "
        "on device",
        _TWO_TOWER, "trainer.config.SequentialConfig",
        query=(Group.HISTORY,), candidate=(Group.MOVIE_ID,), gate=TOP_K_GATE, tflite=True),
    ModelEntry(
        "hybrid", Kind.RETRIEVAL,
        "two towers over ids, demographics, history, genres and year; serves cold starts",
        _TWO_TOWER, "trainer.config.HybridConfig",
        query=(Group.USER_ID, Group.DEMOGRAPHICS, Group.HISTORY),
        candidate=(Group.MOVIE_ID, Group.CONTENT), gate=TOP_K_GATE),
    ModelEntry(
        "retrieval", Kind.RETRIEVAL,
        "two-tower retrieval on user and movie ids, softmax over the catalogue",
        _TWO_TOWER, "trainer.config.RetrievalConfig",
        query=(Group.USER_ID,), candidate=(Group.MOVIE_ID,), gate=TOP_K_GATE),
    ModelEntry(
        "two_stage", Kind.RETRIEVAL,
        "cascade: sequential's top 100 candidates re-ranked by the multi-task ranking model",
        "trainer.models.cascade.Cascade", "trainer.config.CascadeConfig",
        query=(Group.USER_ID, Group.DEMOGRAPHICS, Group.HISTORY),
        candidate=(Group.MOVIE_ID, Group.CONTENT), gate=TOP_K_GATE, explain=False,
        stages=("sequential", "ranking")),
    ModelEntry(
        "ranking", Kind.RATING,
        "multi-task wide & deep: rating and implicit-feedback heads over ids, side features "
        "and history",
        "trainer.models.ranking.DeepRanking", "trainer.config.RankingConfig",
        query=(Group.USER_ID, Group.DEMOGRAPHICS, Group.HISTORY),
        candidate=(Group.MOVIE_ID, Group.CONTENT), gate=RATING_GATE),
    ModelEntry(
        "mf", Kind.RATING,
        "matrix factorization: Bayesian, sampled by Gibbs sampling, or biased and trained "
        "by Adam (solver)",
        "trainer.models.mf.BiasedMatrixFactorization", "trainer.config.MFConfig",
        query=(Group.USER_ID,), candidate=(Group.MOVIE_ID,), gate=RATING_GATE),
)
MODEL_NAMES: tuple[str, ...] = tuple(entry.name for entry in CATALOGUE)
_BY_NAME = {entry.name: entry for entry in CATALOGUE}


def _check_cascades() -> None:
    for cascade in CATALOGUE:
        stages = [_BY_NAME[name] for name in cascade.stages]
        if stages and (stages[0].kind != Kind.RETRIEVAL or stages[0].stages
                       or stages[1].stages
                       or set(cascade.query) != {g for s in stages for g in s.query}
                       or set(cascade.candidate) != {g for s in stages for g in s.candidate}):
            raise ValueError(f"{cascade.name}: stages must be plain models, the first a "
                             "retrieval one; its groups the union of theirs")


_check_cascades()


class UnknownModel(ValueError):
    """A model name that is not in the catalogue."""


def entry(name: str) -> ModelEntry:
    """The catalogue entry of model `name`; UnknownModel naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}") \
            from None


def names(kind: Kind | None = None) -> tuple[str, ...]:
    """Model names in catalogue order, of one kind if given."""
    return tuple(e.name for e in CATALOGUE if kind is None or e.kind == kind)


def parse_names(text: str) -> tuple[str, ...]:
    """'mf, retrieval' -> ('mf', 'retrieval'); UnknownModel on an unknown or empty list."""
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    if not chosen:
        raise UnknownModel(f"no model named; choose from {', '.join(MODEL_NAMES)}")
    for name in chosen:
        entry(name)
    return chosen


def default_gates() -> dict[str, Gate]:
    """Model name -> its catalogue gate."""
    return {e.name: e.gate for e in CATALOGUE}
