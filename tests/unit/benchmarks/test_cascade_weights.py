"""The cascade-weight sweep pairs every stage fit and applies each weight."""

from __future__ import annotations

import pytest
import tensorflow as tf

from benchmarks import cascade_weights
from contract import catalogue
from contract import features as F
from tests.fixtures.model_inputs import VOCAB, make_features
from trainer import data


def _batches(features: dict[str, tf.Tensor], batch_size: int) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(features).batch(batch_size)


def test_weight_zero_is_the_second_stage_alone_when_every_movie_is_a_candidate() -> None:
    """VOCAB's 11 movies are fewer than the 100 candidates, so at weight 0 each pair's cascade
    orders the whole catalogue by its second stage: its figures are that stage's alone."""
    train = make_features(24, seed=3)  # a few movies per user: most stay unseen
    validation = make_features(64, seed=4)
    # No history: the held-out movie is never among the movies a query gives as seen.
    validation[F.HISTORY_INDEX] = tf.zeros_like(validation[F.HISTORY_INDEX])
    validation[F.HISTORY_LENGTH_FEATURE] = tf.zeros_like(validation[F.HISTORY_LENGTH_FEATURE])
    tables = data.training_tables(_batches(train, 64), VOCAB)
    stages = cascade_weights.fit_stages(
        VOCAB, tables, lambda batch_size: _batches(train, batch_size), seeds=(1, 2))
    rows = cascade_weights.sweep(stages, VOCAB, tables, _batches(validation, 64),
                                 weights=(0, 5))
    first, second = catalogue.entry(cascade_weights.CASCADE).stages
    by_label = {row["label"]: row for row in rows}
    assert list(by_label) == ["weight 0", "weight 5", f"{first} alone", f"{second} alone"]
    assert len(by_label["weight 5"]["per_fit"]) == 4  # 2 first-stage x 2 second-stage seeds
    ndcg = {label: [fit["ndcg_at_10"] for fit in row["per_fit"]]
            for label, row in by_label.items()}
    assert len(set(ndcg[f"{second} alone"])) == 2  # the seeds differ, so the check can fail
    # Pairs run first seed outer, second seed inner: the second stage's seeds alternate.
    assert ndcg["weight 0"] == pytest.approx(ndcg[f"{second} alone"] * 2)
