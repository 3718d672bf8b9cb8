"""The two-tower model's towers read exactly the feature groups of its catalogue entry."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import features as F
from contract.catalogue import Group, Kind, entry, names

# A feature of each group, and a change to it that a tower reading the group must see.
CHANGES = {
    Group.USER_ID: (F.USER_INDEX, lambda v: (v + 1) % 7),
    Group.DEMOGRAPHICS: (F.OCCUPATION_INDEX, lambda v: (v + 1) % 4),
    Group.HISTORY: (F.HISTORY_INDEX, lambda v: tf.concat([v[:, :-1], v[:, -1:] % 11 + 1], 1)),
    Group.MOVIE_ID: (F.MOVIE_INDEX, lambda v: (v + 1) % 11),
    Group.CONTENT: (F.GENRES_MULTI_HOT, lambda v: 1.0 - v),
}
TWO_TOWER = tuple(n for n in names(Kind.RETRIEVAL) if not entry(n).stages)  # not cascades


def _changed(features, group):
    name, change = CHANGES[group]
    return {**features, name: change(features[name])}


@pytest.mark.parametrize("name", TWO_TOWER)
def test_the_query_tower_reads_only_the_entry_query_groups(make_model, features, name):
    model = make_model(name)
    before = model.query_embeddings(features).numpy()
    for group in (Group.USER_ID, Group.DEMOGRAPHICS, Group.HISTORY):
        after = model.query_embeddings(_changed(features, group)).numpy()
        assert (not np.allclose(before, after)) == (group in entry(name).query), group


@pytest.mark.parametrize("name", TWO_TOWER)
def test_the_candidate_tower_reads_only_the_entry_candidate_groups(make_model, catalogue, name):
    model = make_model(name)
    before = model.candidate_embeddings(catalogue).numpy()
    for group in (Group.MOVIE_ID, Group.CONTENT):
        after = model.candidate_embeddings(_changed(catalogue, group)).numpy()
        assert (not np.allclose(before, after)) == (group in entry(name).candidate), group
