"""The Trainer's error types, importable without TensorFlow (the command line reports them)."""

from __future__ import annotations


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite: the model is not exported. The message names
    the model and the hyper-parameter to lower."""

    def __init__(self, model: str, loss: float, epoch: int, step: int,
                 learning_rate: float) -> None:
        super().__init__(
            f"{model}: training diverged: the loss became {loss} at epoch {epoch}, step {step}; "
            f"nothing was exported. Lower {model}.learning_rate (now {learning_rate:g}), e.g. "
            f"--hparam {model}.learning_rate={learning_rate / 10:g}")
        self.model = model
