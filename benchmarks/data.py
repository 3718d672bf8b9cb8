"""Load ML-100K-style ratings into numpy arrays and build the evaluation splits.

The splits come from `contract.splits` (the same functions the pipeline's ExampleGen uses), so
the peers here are measured on exactly the events the TFX models are measured on.

Shapes: n = number of events, U = number of users, I = number of items (the whole catalogue:
every item that occurs anywhere in the loaded data, train or test).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from contract import splits

RATINGS_FILE = "u.data"


@dataclasses.dataclass(frozen=True)
class Interactions:
    """Raw events as parallel arrays, each [n]; ids are the file's raw ids."""

    users: np.ndarray  # int64 [n]
    items: np.ndarray  # int64 [n]
    ratings: np.ndarray  # float32 [n]
    timestamps: np.ndarray  # int64 [n]
    line_numbers: np.ndarray  # int64 [n], 1-based line of the event in its file

    def __len__(self) -> int:
        return len(self.users)


@dataclasses.dataclass(frozen=True)
class IndexMap:
    """Contiguous indices 0..len-1 for sorted raw ids."""

    ids: np.ndarray  # int64 [m], sorted raw ids; ids[index] is the raw id of `index`

    @classmethod
    def from_ids(cls, *arrays: np.ndarray) -> IndexMap:
        return cls(np.unique(np.concatenate(arrays)))

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, raw: np.ndarray) -> np.ndarray:
        """Raw ids [n] -> indices [n]; raises KeyError for an id not in the map."""
        pos = np.searchsorted(self.ids, raw)
        pos = np.minimum(pos, len(self.ids) - 1)
        if len(raw) and not np.array_equal(self.ids[pos], raw):
            missing = np.asarray(raw)[self.ids[pos] != raw]
            raise KeyError(f"unknown ids: {missing[:5].tolist()}")
        return pos


@dataclasses.dataclass(frozen=True)
class Split:
    """Train/test events as contiguous user and item indices.

    For protocol TOPK there is exactly one test event per user (`test_users` sorted).
    """

    protocol: str
    users: IndexMap  # U users
    items: IndexMap  # I items
    train_users: np.ndarray  # int64 [n_train]
    train_items: np.ndarray  # int64 [n_train]
    train_ratings: np.ndarray  # float32 [n_train]
    test_users: np.ndarray  # int64 [n_test]
    test_items: np.ndarray  # int64 [n_test]
    test_ratings: np.ndarray  # float32 [n_test]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def train_matrix(self, binary: bool = True) -> sp.csr_matrix:
        """Training interactions as a CSR matrix [U, I]: 1.0 per event, or the rating."""
        values = (
            np.ones(len(self.train_users), dtype=np.float32) if binary else self.train_ratings
        )
        matrix = sp.csr_matrix(
            (values, (self.train_users, self.train_items)),
            shape=(self.n_users, self.n_items), dtype=np.float32,
        )
        if binary:
            matrix.data[:] = 1.0  # a repeated (user, item) pair still counts once
        matrix.sort_indices()
        return matrix

    @functools.cached_property
    def seen(self) -> list[np.ndarray]:
        """Per user u, the sorted item indices u has in training: list of U int arrays."""
        matrix = self.train_matrix()
        return [matrix.indices[matrix.indptr[u]:matrix.indptr[u + 1]].astype(np.int64)
                for u in range(self.n_users)]

    def summary(self) -> dict[str, int | str]:
        return {
            "protocol": self.protocol, "n_users": self.n_users, "n_items": self.n_items,
            "n_train": len(self.train_users), "n_test": len(self.test_users),
        }


def read_ratings_file(path: str | Path) -> Interactions:
    """Read a tab/whitespace-separated `user item rating timestamp` file (u.data, u1.base).

    Blank lines are skipped but still counted, so `line_numbers` are true file lines.
    """
    rows: list[tuple[int, int, float, int, int]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4:
                raise ValueError(f"{path}:{number}: expected 4 fields, got {len(fields)}")
            user, item, rating, timestamp = fields
            rows.append((int(user), int(item), float(rating), int(timestamp), number))
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return Interactions(
        users=table[:, 0].astype(np.int64), items=table[:, 1].astype(np.int64),
        ratings=table[:, 2].astype(np.float32), timestamps=table[:, 3].astype(np.int64),
        line_numbers=table[:, 4].astype(np.int64),
    )


def load_ratings(data_dir: str | Path, filename: str = RATINGS_FILE) -> Interactions:
    """The events of `data_dir/u.data` (or another file name)."""
    return read_ratings_file(Path(data_dir) / filename)


def load_presplit(
    data_dir: str | Path, name: str = "u1"
) -> tuple[Interactions, Interactions]:
    """A pre-split pair `data_dir/{name}.base` (train) and `data_dir/{name}.test` (test)."""
    data_dir = Path(data_dir)
    return (read_ratings_file(data_dir / f"{name}.base"),
            read_ratings_file(data_dir / f"{name}.test"))


def split_from_mask(
    data: Interactions, test_mask: np.ndarray, protocol: str
) -> Split:
    """Split `data` into train (~test_mask) and test (test_mask), indices over all events."""
    users, items = IndexMap.from_ids(data.users), IndexMap.from_ids(data.items)
    user_index, item_index = users.index(data.users), items.index(data.items)
    train, test = ~test_mask, test_mask
    order = np.lexsort((item_index[test], user_index[test]))
    return Split(
        protocol=protocol, users=users, items=items,
        train_users=user_index[train], train_items=item_index[train],
        train_ratings=data.ratings[train],
        test_users=user_index[test][order], test_items=item_index[test][order],
        test_ratings=data.ratings[test][order],
    )


def topk_split(data: Interactions) -> Split:
    """Protocol TOPK: each user's latest event (ties: later line) is the test event."""
    mask = splits.leave_last_out_mask(data.users, data.timestamps, data.line_numbers)
    return split_from_mask(data, mask, splits.Protocol.TOPK.value)


def rating_split(data: Interactions, seed: int = splits.DEFAULT_SEED) -> Split:
    """Protocol RATING: the seeded per-line 80/20 split of `contract.splits`."""
    mask = splits.rating_split_mask(data.line_numbers, seed)
    return split_from_mask(data, mask, splits.Protocol.RATING.value)


def presplit_split(train: Interactions, test: Interactions) -> Split:
    """A given train/test pair (e.g. u1.base/u1.test) as one Split over both files' ids."""
    joined = Interactions(*(np.concatenate([getattr(train, f.name), getattr(test, f.name)])
                            for f in dataclasses.fields(Interactions)))
    mask = np.zeros(len(joined), dtype=bool)
    mask[len(train):] = True
    return split_from_mask(joined, mask, splits.Protocol.PRESPLIT.value)
