"""Why a model scores a movie for a user: exact Shapley values over the model's input features.

Models exported with `score_features` (trainer/export.py): the players are the user's id,
gender, age and occupation, the user's stored history (the latest HISTORY_PLAYERS movies one by
one, older ones together) and the movie's id, genres and release year. The value of a
coalition is the model's score of the pair with every feature outside it reset to its
reference: what the model is given for an unknown user or movie (out-of-vocabulary id, the
most common gender and occupation, the lowest age and release-year bucket, no genres, the
history item left out). Every user-side coalition (a row) crossed with every movie-side one
(a column, the signature scores all 2^3 per row) is every coalition, so ONE score_features call
scores all 2^n of them; the Shapley
values follow exactly (no sampling), sum to score - baseline_score, and a feature the model
does not read gets exactly 0. The score is the predicted rating for rating models and the
retrieval score /recommend ranks by for the others. The ranking model's event timestamp is
not a player: it stays at the user's stored value.

Models exported before score_features: players are feature groups (the user profile as a
whole, history items) reset through the `recommend` signature (`_explain_groups`); the
movie's genres and year and the separate demographics are not separable there.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from contract import catalogue, keys
from contract.features import DEFAULT_HISTORY_LENGTH
from contract.keys import MOVIE_GROUPS, USER_GROUPS
from recsys.serving.backends import input_width, join_ids
from recsys.serving.catalogue import Catalogue
from recsys.serving.registry import LoadedModel
from recsys.serving.service import NotFound

MODELS = tuple(entry.name for entry in catalogue.CATALOGUE if entry.explain)
SIGNATURE = keys.SCORE_FEATURES
# Latest items explained one by one: n <= 4 + 6 + 3 = 13 players, and the 2^10 user-side
# coalitions are the rows of one score_features request (keys.MAX_REQUEST_ROWS).
HISTORY_PLAYERS = 5
REFERENCES = {
    "user_id": "unknown user (out-of-vocabulary id)", "gender": "the most common gender",
    "age": "the youngest age bucket", "occupation": "the most common occupation",
    "history": "left out of the history", "movie_id": "unknown movie (out-of-vocabulary id)",
    "genres": "no genres", "year": "the earliest release-year bucket"}
UNKNOWN_MOVIE = "__unknown_movie__"


@dataclasses.dataclass(frozen=True)
class Player:
    """One feature (group) of the explanation and what it controls in score_features."""

    feature: str
    value: object
    reference: str
    group: str | None = None  # a USER_GROUPS / MOVIE_GROUPS column
    positions: tuple[int, ...] = ()  # history positions (of the run's length, newest last)

    def to_json(self, contribution: float) -> dict:
        return {"feature": self.feature, "value": self.value, "reference": self.reference,
                "contribution": round(float(contribution), 6)}


def explain(loaded: LoadedModel, catalogue: Catalogue, user_id: str, movie_id: str) -> dict:
    if SIGNATURE in loaded.backend.signatures:
        return _explain_features(loaded, catalogue, user_id, movie_id)
    return _explain_groups(loaded, catalogue, user_id, movie_id)


# -- per feature, through score_features ------------------------------------------------------
def _explain_features(loaded: LoadedModel, catalogue: Catalogue, user_id: str,
                      movie_id: str) -> dict:
    width = input_width(loaded.path, SIGNATURE, "history_keep")  # the run's history length
    stored = score_features(loaded, [user_id], [movie_id], np.zeros((1, len(USER_GROUPS)), bool),
                            np.ones((1, width), bool))
    if not stored["movie_known"][0]:
        raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary")
    user_players = _user_players(catalogue, user_id, list(stored["history_movie_ids"][0]))
    movie_players = _movie_players(catalogue, movie_id)
    user_reset, history_keep = user_coalitions(user_players, width)
    scores = score_features(loaded, [user_id] * len(user_reset), [movie_id] * len(user_reset),
                            user_reset, history_keep)["scores"]  # [user coalition, movie one]
    values = np.asarray(scores, np.float64).T.reshape(-1)  # index = user mask | movie mask << nu
    players = user_players + movie_players
    contributions = shapley(values)
    kind = "predicted rating" if keys.PREDICT_RATING in loaded.backend.signatures else \
        "retrieval score"
    return {"method": f"exact Shapley values over {len(players)} input features: all "
                      f"{len(values)} coalitions scored in one score_features call, a feature "
                      "outside a coalition reset to its reference",
            "explained": kind, "score": round(float(values[-1]), 6),
            "baseline_score": round(float(values[0]), 6),
            "contributions": [p.to_json(c) for p, c in zip(players, contributions, strict=True)]}


def score_features(loaded: LoadedModel, user_ids: list[str], movie_ids: list[str],
                   user_reset: np.ndarray, history_keep: np.ndarray) -> dict[str, np.ndarray]:
    """Row b: user b's features (user_reset / history_keep applied) with movie b under each of
    the keys.MOVIE_COALITIONS movie-side coalitions (column c keeps MOVIE_GROUPS[i] iff bit i
    of c is set: the order of `_movie_players`)."""
    return loaded.backend.call(SIGNATURE, {
        "user_id": user_ids, "user_reset": user_reset.tolist(),
        "history_keep": history_keep.tolist(), "movie_id": movie_ids})


def _user_players(catalogue: Catalogue, user_id: str, history: list[str]) -> list[Player]:
    """user id, demographics, then history: older items together, the latest one by one."""
    profile = catalogue.users.get(user_id, {})
    players = [Player("user_id", user_id, REFERENCES["user_id"], "user_id")]
    players += [Player(name, profile.get(name), REFERENCES[name], name)
                for name in USER_GROUPS[1:]]
    real = [i for i, movie in enumerate(history) if movie]
    earlier, latest = real[:-HISTORY_PLAYERS], real[-HISTORY_PLAYERS:]
    if earlier:
        players.append(Player("earlier history", f"{len(earlier)} movies",
                              REFERENCES["history"], positions=tuple(earlier)))
    for position in latest:
        movie = catalogue.movies.get(history[position])
        players.append(Player("history", movie.title if movie else history[position],
                              REFERENCES["history"], positions=(position,)))
    return players


def _movie_players(catalogue: Catalogue, movie_id: str) -> list[Player]:
    movie = catalogue.movies[movie_id]
    values = {"movie_id": f"{movie_id} ({movie.title})", "genres": ", ".join(movie.genres),
              "year": movie.year or None}
    return [Player(name, values[name], REFERENCES[name], name) for name in MOVIE_GROUPS]


def user_coalitions(players: list[Player], history_length: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Row r of (user_reset [2^n, 4], history_keep [2^n, history_length]) is the coalition
    whose player i is present iff bit i of r is set."""
    present = _masks(len(players))
    reset = np.ones((len(present), len(USER_GROUPS)), bool)
    keep = np.zeros((len(present), history_length), bool)
    for i, player in enumerate(players):
        if player.group is not None:
            reset[:, USER_GROUPS.index(player.group)] = ~present[:, i]
        keep[:, list(player.positions)] = present[:, i:i + 1]
    return reset, keep


def _masks(n: int) -> np.ndarray:
    """[2^n, n] bool: row r, column i = bit i of r."""
    return (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1 == 1


def shapley(values: np.ndarray) -> np.ndarray:
    """Exact Shapley values from the 2^n coalition values (values[r]: the players whose bit is
    set in r): phi_i = sum over S without i of |S|! (n - |S| - 1)! / n! (v(S + i) - v(S))."""
    n = int(len(values)).bit_length() - 1
    masks = np.arange(len(values))
    sizes = _masks(n).sum(axis=1)
    weights = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                        for s in range(n)])
    result = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        result[i] = np.sum(weights[sizes[without]] * (values[without | 1 << i] - values[without]))
    return result


# -- per feature group, through recommend (models exported before score_features) ------------
def _explain_groups(loaded: LoadedModel, catalogue: Catalogue, user_id: str,
                    movie_id: str) -> dict:
    history = catalogue.history(user_id, DEFAULT_HISTORY_LENGTH)
    players = _group_players(catalogue, history)
    present = _masks(len(players))
    values = _group_scores(loaded, catalogue, user_id, movie_id, history, players, present)
    contributions = [{**player["describe"], "contribution": round(float(value), 6)}
                     for player, value in zip(players, shapley(values), strict=True)]
    return {"method": "exact Shapley values over feature groups; a group outside a coalition "
                      "is reset to its unknown default (user_id '' = unknown-user row, history "
                      "item = unknown movie), scored through the recommend signature",
            "explained": "recommend score", "score": round(float(values[-1]), 6),
            "baseline_score": round(float(values[0]), 6), "contributions": contributions,
            "not_separable": "movie genres and year, and demographics apart from the user id: "
                             "this model version has no score_features signature"}


def _group_players(catalogue: Catalogue, history: list[str]) -> list[dict]:
    """Each player: which history positions it owns (or the user profile) and a label."""
    players = [{"user": True, "positions": [],
                "describe": {"feature": "user profile (id, gender, age, occupation)"}}]
    latest = range(max(0, len(history) - HISTORY_PLAYERS), len(history))
    earlier = list(range(0, max(0, len(history) - HISTORY_PLAYERS)))
    if earlier:
        players.append({"user": False, "positions": earlier,
                        "describe": {"feature": f"earlier history ({len(earlier)} movies)"}})
    for position in latest:
        movie = catalogue.movies.get(history[position])
        title = movie.title if movie else history[position]
        players.append({"user": False, "positions": [position],
                        "describe": {"feature": f"history: {title}",
                                     "movie_id": history[position]}})
    return players


def _group_scores(loaded: LoadedModel, catalogue: Catalogue, user_id: str, movie_id: str,
                  history: list[str], players: list[dict], present: np.ndarray) -> np.ndarray:
    users, histories = [], []
    for coalition in present:
        members = [p for p, on in zip(players, coalition, strict=True) if on]
        users.append(user_id if any(p["user"] for p in members) else "")
        kept = {i for p in members for i in p["positions"]}
        histories.append([m if i in kept else UNKNOWN_MOVIE for i, m in enumerate(history)]
                         or [UNKNOWN_MOVIE])
    others = [m for m in catalogue.movies if m != movie_id]
    outputs = loaded.backend.call(keys.RECOMMEND, {
        "user_id": users, "history": [join_ids(history) for history in histories],
        "exclude_movie_ids": [join_ids(others)] * len(present)})
    if not all(row[0] == movie_id for row in outputs["movie_ids"]):
        raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary")
    return np.asarray(outputs["scores"], np.float64)[:, 0]
