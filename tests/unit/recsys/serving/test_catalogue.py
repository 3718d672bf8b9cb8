"""Title matching and the catalogue read from raw files (no models needed)."""

import pytest

from recsys.serving import catalogue
from tests.fixtures.movielens_files import write_ml1m, write_ml100k, write_ml100k_spans


@pytest.mark.parametrize(("a", "b"), [
    ("Usual Suspects, The (1995)", "the usual suspects"),
    ("The Usual Suspects", "USUAL SUSPECTS, THE"),
    ("Misérables, Les (1995)", "les miserables"),
    ("An American in Paris", "American in Paris, An (1951)"),
    ("Café N°12", "cafe n 12"),
])
def test_equivalent_titles_normalize_alike(a, b):
    assert catalogue.normalize_title(a) == catalogue.normalize_title(b)


def test_different_titles_stay_different():
    assert catalogue.normalize_title("Alien") != catalogue.normalize_title("Aliens")
    assert catalogue.normalize_title("A") == "a"  # a title that is only an article survives


def test_find_title_and_search(tmp_path):
    data = catalogue.load(str(write_ml1m(tmp_path / "ml1m")))
    assert data.find_title("les miserables (1995)").movie_id == "2"
    assert data.find_title("toy") .movie_id == "1"  # prefix fallback
    assert data.find_title("zzz") is None
    assert [m.movie_id for m in data.search("MIS")] == ["2"]
    assert data.movies["2"].title == "Misérables, Les"


def test_history_is_time_ordered(tmp_path):
    data = catalogue.load(str(write_ml100k(tmp_path / "d", users=3, movies=10,
                                           ratings_per_user=4)))
    for user_id, rated in data.ratings.items():
        assert [r.timestamp for r in rated] == sorted(r.timestamp for r in rated)
        assert data.history(user_id, 2) == [r.movie_id for r in rated][-2:]
    assert data.users["1"]["occupation"] == "engineer"


def test_a_directory_of_spans_reads_every_complete_span_in_time_order(tmp_path):
    flat = catalogue.load(str(write_ml100k(tmp_path / "flat", users=5, ratings_per_user=6)))
    spans_dir = write_ml100k_spans(tmp_path / "spans", spans=3, users=5, ratings_per_user=6)
    (spans_dir / "span-3" / "_SUCCESS").unlink()  # still being copied: not read
    spans = catalogue.load(str(spans_dir))
    assert set(spans.users) == set(flat.users) and spans.movies.keys() == flat.movies.keys()
    for user in flat.users:
        assert spans.history(user) == flat.history(user)[:4]  # spans 1 and 2: 2 ratings each
