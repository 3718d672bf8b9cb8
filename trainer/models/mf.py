"""Biased matrix factorisation, trained on explicit ratings."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from contract import features as F
from contract.catalogue import ModelEntry
from trainer.config import MFConfig
from trainer.models import gibbs
from trainer.models.base import RatingModel
from trainer.models.towers import BiasedFactors, Features, VocabSizes


class BiasedMatrixFactorization(RatingModel):
    """rating = global bias + user bias + movie bias + <user vector, movie vector>.

    Inputs: user_index [B], movie_index [B] (rating [B] for the loss); the parameters and
    their L2 live in `towers.BiasedFactors`. The top-K query [B, D + 2] and candidate
    [M, D + 2] vectors dot to the predicted rating less the global bias, so they rank movies
    exactly as the rating does.

    Fitted by `config.solver`: "adam" trains the parameters by gradient descent (Keras' fit);
    "gibbs" samples the posterior of Bayesian MF (trainer.models.gibbs) and stores the S kept
    samples side by side, each side scaled by 1/sqrt(S), so that one dot product is their
    average: D = embedding_dim x S, biases 0 (the samples' vectors carry them), global bias
    the training mean.
    """

    def __init__(
        self, entry: ModelEntry, vocab: VocabSizes, config: MFConfig, *_tables: object
    ) -> None:
        """`_tables` (the catalogue and movie counts two-tower models take) are not needed."""
        super().__init__(entry)
        self._config, self._vocab = config, vocab
        # A Gibbs posterior has its priors; an L2 penalty would only distort its reported loss.
        gradient = config.fitted_by_gradient
        self.factors = BiasedFactors(vocab, config.vector_width, config.l2 * gradient,
                                     config.bias_l2 * gradient, config.rating_mean)

    def fit(self, x: tf.data.Dataset, epochs: int = 1, verbose: int = 2,
            validation_data: tf.data.Dataset | None = None, **kwargs
            ) -> tf.keras.callbacks.History:
        """Keras' fit under "adam". Under "gibbs": the posterior sampled from every event of
        `x` (batches with user_index, movie_index, rating); a sweep is an epoch to the
        `callbacks` (TensorBoard's curves) and in the returned curves (`loss`, `rmse`, their
        `val_` twins with `validation_data`); `epochs` does not apply. The sampler is not
        distributed: under a multi-worker strategy each worker reads every event (a plain
        iteration ignores the DATA sharding) and draws the same seeded chain."""
        if self._config.fitted_by_gradient:
            return super().fit(x, epochs=epochs, verbose=verbose,
                               validation_data=validation_data, **kwargs)
        callbacks = tf.keras.callbacks.CallbackList(kwargs.get("callbacks"), model=self)
        callbacks.on_train_begin()
        validation = None if validation_data is None else _ratings(validation_data)
        # Seeded from NumPy's global state, which the Trainer seeds (TRAINING_SEED).
        rng = np.random.default_rng(np.random.randint(2**31 - 1))
        posterior = gibbs.sample_posterior(
            _ratings(x), self._vocab.users + 1, self._vocab.movies + 1,
            self._config.embedding_dim, self._config.noise_precision,
            self._config.kept_sweeps, rng,
            validation if validation is not None and len(validation.ratings) else None,
            on_sweep=callbacks.on_epoch_end)
        self._store(posterior)
        callbacks.on_train_end()
        history = tf.keras.callbacks.History()
        history.history = posterior.curves
        return history

    def _store(self, posterior: gibbs.Posterior) -> None:
        def side_by_side(samples: np.ndarray) -> np.ndarray:  # [S, R, D] -> [R, S x D]
            scaled = samples / np.sqrt(len(samples))
            return np.concatenate(list(scaled), axis=1)

        factors = self.factors
        for layer, values in (
                (factors.user_vectors, side_by_side(posterior.user_vectors)),
                (factors.movie_vectors, side_by_side(posterior.movie_vectors)),
                (factors.user_bias, np.zeros((self._vocab.users + 1, 1))),
                (factors.movie_bias, np.zeros((self._vocab.movies + 1, 1)))):
            if not layer.built:
                layer.build((None,))
            layer.set_weights([values.astype(np.float32)])
        factors.global_bias.assign(posterior.mean)

    def estimate_rating(self, features: Features, training: bool | None = None) -> tf.Tensor:
        return self.factors(features)

    def query_embeddings(self, features: Features, training: bool | None = None) -> tf.Tensor:
        """user_index [B] -> [B, D + 2]: the user vector, a 1 for the movie bias, the user bias."""
        return self.factors.query(features)

    def candidate_embeddings(
        self, catalogue: Features, training: bool | None = None
    ) -> tf.Tensor:
        """movie_index [M] -> [M, D + 2]: the movie vector, the movie bias, a 1."""
        return self.factors.candidate(catalogue)

    def item_embeddings(self, catalogue: Features) -> tf.Tensor:
        """movie_index [M] -> [M, D] movie vectors (without the bias: similarity, not appeal)."""
        return self.factors.movie_vectors(catalogue[F.MOVIE_INDEX])


def _ratings(batches: tf.data.Dataset) -> gibbs.Ratings:
    """Every event of `batches` as arrays."""
    columns: dict[str, list[np.ndarray]] = {F.USER_INDEX: [], F.MOVIE_INDEX: [], F.RATING: []}
    for batch in batches:
        for key, values in columns.items():
            values.append(np.reshape(batch[key].numpy(), [-1]))
    users, movies, ratings = (np.concatenate(values) if values else np.zeros(0)
                              for values in columns.values())
    return gibbs.Ratings(users.astype(np.int64), movies.astype(np.int64),
                         ratings.astype(np.float64))
