"""A Gate cannot be configured to bless a degenerate model."""

import math
import re

import pytest

from contract.gates import RATING_GATE, TOP_K_GATE, Gate


@pytest.mark.parametrize("fields, message", [
    ({"min_lift": 0.0}, "min_lift must be above 0, got 0.0: a tie is not a win"),
    ({"min_lift": math.nan}, "min_lift must be above 0, got nan"),
    ({"min_eval_examples": 0}, "min_eval_examples must be at least 1, got 0"),
    ({"min_hit_rate": 0.0}, "min_hit_rate must be in (0, 1], got 0.0"),
    ({"min_mse_reduction": 0.0}, "min_mse_reduction must be above 0, got 0.0"),
])
def test_a_gate_that_would_bless_a_tie_is_refused(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Gate(**fields)


def test_the_defaults_demand_a_margin_over_a_trivial_model():
    assert TOP_K_GATE.beat_popularity and TOP_K_GATE.min_lift > 0
    assert RATING_GATE.min_mse_reduction and RATING_GATE.min_mse_reduction > 0
    assert TOP_K_GATE.min_eval_examples == RATING_GATE.min_eval_examples == 30
    assert TOP_K_GATE.with_min_eval_examples(5).min_eval_examples == 5
