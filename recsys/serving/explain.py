"""Why a model scores a movie for a user: exact Shapley values by ablation through signatures.

Players (feature groups) are the user's profile — user id with its demographics (gender, age,
occupation) and stored history, all of which the model looks up from the id — and each of
the user's latest history movies (older ones together as one player). The value of a
coalition is the model's score of the movie when the players outside it are reset to their
unknown defaults: user_id "" (the model's unknown-user row) and, per history item, an unknown
movie id (the out-of-vocabulary row). All 2^n coalitions go through the `recommend`
signature in one batch, with every other movie excluded so the movie's own score comes back
first; Shapley values then follow exactly from the 2^n scores and sum to
score(all) - score(none).

Not separable through the signatures: the movie's genres and year (and the demographics
apart from the user id), because the signatures take ids and look those features up inside
the graph. Separating them needs a signature that accepts feature overrides.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from recsys.serving.backends import pad_rows
from recsys.serving.catalogue import Catalogue
from recsys.serving.registry import LoadedModel
from recsys.serving.service import NotFound

MODELS = ("hybrid", "ranking", "sequential", "retrieval", "mf")
HISTORY_LENGTH = 20  # recsys.features.HISTORY_LENGTH: what the models read
HISTORY_PLAYERS = 5  # latest items explained one by one; 2^(5 + 2) = 128 coalitions
UNKNOWN_MOVIE = "__unknown_movie__"
METHOD = ("exact Shapley values over feature groups; a group outside a coalition is reset to "
          "its unknown default (user_id '' = unknown-user row, history item = unknown movie), "
          "scored through the recommend signature")


def explain(loaded: LoadedModel, catalogue: Catalogue, user_id: str, movie_id: str) -> dict:
    history = catalogue.history(user_id, HISTORY_LENGTH)
    players = _players(catalogue, history)
    coalitions = list(itertools.product((False, True), repeat=len(players)))
    scores = _scores(loaded, catalogue, user_id, movie_id, history, players, coalitions)
    values = dict(zip(coalitions, scores, strict=True))
    shapley = _shapley(values, len(players))
    full, empty = tuple([True] * len(players)), tuple([False] * len(players))
    contributions = [{**player["describe"], "contribution": round(float(value), 6)}
                     for player, value in zip(players, shapley, strict=True)]
    return {"method": METHOD, "score": round(float(values[full]), 6),
            "baseline_score": round(float(values[empty]), 6),
            "contributions": contributions,
            "not_separable": "movie genres and year, and demographics apart from the user id: "
                             "the signatures take ids and look these features up inside the "
                             "model"}


def _players(catalogue: Catalogue, history: list[str]) -> list[dict]:
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


def _scores(loaded: LoadedModel, catalogue: Catalogue, user_id: str, movie_id: str,
            history: list[str], players: list[dict],
            coalitions: list[tuple[bool, ...]]) -> np.ndarray:
    users, histories = [], []
    for coalition in coalitions:
        present = [p for p, on in zip(players, coalition, strict=True) if on]
        users.append(user_id if any(p["user"] for p in present) else "")
        kept = {i for p in present for i in p["positions"]}
        histories.append([m if i in kept else UNKNOWN_MOVIE for i, m in enumerate(history)]
                         or [UNKNOWN_MOVIE])
    others = [m for m in catalogue.movies if m != movie_id]
    outputs = loaded.backend.call("recommend", {
        "user_id": users, "history": pad_rows(histories),
        "exclude_movie_ids": [others] * len(coalitions)})
    if not all(row[0] == movie_id for row in outputs["movie_ids"]):
        raise NotFound(f"movie {movie_id!r} is not in model {loaded.name}'s vocabulary")
    return np.asarray(outputs["scores"])[:, 0]


def _shapley(values: dict[tuple[bool, ...], float], n: int) -> list[float]:
    """phi_i = sum over coalitions S without i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S))."""
    result = []
    for i in range(n):
        total = 0.0
        for coalition, value in values.items():
            if coalition[i]:
                continue
            size = sum(coalition)
            with_i = coalition[:i] + (True,) + coalition[i + 1:]
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            total += weight * (values[with_i] - value)
        result.append(total)
    return result
