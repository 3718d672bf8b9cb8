"""The serving signatures of retrieval models trained with the sampled softmax (the export
reads only the towers, so the training mode must not matter to it)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.unit.trainer import test_export
from trainer.models.two_tower import SAMPLED

transformed = test_export.transformed  # the tiny real Transform output, as a fixture here too


@pytest.mark.parametrize("name", ["retrieval", "hybrid", "sequential"])
def test_sampled_models_export_working_signatures(name, transformed, tmp_path) -> None:
    model, _, loaded = test_export._export(name, transformed, str(tmp_path), softmax="sampled")
    assert model.softmax == SAMPLED
    signatures = loaded.signatures
    excluded = ["m0", "m1"]
    out = signatures["recommend"](
        user_id=tf.constant(["u1", "nobody"]),
        history=tf.constant(["", "m2 m3"]),
        exclude_movie_ids=tf.constant([" ".join(excluded), ""]))
    assert out["movie_ids"].shape == (2, test_export.TOP_K)
    assert np.isfinite(out["scores"].numpy()).all()
    assert not set(excluded) & {m.decode() for m in out["movie_ids"][0].numpy()}
    default = signatures["serving_default"](
        user_id=tf.constant(["u1"]), history=tf.constant([""]),
        exclude_movie_ids=tf.constant([" ".join(excluded)]))
    np.testing.assert_array_equal(default["movie_ids"], out["movie_ids"][:1])
    similar = signatures["similar_items"](movie_id=tf.constant(["m4"]))
    assert similar["movie_ids"].shape == (1, test_export.TOP_K)
