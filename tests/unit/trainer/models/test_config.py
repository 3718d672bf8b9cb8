"""Hyper-parameter configs: string overrides, validation, CLI flag parsing."""

from __future__ import annotations

import pytest

from contract import catalogue
from contract.catalogue import MODEL_NAMES
from trainer.config import (
    CascadeConfig,
    HybridConfig,
    RankingConfig,
    TrainingConfig,
    config_with_overrides,
    default_config,
    parse_hparam_flags,
    search_space,
)
from trainer.models.registry import build_model, learning_rate


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_catalogue_entry_names_a_config_class(name) -> None:
    # A cascade's stages train with their own configs: it has no optimiser of its own.
    expected = CascadeConfig if catalogue.entry(name).stages else TrainingConfig
    assert isinstance(default_config(name), expected)


def test_a_cascade_takes_only_its_own_fields() -> None:
    assert config_with_overrides("two_stage", {"candidates": "50"}).candidates == 50
    with pytest.raises(ValueError, match="learning_rate"):
        config_with_overrides("two_stage", {"learning_rate": "0.1"})
    with pytest.raises(ValueError, match="candidates"):
        config_with_overrides("two_stage", {"candidates": "5"})


def test_overrides_are_parsed_to_the_field_types() -> None:
    config = config_with_overrides(
        "ranking",
        {"embedding_dim": "24", "learning_rate": "1e-3", "use_side_features": "false",
         "hidden_units": "256, 32", "optimizer": "adagrad"},
    )
    assert isinstance(config, RankingConfig)
    assert config.embedding_dim == 24 and isinstance(config.embedding_dim, int)
    assert config.learning_rate == pytest.approx(1e-3)
    assert config.use_side_features is False
    assert config.hidden_units == (256, 32)
    assert config.optimizer == "adagrad"
    assert default_config("ranking").embedding_dim != 24  # defaults untouched


def test_fields_of_a_feature_group_apply_to_models_that_read_it() -> None:
    assert config_with_overrides("sequential", {"cnn_kernel_size": "5"}).cnn_kernel_size == 5
    assert config_with_overrides("hybrid", {"feature_dim": "4"}).feature_dim == 4
    with pytest.raises(ValueError, match="sequential.feature_dim configures demographics or "
                                         "content, which sequential does not read"):
        config_with_overrides("sequential", {"feature_dim": "4"})


def test_a_field_of_the_solver_not_used_is_refused_not_ignored() -> None:
    assert config_with_overrides("mf", {"sweeps": "50"}).sweeps == 50
    assert config_with_overrides("mf", {"solver": "adam", "epochs": "3"}).epochs == 3
    with pytest.raises(ValueError, match="^mf.epochs configures solver adam, and this model is "
                                         "fitted by solver gibbs$"):
        config_with_overrides("mf", {"epochs": "3"})
    with pytest.raises(ValueError, match="^mf.sweeps configures solver gibbs, and this model is "
                                         "fitted by solver adam$"):
        config_with_overrides("mf", {"solver": "adam", "sweeps": "50"})


def test_the_search_space_holds_the_fields_the_model_reads() -> None:
    assert set(search_space("mf")) == {"embedding_dim", "noise_precision", "sweeps"}
    assert set(search_space("mf", {"solver": "adam"})) == {"embedding_dim", "learning_rate", "l2"}
    assert "history_encoder" not in search_space("retrieval")
    assert "history_encoder" in search_space("hybrid")


def test_string_fields_and_empty_overrides() -> None:
    config = config_with_overrides("hybrid", {"history_encoder": "gru"})
    assert isinstance(config, HybridConfig) and config.history_encoder == "gru"
    assert config_with_overrides("mf", {}) == default_config("mf")


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("mf", {"embeding_dim": "8"}, "mf.embeding_dim"),
        ("mf", {"embedding_dim": "eight"}, "'eight'"),
        ("mf", {"embedding_dim": "3.5"}, "'3.5'"),
        ("retrieval", {"normalize_embeddings": "maybe"}, "'maybe'"),
        ("sequential", {"history_encoder": "lstm"}, "history_encoder"),
        ("retrieval", {"temperature": "0"}, "temperature"),
        ("mf", {"optimizer": "sgd"}, "optimizer"),
        ("ranking", {"lr_schedule": "step"}, "lr_schedule"),
        ("ranking", {"rating_heads": "0"}, "rating_heads must be > 0"),
        ("nope", {}, "'nope'"),
        ("retrieval", {"history_encoder": "gru"}, "retrieval does not read"),
        ("mf", {"feature_dim": "8"}, "mf.feature_dim"),
    ],
)
def test_bad_overrides_raise_a_clear_error(name, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        config_with_overrides(name, overrides)


def test_parse_hparam_flags_groups_by_model() -> None:
    parsed = parse_hparam_flags(["mf.embedding_dim=64", "mf.l2 = 0.1",
                                 "hybrid.normalize_embeddings=no"])
    assert parsed == {"mf": {"embedding_dim": "64", "l2": "0.1"},
                      "hybrid": {"normalize_embeddings": "no"}}
    assert config_with_overrides("hybrid", parsed["hybrid"]).normalize_embeddings is False


@pytest.mark.parametrize("flag", ["embedding_dim=64", "mf.embedding_dim", ".x=1", "mf.=1"])
def test_parse_hparam_flags_rejects_malformed(flag: str) -> None:
    with pytest.raises(ValueError, match="MODEL.KEY=VALUE"):
        parse_hparam_flags([flag])


def test_build_model_checks_name_and_config_type(vocab) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("svd", vocab)
    with pytest.raises(ValueError, match="RetrievalConfig"):
        build_model("retrieval", vocab, default_config("mf"))


def test_cosine_schedule_decays_to_zero_over_the_whole_run() -> None:
    config = config_with_overrides(
        "ranking", {"lr_schedule": "cosine", "learning_rate": "0.01", "epochs": "3",
                    "batch_size": "100"})
    schedule = learning_rate(config, train_examples=1001)  # 11 steps per epoch
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(33 // 2)) == pytest.approx(0.005, rel=0.05)
    assert float(schedule(33)) == pytest.approx(0.0, abs=1e-9)


def test_cosine_schedule_needs_the_example_count() -> None:
    config = config_with_overrides("ranking", {"lr_schedule": "cosine"})
    with pytest.raises(ValueError, match="number of training examples"):
        learning_rate(config)
    constant = config_with_overrides("ranking", {"lr_schedule": "constant"})
    assert learning_rate(constant) == constant.learning_rate
