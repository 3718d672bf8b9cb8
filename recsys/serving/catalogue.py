"""Movies, users and ratings read from the raw MovieLens files.

The SavedModels know movie *ids* only; titles, genres and the users' rating history come from
the same raw data dir the pipeline read (`recsys serve --data-dir`), a plain MovieLens
directory or a directory of spans (all its complete spans).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import defaultdict

from components.movielens_example_gen import formats, spans

# MovieLens writes "Usual Suspects, The"; other languages' articles appear the same way.
_ARTICLES = ("the", "a", "an", "les", "la", "le", "l'", "il", "el", "das", "der", "die")
_TRAILING_ARTICLE = re.compile(r",\s*(" + "|".join(re.escape(a) for a in _ARTICLES) + r")$")
_LEADING_ARTICLE = re.compile(r"^(" + "|".join(re.escape(a) for a in _ARTICLES) + r")\s+")
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}\)\s*$")
_NON_WORD = re.compile(r"[^\w]+")


def normalize_title(title: str) -> str:
    """A forgiving key for title matching: case, accents, year suffix, leading or trailing
    articles and punctuation do not matter ('The Usual Suspects (1995)' == 'usual suspects')."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().strip()
    text = _YEAR_SUFFIX.sub("", text)
    text = _TRAILING_ARTICLE.sub("", text)
    text = _LEADING_ARTICLE.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


def display_title(title: str) -> str:
    """'Usual Suspects, The' -> 'The Usual Suspects' for people."""
    match = re.match(r"^(.*),\s*(The|A|An)$", title)
    return f"{match.group(2)} {match.group(1)}" if match else title


@dataclasses.dataclass(frozen=True)
class Movie:
    movie_id: str
    title: str  # as people write it ("The Usual Suspects")
    year: int
    genres: tuple[str, ...]
    ratings: int  # number of ratings in the data: the tie-breaker for ambiguous titles

    def to_json(self) -> dict:
        return {"movie_id": self.movie_id, "title": self.title, "year": self.year or None,
                "genres": list(self.genres)}


@dataclasses.dataclass(frozen=True)
class Rated:
    movie_id: str
    rating: float
    timestamp: int


class Catalogue:
    """Look-ups the API needs, built once at start-up (ML-100K: well under a second)."""

    def __init__(self, movies: dict[str, Movie], users: dict[str, dict],
                 ratings: dict[str, list[Rated]]) -> None:
        self.movies = movies
        self.users = users  # user id -> demographics ({} for layouts without them)
        self.ratings = ratings  # user id -> ratings, oldest first
        self._by_key: dict[str, list[Movie]] = defaultdict(list)
        for movie in movies.values():
            self._by_key[normalize_title(movie.title)].append(movie)
        self._popular = sorted(movies.values(), key=lambda m: (-m.ratings, int(m.movie_id)))
        self._keys = [(normalize_title(m.title), m) for m in self._popular]

    def find_title(self, title: str) -> Movie | None:
        """The movie whose normalized title equals `title`'s (the most rated if several; a
        year in the query picks among remakes), else the most rated prefix match, else None."""
        key = normalize_title(title)
        if not key:
            return None
        year = _YEAR_SUFFIX.search(title)
        exact = self._by_key.get(key, [])
        if year:
            wanted = int(year.group(0).strip(" ()"))
            exact = [m for m in exact if m.year == wanted] or exact
        if exact:
            return max(exact, key=lambda m: m.ratings)
        prefixed = self.search(title, limit=1)
        return prefixed[0] if prefixed else None

    def search(self, prefix: str, limit: int = 10) -> list[Movie]:
        """Autocomplete: titles starting with `prefix` (normalized), then titles containing it
        at a word start; each group most rated first."""
        key = normalize_title(prefix)
        if not key:
            return []
        starts = [m for k, m in self._keys if k.startswith(key)]
        if len(starts) < limit:
            seen = {m.movie_id for m in starts}
            starts += [m for k, m in self._keys
                       if f" {key}" in f" {k}" and m.movie_id not in seen]
        return starts[:limit]

    def history(self, user_id: str, length: int | None = None) -> list[str]:
        """The user's rated movie ids, oldest first (the last `length` if given)."""
        movie_ids = [r.movie_id for r in self.ratings.get(user_id, [])]
        return movie_ids[-length:] if length else movie_ids

    def seen(self, user_id: str) -> list[str]:
        return [r.movie_id for r in self.ratings.get(user_id, [])]


def load(data_dir: str) -> Catalogue:
    """Reads movies, users and ratings from a raw MovieLens directory (any layout), or from
    every complete span of a directory of spans."""
    dataset = spans.read_dataset(data_dir)
    ratings = _read_ratings(dataset.ratings_paths, dataset.layout)
    counts: dict[str, int] = defaultdict(int)
    for user_ratings in ratings.values():
        for rated in user_ratings:
            counts[rated.movie_id] += 1
    movies = {
        movie_id: Movie(movie_id, display_title(m.title), m.year, m.genres, counts[movie_id])
        for movie_id, m in dataset.movies.items()}
    users = {user_id: {"gender": u.gender, "age": u.age, "occupation": u.occupation}
             for user_id, u in (dataset.users or {}).items()}
    for user_id in ratings:
        users.setdefault(user_id, {})
    return Catalogue(movies, users, ratings)


def _read_ratings(paths: list[str], layout: formats.Layout) -> dict[str, list[Rated]]:
    by_user: dict[str, list[tuple[int, int, int, Rated]]] = defaultdict(list)
    for source, path in enumerate(paths):
        for rating in formats.read_ratings(path, layout):
            by_user[rating.user_id].append((rating.timestamp, source, rating.line_number, Rated(
                rating.movie_id, rating.rating, rating.timestamp)))
    # Time order, ties by span and line: the order the ExampleGen gives the history.
    return {user: [r for *_, r in sorted(rows, key=lambda row: row[:3])]
            for user, rows in by_user.items()}
