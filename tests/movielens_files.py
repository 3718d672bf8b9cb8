"""Writes tiny MovieLens datasets in each GroupLens layout, for tests.

`write_ml100k` makes data with real structure (users prefer a genre; time order matters), big
enough for an end-to-end pipeline run in seconds.
"""

from __future__ import annotations

import random
from pathlib import Path

from components.movielens_example_gen.formats import ML100K_GENRES


def write_ml100k(
    directory: Path, users: int = 40, movies: int = 30, ratings_per_user: int = 12, seed: int = 7
) -> Path:
    """u.data / u.item (Latin-1) / u.user with `users` x `ratings_per_user` ratings."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    item_lines = []
    for movie in range(1, movies + 1):
        genre = 1 + movie % 5  # five genres in use: Action..Comedy
        flags = ["1" if g == genre else "0" for g in range(len(ML100K_GENRES))]
        title = f"Caf\u00e9 N\u00b0{movie} (19{70 + movie % 30})"
        item_lines.append("|".join([str(movie), title, f"01-Jan-19{70 + movie % 30}", "",
                                    "http://example.org", *flags]))
    (directory / "u.item").write_bytes(("\n".join(item_lines) + "\n").encode("latin-1"))
    occupations = ["writer", "engineer", "student"]
    user_lines = [f"{u}|{20 + u % 40}|{'MF'[u % 2]}|{occupations[u % 3]}|0{u:04d}"
                  for u in range(1, users + 1)]
    (directory / "u.user").write_text("\n".join(user_lines) + "\n")
    rating_lines = []
    for user in range(1, users + 1):
        liked = [m for m in range(1, movies + 1) if m % 5 == user % 5]
        others = [m for m in range(1, movies + 1) if m % 5 != user % 5]
        chosen = rng.sample(liked, min(len(liked), ratings_per_user // 2))
        chosen += rng.sample(others, ratings_per_user - len(chosen))
        for step, movie in enumerate(chosen):
            rating = 5 if movie in liked else rng.choice([1, 2, 3])
            rating_lines.append(f"{user}\t{movie}\t{rating}\t{880000000 + 1000 * step + user}")
    rng.shuffle(rating_lines)
    (directory / "u.data").write_text("\n".join(rating_lines) + "\n")
    return directory


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
