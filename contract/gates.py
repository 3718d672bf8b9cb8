"""The Evaluator's thresholds for one model (`Gate`); each catalogue entry holds its default.
And the infra check's serving latency budget, the same for every model."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Gate:
    """The Evaluator's thresholds for one model; a model failing any is not blessed or pushed.

    Hit-Rate@10 follows protocol TOPK. With `min_hit_rate` None and `beat_popularity` the model
    must do at least as well as the popularity baseline measured in the same run on the same
    eval examples.
    """

    min_hit_rate: float | None = None
    beat_popularity: bool = True
    max_hit_rate_drop: float = 0.02  # vs the latest blessed model of the same name
    max_mse: float | None = None  # rating models: MSE of the predicted rating
    max_mse_increase: float = 0.02  # vs the latest blessed model of the same name

    def with_min_hit_rate(self, value: float) -> Gate:
        """This gate with a fixed Hit-Rate@10 floor instead of beating popularity."""
        return dataclasses.replace(self, min_hit_rate=value, beat_popularity=False)


# Rating models are trained for RMSE, not for top-K: they are gated on their rating error
# (1.21 = RMSE 1.1, about what predicting every user's mean rating gets on MovieLens).
RATING_GATE = Gate(beat_popularity=False, max_mse=1.21)
TOP_K_GATE = Gate()

# The infra check (components/infra_check) refuses a model when the median latency of any of
# its warm-up requests, served as TF Serving serves them, exceeds this. On ML-100K the slowest
# is 5.3 ms (ranking's recommend, a batch of 3, 2 cores at load ~9): the budget leaves room for
# a loaded machine and refuses a model that does something badly wrong per request. Scoring
# grows with the catalogue: at ML-25M's 62K movies give --latency-budget-ms a budget of your own.
DEFAULT_LATENCY_BUDGET_MS = 100.0
