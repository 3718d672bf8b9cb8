"""Fixtures for the benchmark tests. Keep this folder free of __init__.py: as a package it
would be named `benchmarks` and shadow the real one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

PLANTED_ITEM = 7
N_USERS, N_ITEMS = 30, 20
TARGET_USERS = range(25, 30)
METADATA_IDS = 1000  # u.item and u.user beside the ratings know ids 1..METADATA_IDS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "benchmark_extra: needs the optional peers (requirements/benchmark.txt)"
    )


def write_ratings(path: Path, rows: list[tuple[int, int, float, int]]) -> Path:
    """Write `user item rating timestamp` rows, tab-separated like u.data, and ML-100K's
    u.item and u.user beside them (if missing) so that the directory is a whole dataset."""
    path.write_text("".join(f"{u}\t{i}\t{r:g}\t{t}\n" for u, i, r, t in rows))
    _write_metadata(path.parent)
    return path


def _write_metadata(directory: Path) -> None:
    """u.item (a Drama of 1990 each) and u.user for ids 1..METADATA_IDS."""
    if not (directory / "u.item").exists():
        flags = "|".join("1" if genre == 8 else "0" for genre in range(19))
        (directory / "u.item").write_text("".join(
            f"{i}|Movie {i} (1990)|01-Jan-1990||http://example.org|{flags}\n"
            for i in range(1, METADATA_IDS + 1)))
    if not (directory / "u.user").exists():
        (directory / "u.user").write_text("".join(
            f"{u}|30|F|writer|00000\n" for u in range(1, METADATA_IDS + 1)))


def planted_rows(seed: int = 0) -> list[tuple[int, int, float, int]]:
    """30 users x 20 items (raw ids 1-based). Every user has 4 items of the pool 1..10.

    Users 1..25 also have the planted item 8 (index PLANTED_ITEM) early on; users 26..30 have
    it as their *latest* event, so protocol TOPK makes it their test item and they have not
    seen it in training. Items 11..20 are rare noise (one user each at most).
    """
    rng = np.random.default_rng(seed)
    pool = [i for i in range(1, 11) if i != PLANTED_ITEM + 1]
    rows: list[tuple[int, int, float, int]] = []
    for user in range(1, N_USERS + 1):
        items = rng.choice(pool, size=4, replace=False).tolist()
        for step, item in enumerate(items):
            rows.append((user, item, float(rng.integers(1, 6)), 1000 + 10 * step))
        planted_time = 500 if user <= 25 else 5000
        rows.append((user, PLANTED_ITEM + 1, 5.0, planted_time))
        if user <= N_ITEMS - 10:
            rows.append((user, 10 + user, 1.0, 700))
    return rows


@dataclasses.dataclass(frozen=True)
class Planted:
    """The planted data set: its directory (u.data), rows, planted item index, target users."""

    data_dir: Path
    rows: list[tuple[int, int, float, int]]
    item: int = PLANTED_ITEM
    target_users: tuple[int, ...] = tuple(TARGET_USERS)  # user indices (raw id - 1)


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    rows = planted_rows()
    write_ratings(tmp_path / "u.data", rows)
    return Planted(tmp_path, rows)


@pytest.fixture
def ratings_writer() -> Callable[[Path, list[tuple[int, int, float, int]]], Path]:
    """The `write_ratings` helper, as a fixture (test modules do not import conftest)."""
    return write_ratings
