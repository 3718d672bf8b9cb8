"""The model catalogue: look-ups, name lists and the rules an entry must follow."""

import subprocess
import sys

import pytest

from contract import catalogue
from contract.catalogue import Group, Kind, ModelEntry
from contract.gates import TOP_K_GATE


def test_unknown_and_empty_names_say_what_to_choose_from():
    with pytest.raises(catalogue.UnknownModel, match="unknown model 'svd'; choose from "):
        catalogue.entry("svd")
    with pytest.raises(catalogue.UnknownModel, match="no model named"):
        catalogue.parse_names(" , ")
    assert catalogue.parse_names(" mf , hybrid ") == ("mf", "hybrid")


def test_names_by_kind_keep_catalogue_order():
    rating = catalogue.names(Kind.RATING)
    assert rating and all(catalogue.entry(n).kind == Kind.RATING for n in rating)
    assert catalogue.names() == catalogue.MODEL_NAMES
    assert list(rating) == [n for n in catalogue.MODEL_NAMES if n in rating]


def test_tflite_export_needs_a_history_only_query():
    with pytest.raises(ValueError, match="history-only query"):
        ModelEntry("x", Kind.RETRIEVAL, "", "m.C", "c.C", query=(Group.USER_ID, Group.HISTORY),
                   candidate=(Group.MOVIE_ID,), gate=TOP_K_GATE, tflite=True)


def test_gates_come_from_the_entries_and_can_be_fixed_to_a_floor():
    gates = catalogue.default_gates()
    assert set(gates) == set(catalogue.MODEL_NAMES)
    fixed = gates["retrieval"].with_min_hit_rate(0.2)
    assert (fixed.min_hit_rate, fixed.beat_popularity) == (0.2, False)


def test_the_contract_imports_no_tensorflow():
    code = ("import sys, contract.catalogue, contract.features, contract.keys, contract.splits, "
            "contract.topk_metrics, contract.schema; "
            "assert not {'tensorflow', 'tfx', 'apache_beam'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
