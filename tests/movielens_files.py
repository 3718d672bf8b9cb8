"""Writes tiny MovieLens datasets in each GroupLens layout, for tests.

`write_ml100k` makes data with real structure (users prefer a genre, popularity is skewed),
big enough for an end-to-end pipeline run and its quality gate, small enough to train in seconds.
"""

from __future__ import annotations

import random
from pathlib import Path

from components.movielens_example_gen.formats import ML100K_GENRES

GENRES_IN_USE = 6  # movie m has genre ML100K_GENRES[1 + (m - 1) % 6]: Action..Comedy
USERS, MOVIES, RATINGS_PER_USER = 120, 60, 10


def write_ml100k(
    directory: Path, users: int = USERS, movies: int = MOVIES,
    ratings_per_user: int = RATINGS_PER_USER, seed: int = 7,
) -> Path:
    """u.data / u.item (Latin-1 titles) / u.user with `users` x `ratings_per_user` ratings.

    Structure a model can learn and a baseline cannot fake: each user prefers one genre and
    rates mostly (60 %) movies of it, highly; within a genre, popularity falls with 1/rank^2.
    On the defaults, recommending the most popular unseen movies scores HR@10 ~0.47, random
    scores ~0.21 and a genre-aware model ~0.9.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    item_lines = []
    for movie in range(1, movies + 1):
        flags = ["1" if g == 1 + (movie - 1) % GENRES_IN_USE else "0"
                 for g in range(len(ML100K_GENRES))]
        year = 1970 + movie % 30
        item_lines.append("|".join([str(movie), f"Caf\u00e9 N\u00b0{movie} ({year})",
                                    f"01-Jan-{year}", "", "http://example.org", *flags]))
    (directory / "u.item").write_bytes(("\n".join(item_lines) + "\n").encode("latin-1"))
    occupations = ["writer", "engineer", "student"]
    user_lines = [f"{u}|{20 + u % 40}|{'MF'[u % 2]}|{occupations[u % 3]}|0{u:04d}"
                  for u in range(1, users + 1)]
    (directory / "u.user").write_text("\n".join(user_lines) + "\n")
    rating_lines = []
    for user in range(1, users + 1):
        liked = [m for m in range(1, movies + 1) if (m - 1) % GENRES_IN_USE == user % GENRES_IN_USE]
        others = [m for m in range(1, movies + 1) if m not in liked]
        chosen = _popular_sample(rng, liked, ratings_per_user * 6 // 10)
        chosen += _popular_sample(rng, others, ratings_per_user - len(chosen))
        rng.shuffle(chosen)
        for step, movie in enumerate(chosen):
            rating = rng.choice([4, 5]) if movie in liked else rng.choice([1, 2, 3])
            rating_lines.append(f"{user}\t{movie}\t{rating}\t{880000000 + 1000 * step + user}")
    rng.shuffle(rating_lines)
    (directory / "u.data").write_text("\n".join(rating_lines) + "\n")
    return directory


def _popular_sample(rng: random.Random, movies: list[int], count: int) -> list[int]:
    """`count` distinct movies, movie m drawn with weight 1 / (1 + its rank in genre)^2."""
    pool, chosen = list(movies), []
    while pool and len(chosen) < count:
        weights = [1.0 / (1 + (m - 1) // GENRES_IN_USE) ** 2 for m in pool]
        movie = rng.choices(pool, weights=weights)[0]
        pool.remove(movie)
        chosen.append(movie)
    return chosen


def write_ml1m(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Misérables, Les (1995)::Drama\n".encode("latin-1"))
    (directory / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (directory / "ratings.dat").write_text(
        "1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n2::2::5::978300275\n")
    return directory


def write_ml_latest(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '2,"American President, The (1995)",Comedy|Drama|Romance\n'
        "3,Unknown Film,(no genres listed)\n", encoding="utf-8")
    (directory / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n"
        "2,3,0.5,964982224\n2,1,5.0,964983815\n", encoding="utf-8")
    return directory
