"""The Evaluator's thresholds for one model (`Gate`); each catalogue entry holds its default.
And the infra check's serving latency budget, the same for every model."""

from __future__ import annotations

import dataclasses
import math

# Fewer evaluated examples than this (protocol TOPK: one per user) never bless: the figures of
# a handful of users cannot tell a model from the popularity baseline.
DEFAULT_MIN_EVAL_EXAMPLES = 30


@dataclasses.dataclass(frozen=True)
class Gate:
    """The Evaluator's thresholds for one model; a model failing any is not blessed or pushed.

    Every gate needs at least `min_eval_examples` evaluated examples: fewer (none included) never
    bless, and neither does a NaN metric (TFMA fails a NaN against any bound). Hit-Rate@10
    follows protocol TOPK. With `min_hit_rate` None and `beat_popularity` the model must beat
    the popularity baseline measured in the same run on the same eval examples by at least
    `min_lift` (> 0: a tie, e.g. both at 0 on a tiny dataset, is not a win). Rating models must
    predict better than the best constant rating (the eval ratings' mean) by at least
    `min_mse_reduction` (MSE units), so a model that predicts one rating for everything never
    passes.
    """

    min_hit_rate: float | None = None
    beat_popularity: bool = True
    min_lift: float = 0.01  # Hit-Rate@10 above popularity's, in absolute terms
    min_eval_examples: int = DEFAULT_MIN_EVAL_EXAMPLES
    max_hit_rate_drop: float = 0.02  # vs the latest blessed model of the same name
    max_mse: float | None = None  # rating models: MSE of the predicted rating
    min_mse_reduction: float | None = None  # rating models: below the best constant's MSE
    max_mse_increase: float = 0.02  # vs the latest blessed model of the same name

    def __post_init__(self) -> None:
        _require(self.min_hit_rate is None or 0.0 < self.min_hit_rate <= 1.0,
                 f"min_hit_rate must be in (0, 1], got {self.min_hit_rate}: a floor of 0 "
                 "blesses a model that never hits")
        _require(self.min_lift > 0.0 and math.isfinite(self.min_lift),
                 f"min_lift must be above 0, got {self.min_lift}: a tie is not a win")
        _require(isinstance(self.min_eval_examples, int) and self.min_eval_examples >= 1,
                 f"min_eval_examples must be at least 1, got {self.min_eval_examples}")
        _require(self.min_mse_reduction is None or self.min_mse_reduction > 0.0,
                 f"min_mse_reduction must be above 0, got {self.min_mse_reduction}")

    def with_min_hit_rate(self, value: float) -> Gate:
        """This gate with a fixed Hit-Rate@10 floor instead of beating popularity."""
        return dataclasses.replace(self, min_hit_rate=value, beat_popularity=False)

    def with_min_eval_examples(self, count: int) -> Gate:
        return dataclasses.replace(self, min_eval_examples=count)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# Rating models are trained for RMSE, not for top-K: they are gated on their rating error
# (1.21 = RMSE 1.1, about what predicting every user's mean rating gets on MovieLens) and must
# beat a constant prediction.
RATING_GATE = Gate(beat_popularity=False, max_mse=1.21, min_mse_reduction=0.01)
TOP_K_GATE = Gate()

# The infra check (components/infra_check) refuses a model when the median latency of any of
# its warm-up requests, served as TF Serving serves them, exceeds this. On ML-100K the slowest
# is 5.3 ms (ranking's recommend, a batch of 3, 2 cores at load ~9): the budget leaves room for
# a loaded machine and refuses a model that does something badly wrong per request. Scoring
# grows with the catalogue: at ML-25M's 62K movies give --latency-budget-ms a budget of your own.
DEFAULT_LATENCY_BUDGET_MS = 100.0
