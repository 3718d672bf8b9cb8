"""Synthetic MovieLens data in the ml-latest / ML-25M layout, for scale tests and benchmarks.

    write_dataset("data/synth-1m", users=6_040, movies=3_706, ratings=1_000_000, seed=0)

writes `movies.csv` (`movieId,title,genres`, "Title (YEAR)", "|"-separated genres) and
`ratings.csv` (`userId,movieId,rating,timestamp`) with the structure of the real releases:

- movie popularity follows a Zipf law (exponent ZIPF_EXPONENT, ranks shuffled over the ids);
- users' activity is lognormal (every user rates at least `min_ratings_per_user` movies, at
  most the whole catalogue);
- each user prefers one genre and draws a share of their movies (their loyalty) from it,
  within-genre by the same popularity; ratings are higher for the preferred genre, for good
  movies and for generous users, in half stars;
- each user's ratings are written in time order (strictly increasing timestamps), users in
  id order, and a user never rates a movie twice.

Ratings stream: users are generated and written in chunks of about CHUNK_RATINGS ratings
(vectorised with numpy), so memory holds one chunk plus per-user and per-movie arrays, never
all the ratings. The output depends only on the arguments (seed included).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# ml-latest's genres and their share of ML-25M's movie-genre pairs (rounded counts).
GENRE_WEIGHTS = {
    "Drama": 25606, "Comedy": 16870, "Thriller": 8654, "Romance": 7719, "Action": 7348,
    "Horror": 5989, "Documentary": 5605, "Crime": 5319, "Adventure": 4145, "Sci-Fi": 3595,
    "Children": 2935, "Animation": 2929, "Mystery": 2925, "Fantasy": 2731, "War": 1874,
    "Western": 1399, "Musical": 1054, "Film-Noir": 353, "IMAX": 195,
}
NO_GENRES = "(no genres listed)"
NO_GENRES_FRACTION = 0.02  # ML-25M: 8 %; kept small, the preference model needs genres
ZIPF_EXPONENT = 1.0  # popularity ~ 1 / rank: at ML-1M's shape the top 10 % get ~43 % of ratings
ACTIVITY_SIGMA = 1.2  # lognormal: mean / median ratings per user ~2, as in ML-25M
FIRST_TIMESTAMP, LAST_TIMESTAMP = 789_652_009, 1_574_327_703  # ML-25M's range
MEAN_GAP_SECONDS = 3_600.0  # between two ratings of one user (per-user scale varies)
CHUNK_RATINGS = 1 << 18
MAX_ROUNDS = 6  # of sampling with replacement before the exact per-user fallback
RATINGS_HEADER = "userId,movieId,rating,timestamp\n"
_HALF_STARS = [f"{stars / 2:.1f}" for stars in range(11)]  # index 2 * rating -> "4.5"
_TITLE_WORDS = ("Midnight", "River", "Return", "Shadow", "Summer", "Café", "Empire", "Letters",
                "Journey", "Garden", "Stranger", "Storm", "Dreams", "Island", "Winter", "Game")


class SynthError(ValueError):
    """Arguments that cannot describe a dataset (the CLI prints it and exits 2)."""


@dataclasses.dataclass(frozen=True)
class Summary:
    """What write_dataset wrote."""

    directory: str
    users: int
    movies: int
    ratings: int
    rated_movies: int  # movies with at least one rating


@dataclasses.dataclass(frozen=True)
class _Catalogue:
    """Per-movie arrays, plus per-genre cumulative popularity for inverse-CDF sampling."""

    popularity: np.ndarray  # float64 [movies], sums to 1
    quality: np.ndarray  # rating offset per movie
    membership: np.ndarray  # bool [movies, genres]
    genre_mass: np.ndarray  # [genres]: popularity mass of each genre's movies
    segment_cdf: np.ndarray  # segment s (a genre, or the last: all movies) maps to (s, s + 1]
    segment_movies: np.ndarray  # movie index at each position of segment_cdf


def validate(users: int, movies: int, ratings: int, min_ratings_per_user: int) -> None:
    """Raises SynthError unless the counts describe a dataset without duplicate pairs."""
    if users < 1 or movies < 1:
        raise SynthError(f"--users and --movies must be at least 1, got {users} and {movies}")
    if min_ratings_per_user < 1:
        raise SynthError(f"--min-ratings-per-user must be at least 1, got {min_ratings_per_user}")
    if min_ratings_per_user > movies:
        raise SynthError(f"--min-ratings-per-user {min_ratings_per_user} exceeds --movies "
                         f"{movies}: a user rates each movie at most once")
    if ratings < users * min_ratings_per_user:
        raise SynthError(f"--ratings {ratings} is less than --users x --min-ratings-per-user "
                         f"= {users * min_ratings_per_user}")
    if ratings > users * movies:
        raise SynthError(f"--ratings {ratings} exceeds --users x --movies = {users * movies}: "
                         "a user rates each movie at most once")


def write_dataset(
    directory: str | os.PathLike, users: int, movies: int, ratings: int, seed: int = 0,
    min_ratings_per_user: int = 5, chunk_ratings: int = CHUNK_RATINGS,
) -> Summary:
    """Writes movies.csv and ratings.csv into `directory` (created); see the module doc."""
    validate(users, movies, ratings, min_ratings_per_user)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    movie_seed, user_seed, chunk_seed = np.random.SeedSequence(seed).spawn(3)
    catalogue = _write_movies(out / "movies.csv", np.random.default_rng(movie_seed), movies)
    user_rng = np.random.default_rng(user_seed)
    counts = ratings_per_user(user_rng, users, movies, ratings, min_ratings_per_user)
    preferred = user_rng.choice(len(GENRE_WEIGHTS), size=users, p=catalogue.genre_mass)
    loyalty = user_rng.beta(2.0, 3.0, size=users)
    generosity = user_rng.normal(0.0, 0.35, size=users)
    rated = np.zeros(movies, dtype=bool)
    with open(out / "ratings.csv", "w", encoding="ascii", newline="\n") as handle:
        handle.write(RATINGS_HEADER)
        for chunk in user_chunks(counts, chunk_ratings):
            rng = np.random.default_rng(chunk_seed.spawn(1)[0])  # the next child each time
            user, movie = _distinct_movies(rng, catalogue, counts[chunk], preferred[chunk],
                                           loyalty[chunk])
            rated[movie] = True
            stars = _stars(rng, catalogue, movie, preferred[chunk][user],
                           generosity[chunk][user])
            timestamps = _timestamps(rng, counts[chunk])
            handle.write(_lines(user + chunk.start + 1, movie + 1, stars, timestamps))
    return Summary(str(out), users, movies, ratings, int(rated.sum()))


def ratings_per_user(
    rng: np.random.Generator, users: int, movies: int, ratings: int, minimum: int
) -> np.ndarray:
    """Lognormal activity: `minimum` each plus a weighted share of the rest, capped at
    `movies`, summing to `ratings` exactly (validate() guarantees that is possible)."""
    weights = rng.lognormal(0.0, ACTIVITY_SIGMA, size=users)
    counts = np.full(users, minimum, dtype=np.int64)
    left = ratings - users * minimum
    while left:  # users over the cap hand their excess to those below it
        open_users = counts < movies
        shares = np.where(open_users, weights, 0.0)
        counts += rng.multinomial(left, shares / shares.sum())
        np.minimum(counts, movies, out=counts)
        left = ratings - int(counts.sum())
    return counts


def user_chunks(counts: np.ndarray, chunk_ratings: int) -> Iterator[slice]:
    """Consecutive user ranges of about `chunk_ratings` ratings (at least one user each)."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + chunk_ratings, side="right")))
        yield slice(start, stop)
        start = stop


def _write_movies(path: Path, rng: np.random.Generator, movies: int) -> _Catalogue:
    popularity = 1.0 / (1.0 + rng.permutation(movies)) ** ZIPF_EXPONENT
    popularity /= popularity.sum()
    membership = _genres(rng, movies)
    years = np.clip(2019 - rng.exponential(18.0, size=movies).astype(int), 1902, 2019)
    words = rng.integers(len(_TITLE_WORDS), size=(movies, 2))
    # Some titles use ML's "Name, The (YEAR)" form, which the CSV writer quotes.
    articles = np.where(rng.random(movies) < 0.1, ", The", "")
    names = np.array(list(GENRE_WEIGHTS))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for index in range(movies):
            first, second = words[index]
            title = f"{_TITLE_WORDS[first]} {_TITLE_WORDS[second]} {index + 1}{articles[index]}"
            writer.writerow([index + 1, f"{title} ({years[index]})",
                             "|".join(names[membership[index]]) or NO_GENRES])
    # Popular movies are a little better liked, as in the real data.
    quality = rng.normal(0.0, 0.45, size=movies) + 0.05 * np.log(popularity * movies)
    return _catalogue(popularity, quality, membership)


def _genres(rng: np.random.Generator, movies: int) -> np.ndarray:
    """bool [movies, genres]: 1 + Poisson(0.8) distinct genres per movie, drawn by
    GENRE_WEIGHTS (Gumbel top-k), none for NO_GENRES_FRACTION of the movies."""
    weights = np.array(list(GENRE_WEIGHTS.values()), dtype=float)
    keys = np.log(weights) + rng.gumbel(size=(movies, len(weights)))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    count = 1 + rng.poisson(0.8, size=movies)
    count[rng.random(movies) < NO_GENRES_FRACTION] = 0
    return rank < count[:, None]


def _catalogue(popularity: np.ndarray, quality: np.ndarray,
               membership: np.ndarray) -> _Catalogue:
    # One segment per genre, then a last one with every movie.
    members = [np.flatnonzero(column) for column in membership.T]
    members.append(np.arange(len(popularity)))
    cdfs = []
    for segment, ids in enumerate(members):
        cdf = np.cumsum(popularity[ids])
        if len(cdf):
            cdf = cdf / cdf[-1]
            cdf[-1] = 1.0  # exactly: a uniform draw below 1 never runs past the segment
        cdfs.append(segment + cdf)
    mass = popularity @ membership
    return _Catalogue(popularity, quality, membership, mass / mass.sum(),
                      np.concatenate(cdfs), np.concatenate(members))


def _draw(rng: np.random.Generator, catalogue: _Catalogue, preferred: np.ndarray,
          loyalty: np.ndarray) -> np.ndarray:
    """One movie per entry (with replacement): from the preferred genre with probability
    `loyalty`, else from the whole catalogue, by popularity either way."""
    everything = len(GENRE_WEIGHTS)
    segment = np.where(rng.random(len(preferred)) < loyalty, preferred, everything)
    position = np.searchsorted(catalogue.segment_cdf, segment + rng.random(len(preferred)),
                               side="right")
    return catalogue.segment_movies[position]


def _distinct_movies(
    rng: np.random.Generator, catalogue: _Catalogue, counts: np.ndarray,
    preferred: np.ndarray, loyalty: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(chunk-local user, movie) arrays, grouped by user, `counts[u]` distinct movies each.

    Each user's movies are their first distinct draws, in draw order: weighted sampling
    without replacement (successive sampling). Rounds of oversampled draws with replacement
    do it for most users; the few left short (heavy users, dense catalogues) finish exactly
    by `_exact_rest`.
    """
    movies = len(catalogue.popularity)
    user = np.empty(0, dtype=np.int64)
    movie = np.empty(0, dtype=np.int64)
    need = counts.copy()
    for _ in range(MAX_ROUNDS):
        short = np.flatnonzero(need)
        if not len(short):
            break
        draws = np.repeat(short, need[short] + need[short] // 4 + 2)
        user = np.concatenate([user, draws])
        movie = np.concatenate([movie, _draw(rng, catalogue, preferred[draws], loyalty[draws])])
        user, movie = _first_distinct(user, movie, counts, movies)
        need = counts - np.bincount(user, minlength=len(counts))
    for short_user in np.flatnonzero(need):
        mine = user == short_user
        rest = _exact_rest(rng, catalogue, movie[mine], int(need[short_user]),
                           int(preferred[short_user]), float(loyalty[short_user]))
        user = np.concatenate([user, np.full(len(rest), short_user)])
        movie = np.concatenate([movie, rest])
    order = np.argsort(user, kind="stable")  # by user, draw order kept within each
    return user[order], movie[order]


def _first_distinct(user: np.ndarray, movie: np.ndarray, counts: np.ndarray,
                    movies: int) -> tuple[np.ndarray, np.ndarray]:
    """The first occurrence of each (user, movie), in order, at most counts[u] per user."""
    _, first = np.unique(user * movies + movie, return_index=True)
    first.sort()
    user, movie = user[first], movie[first]
    order = np.argsort(user, kind="stable")
    user, movie = user[order], movie[order]
    starts = np.searchsorted(user, user, side="left")
    keep = np.arange(len(user)) - starts < counts[user]
    return user[keep], movie[keep]


def _exact_rest(rng: np.random.Generator, catalogue: _Catalogue, chosen: np.ndarray, need: int,
                preferred: int, loyalty: float) -> np.ndarray:
    """`need` more movies for one user, none in `chosen`: successive weighted sampling without
    replacement in one step (Gumbel top-k), O(catalogue)."""
    genre_share = np.where(catalogue.membership[:, preferred], catalogue.popularity, 0.0)
    weights = loyalty * genre_share / genre_share.sum() + (1 - loyalty) * catalogue.popularity
    weights[chosen] = 0.0
    with np.errstate(divide="ignore"):
        keys = np.log(weights) + rng.gumbel(size=len(weights))
    top = np.argpartition(-keys, need - 1)[:need]
    return top[np.argsort(-keys[top], kind="stable")]


def _stars(rng: np.random.Generator, catalogue: _Catalogue, movie: np.ndarray,
           preferred: np.ndarray, generosity: np.ndarray) -> np.ndarray:
    """Half-star ratings 0.5..5 as indices into _HALF_STARS (2 x rating)."""
    likes = catalogue.membership[movie, preferred]
    score = (3.35 + generosity + catalogue.quality[movie] + 0.6 * likes
             + rng.normal(0.0, 0.75, size=len(movie)))
    return np.clip(np.rint(score * 2), 1, 10).astype(np.int64)


def _timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Strictly increasing seconds within each user (grouped as `counts`), inside ML-25M's
    range where the user's span allows."""
    pace = np.repeat(rng.lognormal(0.0, 1.0, size=len(counts)), counts)
    # Whole seconds, at least one apart: integer sums stay strictly increasing.
    gaps = 1 + (rng.exponential(MEAN_GAP_SECONDS, size=len(pace)) * pace).astype(np.int64)
    total = np.cumsum(gaps)
    ends = np.cumsum(counts)
    before = np.concatenate([[0], total[ends[:-1] - 1]])  # the previous users' gaps
    within = total - np.repeat(before, counts)
    latest = np.maximum(FIRST_TIMESTAMP, LAST_TIMESTAMP - within[ends - 1])
    first = FIRST_TIMESTAMP + (rng.random(len(counts)) * (latest - FIRST_TIMESTAMP)).astype(
        np.int64)
    return np.repeat(first, counts) + within


def _lines(user_ids: np.ndarray, movie_ids: np.ndarray, stars: np.ndarray,
           timestamps: np.ndarray) -> str:
    rows = zip(user_ids.tolist(), movie_ids.tolist(), stars.tolist(), timestamps.tolist(),
               strict=True)
    return "".join([f"{u},{m},{_HALF_STARS[s]},{t}\n" for u, m, s, t in rows])
