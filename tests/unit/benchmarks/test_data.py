"""The benchmark's data: read and split as the pipeline's ExampleGen reads and splits them."""

from __future__ import annotations

import collections
import glob
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_component_specs

from benchmarks import data as bdata
from benchmarks import peers, run_peers
from components.movielens_example_gen import executor
from components.movielens_example_gen.errors import InputDataError
from contract import features as F
from contract import splits
from tests.fixtures import movielens_files

# ------------------------------------------------------------------------------------ indices


def test_index_map_is_contiguous_over_sorted_raw_ids() -> None:
    index_map = bdata.IndexMap.from_ids(np.array([30, 10]), np.array([20, 10]))
    np.testing.assert_array_equal(index_map.ids, [10, 20, 30])
    np.testing.assert_array_equal(index_map.index(np.array([30, 10, 20])), [2, 0, 1])
    with pytest.raises(KeyError):
        index_map.index(np.array([15]))


# ------------------------------------------------------------------------------------- splits


def _tie_rows() -> list[tuple[int, int, float, int]]:
    # user 1: latest timestamp 9 twice (items 3 then 4): the later line (item 4) is the test.
    # user 2: its latest event (item 1, t=50) comes first in the file.
    # user 3: one tie at t=7 between items 2 and 5, plus an older event on a later line.
    return [
        (1, 1, 4, 5), (2, 1, 3, 50), (1, 3, 5, 9), (3, 2, 2, 7), (2, 2, 1, 10),
        (1, 4, 1, 9), (3, 5, 4, 7), (1, 2, 2, 8), (3, 1, 5, 6),
    ]


def test_topk_split_takes_latest_event_with_ties_to_later_line(
    tmp_path: Path, ratings_writer
) -> None:
    ratings_writer(tmp_path / "u.data", _tie_rows())
    split = bdata.load_split(tmp_path, splits.Protocol.TOPK)
    raw_test = dict(zip(split.users.ids[split.test_users].tolist(),
                        split.items.ids[split.test_items].tolist(), strict=True))
    assert raw_test == {1: 4, 2: 1, 3: 5}
    np.testing.assert_array_equal(split.test_users, [0, 1, 2])
    assert len(split.train_users) == len(_tie_rows()) - 3
    assert split.protocol == splits.Protocol.TOPK.value


def test_topk_split_seen_sets_and_sequences_hold_the_training_items(
    tmp_path: Path, ratings_writer
) -> None:
    ratings_writer(tmp_path / "u.data", _tie_rows())
    split = bdata.load_split(tmp_path)
    # items 1..5 -> indices 0..4; user 1 trains on items 1, 3, 2 (item 4 is its test)
    assert [s.tolist() for s in split.seen] == [[0, 1, 2], [1], [0, 1]]
    # in time order: user 1 rated item 1 (t=5), 2 (t=8), 3 (t=9); user 3 item 1 (t=6), 2 (t=7)
    assert [s.tolist() for s in split.sequences] == [[0, 1, 2], [1], [0, 1]]
    matrix = split.train_matrix()
    assert matrix.shape == (3, 5)
    assert matrix.sum() == len(split.train_users)
    np.testing.assert_allclose(split.train_matrix(binary=False)[0, 2], 5.0)


def test_topk_split_test_event_is_never_older_than_training(planted) -> None:
    split = bdata.load_split(planted.data_dir)
    assert len(split.test_users) == split.n_users == 30
    rows = np.array(planted.rows)
    for user in range(split.n_users):
        mine = rows[rows[:, 0] == split.users.ids[user]]
        test_item = split.items.ids[split.test_items[user]]
        assert mine[mine[:, 1] == test_item][0, 3] == mine[:, 3].max()
    assert set(split.test_items[list(planted.target_users)].tolist()) == {planted.item}


def test_rating_split_follows_protocol_hash_and_partitions_events(ratings_writer,
                                                                  tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pairs = rng.choice(49 * 79, 3000, replace=False)  # distinct (user, movie): no repeats
    rows = [(int(p // 79) + 1, int(p % 79) + 1, float(r), int(t)) for p, r, t in zip(
        pairs, rng.integers(1, 6, 3000), rng.integers(0, 10**6, 3000), strict=True)]
    ratings_writer(tmp_path / "u.data", rows)
    split = bdata.load_split(tmp_path, splits.Protocol.RATING)
    expected = np.array([splits.rating_split_is_test(n) for n in range(1, 3001)])
    assert len(split.test_users) == expected.sum()
    assert len(split.train_users) + len(split.test_users) == 3000
    assert 0.17 < expected.mean() < 0.23
    # the test part's ratings are those of the hashed lines (sorted order aside)
    test_rows = sorted((u, i, r) for (u, i, r, _), e in zip(rows, expected, strict=True) if e)
    got = sorted(zip(split.users.ids[split.test_users].tolist(),
                     split.items.ids[split.test_items].tolist(),
                     split.test_ratings.tolist(), strict=True))
    assert got == test_rows
    other_seed = bdata.load_split(tmp_path, splits.Protocol.RATING, seed=7)
    expected_7 = [splits.rating_split_is_test(n, seed=7) for n in range(1, 3001)]
    assert len(other_seed.test_users) == sum(expected_7)
    assert (np.array(expected_7) != expected).any()


def test_presplit_split_keeps_the_given_test_file(tmp_path: Path, ratings_writer) -> None:
    ratings_writer(tmp_path / "u.data", [(1, 10, 4, 1)])
    ratings_writer(tmp_path / "u1.base", [(1, 10, 4, 1), (2, 20, 3, 2)])
    ratings_writer(tmp_path / "u1.test", [(2, 10, 5, 3), (1, 30, 1, 4)])
    split = bdata.load_split(tmp_path, splits.Protocol.PRESPLIT, train_file="u1.base",
                             eval_file="u1.test")
    assert split.protocol == splits.Protocol.PRESPLIT.value
    assert split.n_items == 3  # item 30 only occurs in the test file and still has an index
    assert sorted(zip(split.test_users.tolist(), split.test_items.tolist(),
                      split.test_ratings.tolist(), strict=True)) == [(0, 2, 1.0), (1, 0, 5.0)]
    np.testing.assert_array_equal(np.sort(split.train_ratings), [3.0, 4.0])


def test_bad_input_is_the_example_gens_error_naming_file_and_line(
    tmp_path: Path, ratings_writer
) -> None:
    ratings_writer(tmp_path / "u.data", [(1, 10, 4, 1), (1, 5000, 3, 2)])
    with pytest.raises(InputDataError, match=r"u\.data:2: movie id '5000' is not in u\.item"):
        bdata.load_split(tmp_path)
    with pytest.raises(ValueError, match="coldstart"):
        bdata.load_split(tmp_path, splits.Protocol.COLDSTART)


# ------------------------------------------------ agreement with the ExampleGen, every layout


def _with_ties_and_a_blank_line(directory: Path) -> Path:
    """write_ml100k's data with timestamps rounded (ties inside users: the line decides) and
    a blank line (it still counts in the line numbers the RATING split hashes)."""
    movielens_files.write_ml100k(directory)
    lines = []
    for line in (directory / "u.data").read_text().splitlines():
        user, movie, rating, timestamp = line.split("\t")
        lines.append(f"{user}\t{movie}\t{rating}\t{int(timestamp) // 3000 * 3000}")
    lines.insert(5, "")
    (directory / "u.data").write_text("\n".join(lines) + "\n")
    return directory


def _as_ml1m(ml100k: Path, directory: Path) -> Path:
    """The same ratings, movies and users in ML-1M's `::` layout."""
    directory.mkdir()
    (directory / "ratings.dat").write_text(
        (ml100k / "u.data").read_text().replace("\t", "::"))
    movies = []
    for line in (ml100k / "u.item").read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        genres = [g for g, flag in zip(movielens_files.ML100K_GENRES, fields[5:], strict=True)
                  if flag == "1"]
        movies.append(f"{fields[0]}::{fields[1]}::{'|'.join(genres)}")
    (directory / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    users = [f"{u}::F::25::1::00000" for u in range(1, movielens_files.USERS + 1)]
    (directory / "users.dat").write_text("\n".join(users) + "\n")
    return directory


def _as_ml_latest(ml1m: Path, directory: Path) -> Path:
    """The same ratings and movies as ml-latest CSV files (a header: lines shift by one)."""
    directory.mkdir()
    ratings = (ml1m / "ratings.dat").read_text().replace("::", ",")
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + ratings)
    movies = [",".join(f'"{field}"' for field in line.split("::"))
              for line in (ml1m / "movies.dat").read_text(encoding="latin-1").splitlines()]
    (directory / "movies.csv").write_text("movieId,title,genres\n" + "\n".join(movies) + "\n",
                                          encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    ml100k = _with_ties_and_a_blank_line(root / "ml-100k")
    ml1m = _as_ml1m(ml100k, root / "ml-1m")
    return {"ml-100k": ml100k, "ml-1m": ml1m, "ml-latest": _as_ml_latest(ml1m, root / "ml-lt")}


def _example_gen_pairs(data_dir: Path, protocol: str, out: Path,
                       ) -> dict[str, collections.Counter]:
    """(user, movie) pairs per split of the ExampleGen's Beam part run in-process."""
    properties = {standard_component_specs.INPUT_BASE_KEY: str(data_dir),
                  executor.PROTOCOL_KEY: protocol, executor.HISTORY_LENGTH_KEY: 20,
                  executor.SEED_KEY: splits.DEFAULT_SEED}
    with beam.Pipeline() as pipeline:
        outputs = executor.Executor().GenerateExamplesByBeam(pipeline, properties)
        for split, examples in outputs.items():
            _ = examples | f"Write{split}" >> beam.io.WriteToTFRecord(str(out / split))
    return {split: collections.Counter(
        _pair(record.numpy())
        for record in tf.data.TFRecordDataset(sorted(glob.glob(str(out / f"{split}*")))))
        for split in outputs}


def _pair(payload: bytes) -> tuple[int, int]:
    feature = tf.train.Example.FromString(payload).features.feature
    return (int(feature[F.USER_ID].bytes_list.value[0]),
            int(feature[F.MOVIE_ID].bytes_list.value[0]))


def _split_pairs(users: np.ndarray, items: np.ndarray, split: bdata.Split) -> collections.Counter:
    return collections.Counter(zip(split.users.ids[users].tolist(),
                                   split.items.ids[items].tolist(), strict=True))


@pytest.mark.parametrize("protocol", [splits.Protocol.TOPK, splits.Protocol.RATING])
@pytest.mark.parametrize("layout", ["ml-100k", "ml-1m", "ml-latest"])
def test_split_is_the_example_gens_in_every_layout(layouts, layout: str, protocol,
                                                  tmp_path: Path) -> None:
    split = bdata.load_split(layouts[layout], protocol)
    generated = _example_gen_pairs(layouts[layout], protocol.value, tmp_path)
    assert _split_pairs(split.test_users, split.test_items, split) == generated[splits.EVAL]
    assert _split_pairs(split.train_users, split.train_items, split) == (
        generated[splits.TRAIN] + generated[splits.VALIDATION])
    assert len(split.test_users) > 0 and generated[splits.VALIDATION]


def test_the_three_layouts_give_one_topk_split_and_a_shifted_rating_split(layouts) -> None:
    """The ratings are the same in every layout; ml-latest's header shifts the line numbers
    that RATING hashes, so only TOPK (time order) is the same everywhere."""
    topk = [bdata.load_split(directory) for directory in layouts.values()]
    rating = [bdata.load_split(directory, splits.Protocol.RATING)
              for directory in layouts.values()]
    for other in topk[1:]:
        assert _split_pairs(other.test_users, other.test_items, other) == _split_pairs(
            topk[0].test_users, topk[0].test_items, topk[0])
    assert _split_pairs(rating[0].test_users, rating[0].test_items, rating[0]) == _split_pairs(
        rating[1].test_users, rating[1].test_items, rating[1])
    assert _split_pairs(rating[2].test_users, rating[2].test_items, rating[2]) != _split_pairs(
        rating[0].test_users, rating[0].test_items, rating[0])


@pytest.mark.parametrize("layout", ["ml-100k", "ml-1m", "ml-latest"])
def test_the_peers_run_on_every_layout(layouts, layout: str, monkeypatch) -> None:
    # A small SASRec: this checks the data path, test_sasrec.py the model.
    monkeypatch.setattr(peers, "sequence_peers",
                        lambda length: [peers.SASRec(length, epochs=2, dim=8, blocks=1)])
    results = run_peers.run_all(layouts[layout])
    topk = {name for name, entry in results.items() if entry["protocol"] == "topk"}
    assert topk == {"most_popular", "item_knn", "ease", "als", "bpr", "sasrec"}
    for name in topk:
        assert "error" not in results[name], results[name]
        assert results[name]["split"]["n_test"] == movielens_files.USERS
        assert 0.0 <= results[name]["ndcg_at_10"] <= results[name]["hit_rate_at_10"] <= 1.0
    for name in ("baseline_only", "svd", "svdpp"):
        assert results[name]["protocol"] == "rating" and 0 < results[name]["rmse"] < 2
