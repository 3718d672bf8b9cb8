"""Read a MovieLens directory the way the pipeline's ExampleGen does, and split it as it does.

The files are read by the ExampleGen's own readers (`components/movielens_example_gen`: layout
detection, line numbering, parsing and id checks) and each user's events get their split from
its `assign_splits` (`contract/splits.py`'s protocols), so the peers here are measured on
exactly the events the TFX models are measured on. Only the grouping by user differs: a dict
here, a Beam GroupByKey there (both over `pack_event`'s bytes, ~70 per rating).

The peers fit every training event: the ExampleGen's TRAIN and VALIDATION splits together (the
validation split only serves the models' curves, early stopping and tuning, and is seen data).

Shapes: n = number of events, U = number of users, I = number of items (the whole catalogue:
every item that occurs anywhere in the ratings, train or test).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from components.movielens_example_gen import executor, formats, rules
from contract import splits


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

    Training events are grouped by user (ascending index), each user's in time order (the
    ExampleGen's order: timestamp, then line); test events are sorted by (user, item). Under
    protocol TOPK there is exactly one test event per user.
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

    @functools.cached_property
    def sequences(self) -> list[np.ndarray]:
        """Per user u, u's training items in time order (oldest first): list of U int arrays."""
        bounds = np.searchsorted(self.train_users, np.arange(self.n_users + 1))
        return [self.train_items[bounds[u]:bounds[u + 1]] for u in range(self.n_users)]

    def summary(self) -> dict[str, int | str]:
        return {
            "protocol": self.protocol, "n_users": self.n_users, "n_items": self.n_items,
            "n_train": len(self.train_users), "n_test": len(self.test_users),
        }


@dataclasses.dataclass
class _Events:
    """Parallel lists of assigned events, filled user by user."""

    users: list[int] = dataclasses.field(default_factory=list)
    items: list[int] = dataclasses.field(default_factory=list)
    ratings: list[float] = dataclasses.field(default_factory=list)

    def add(self, rating: formats.Rating) -> None:
        self.users.append(int(rating.user_id))
        self.items.append(int(rating.movie_id))
        self.ratings.append(rating.rating)


def load_split(
    data_dir: str | Path, protocol: str = splits.Protocol.TOPK,
    seed: int = splits.DEFAULT_SEED, train_file: str | None = None,
    eval_file: str | None = None,
) -> Split:
    """The ExampleGen's split of `data_dir` under `protocol` (TOPK, RATING, or PRESPLIT with
    `train_file` and `eval_file`), its EVAL events as the test part and its TRAIN and
    VALIDATION events as the training part. Bad input raises the ExampleGen's InputDataError
    (file and line)."""
    protocol = splits.Protocol(protocol)
    if protocol == splits.Protocol.COLDSTART:
        raise ValueError("the peers run protocols topk, rating and presplit; coldstart's "
                         "popularity figures come from the Trainer")
    data_dir = os.path.abspath(data_dir)
    layout = formats.detect_layout(data_dir)
    movies = formats.read_movies(data_dir, layout)
    users = formats.read_users(data_dir, layout)
    sources = executor.rating_sources(data_dir, layout, protocol, {
        executor.TRAIN_FILE_KEY: train_file, executor.EVAL_FILE_KEY: eval_file})
    source_paths = [path for path, _ in sources]
    packed_by_user: dict[str, list[bytes]] = collections.defaultdict(list)
    # Any timestamp (the pipeline's date window guards live data, not a benchmark's release);
    # a repeated rating keeps the latest, as the ExampleGen's default does.
    for part in executor.rating_parts(sources, layout, quarantine=False):
        for event in executor.read_rating_events(part, layout.name, movies, users):
            user_id, packed = executor.pack_event(event, source_paths)
            packed_by_user[user_id].append(packed)
    train, test = _Events(), _Events()
    for user_id in sorted(packed_by_user, key=int):
        events, _ = executor.latest_ratings(
            [executor.unpack_event(user_id, packed, sources)
             for packed in packed_by_user.pop(user_id)], rules.DuplicatePolicy.KEEP_LATEST)
        for rating, split in executor.assign_splits(events, protocol, seed):
            (test if split == splits.EVAL else train).add(rating)
    return _indexed(protocol, train, test)


def _indexed(protocol: splits.Protocol, train: _Events, test: _Events) -> Split:
    """Raw ids -> contiguous indices over both parts; test events sorted by (user, item)."""
    train_users, train_items, test_users, test_items = (
        np.asarray(ids, dtype=np.int64)
        for ids in (train.users, train.items, test.users, test.items))
    users = IndexMap.from_ids(train_users, test_users)
    items = IndexMap.from_ids(train_items, test_items)
    test_user_index, test_item_index = users.index(test_users), items.index(test_items)
    order = np.lexsort((test_item_index, test_user_index))
    return Split(
        protocol=protocol.value, users=users, items=items,
        train_users=users.index(train_users), train_items=items.index(train_items),
        train_ratings=np.asarray(train.ratings, dtype=np.float32),
        test_users=test_user_index[order], test_items=test_item_index[order],
        test_ratings=np.asarray(test.ratings, dtype=np.float32)[order],
    )
