"""SASRec (Kang & McAuley, 2018) for the benchmark's sequence-aware peer, in tf-keras.

Written apart from the project's models (trainer/) on purpose: a peer that shared their code
would share their mistakes. Items are indices 1..I (0 pads); a sequence window is left-padded
to `history_length`, newest item last, and position p has its own learned embedding.

Training is SASRec's: each user's training sequence is cut, from its newest end, into
windows of history_length + 1 items; in a window every position predicts the next item, so
each training event but a user's first is a target exactly once, seeing up to history_length
items before it. The loss is the softmax cross-entropy over the whole catalogue (the logits
are the sequence states' dot products with the shared item embeddings), as the anchors ask,
not the paper's one sampled negative.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from contract import features as F

PAD = 0


@dataclasses.dataclass(frozen=True)
class SASRecConfig:
    """The paper's ML-1M settings (2 blocks, 1 head, dropout 0.2, Adam 1e-3, batch 128), 64
    dimensions. Epochs chosen on ML-100K's validation events (each user's latest training
    event; fit on the rest), HR@10 / NDCG@10 after 5: 0.197 / 0.103, 10: 0.219 / 0.113,
    20: 0.219 / 0.114, 40: 0.210 / 0.115, 60: 0.216 / 0.116 (standard error ~0.013): flat
    after 10, so 20."""

    history_length: int = F.DEFAULT_HISTORY_LENGTH
    dim: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 42


def training_windows(sequences: list[np.ndarray], history_length: int,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each int32 [W, history_length]: sequences of items 1..I cut from
    the newest end into windows of history_length + 1 items; targets[w, p] is the item after
    inputs[w, p]; both left-padded with PAD (targets PAD where nothing is predicted)."""
    inputs, targets = [], []
    for sequence in sequences:
        for end in range(len(sequence), 1, -history_length):
            window = sequence[max(0, end - history_length - 1):end]
            inputs.append(_left_padded(window[:-1], history_length))
            targets.append(_left_padded(window[1:], history_length))
    if not inputs:
        raise ValueError("SASRec needs a user with at least two training events")
    return np.stack(inputs), np.stack(targets)


def latest_windows(sequences: list[np.ndarray], history_length: int) -> np.ndarray:
    """int32 [U, history_length]: each sequence's newest history_length items, left-padded."""
    return np.stack([_left_padded(s[-history_length:], history_length) for s in sequences])


def _left_padded(items: np.ndarray, length: int) -> np.ndarray:
    row = np.full(length, PAD, dtype=np.int32)
    if len(items):
        row[length - len(items):] = items
    return row


class SASRecNetwork(keras.Model):
    """items [B, L] (PAD = 0) -> next-item logits [B, L, I + 1] at every position (column 0,
    the padding item, is never a target)."""

    def __init__(self, n_items: int, config: SASRecConfig) -> None:
        super().__init__(name="sasrec")
        self.config = config
        self.item_embedding = keras.layers.Embedding(n_items + 1, config.dim, name="items")
        self.position_embedding = keras.layers.Embedding(
            config.history_length, config.dim, name="positions")
        self.embedding_dropout = keras.layers.Dropout(config.dropout)
        self.blocks = [_Block(config, name=f"block_{i}") for i in range(config.blocks)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-8)

    def states(self, items: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """[B, L] -> [B, L, D]: position p summarises the items at positions <= p."""
        real = tf.cast(tf.not_equal(items, PAD), tf.float32)[..., None]  # [B, L, 1]
        positions = self.position_embedding(tf.range(tf.shape(items)[1]))[None]
        x = self.item_embedding(items) * self.config.dim ** 0.5 + positions
        x = self.embedding_dropout(x, training=training) * real
        # Keras' causal mask combined with the padding mask: query p reads real keys <= p.
        padding = tf.not_equal(items, PAD)[:, None, :]  # [B, 1, L]
        for block in self.blocks:
            x = block(x, padding, training=training) * real
        return self.final_norm(x)

    def call(self, items: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        states = self.states(items, training=training)
        return tf.matmul(states, self.item_embedding.embeddings, transpose_b=True)


class _Block(keras.layers.Layer):
    """SASRec's block: Q = norm(x); x = Q + attention(Q, x) (causal); x = norm(x);
    x = x + feed_forward(x)."""

    def __init__(self, config: SASRecConfig, name: str) -> None:
        super().__init__(name=name)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-8)
        self.attention = keras.layers.MultiHeadAttention(
            config.heads, config.dim // config.heads, dropout=config.dropout)
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-8)
        self.hidden = keras.layers.Dense(config.dim, activation="relu")
        self.output_layer = keras.layers.Dense(config.dim)
        self.dropout = keras.layers.Dropout(config.dropout)

    def call(self, x: tf.Tensor, padding: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        queries = self.attention_norm(x)
        x = queries + self.attention(queries, x, attention_mask=padding, use_causal_mask=True,
                                     training=training)
        x = self.feed_forward_norm(x)
        hidden = self.dropout(self.hidden(x), training=training)
        return x + self.dropout(self.output_layer(hidden), training=training)


def train(sequences: list[np.ndarray], n_items: int, config: SASRecConfig) -> SASRecNetwork:
    """A seeded SASRecNetwork fit on `sequences` (per user, item indices 0..I-1 in time
    order) with Adam on the masked softmax cross-entropy."""
    keras.utils.set_random_seed(config.seed)
    inputs, targets = training_windows([s + 1 for s in sequences], config.history_length)
    dataset = (tf.data.Dataset.from_tensor_slices((inputs, targets))
               .shuffle(len(inputs), seed=config.seed, reshuffle_each_iteration=True)
               .batch(config.batch_size))
    network = SASRecNetwork(n_items, config)
    optimizer = keras.optimizers.Adam(config.learning_rate, beta_2=0.98)

    @tf.function
    def step(batch_inputs: tf.Tensor, batch_targets: tf.Tensor) -> tf.Tensor:
        weights = tf.cast(tf.not_equal(batch_targets, PAD), tf.float32)
        with tf.GradientTape() as tape:
            logits = network(batch_inputs, training=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(batch_targets, logits)
            loss = tf.reduce_sum(losses * weights) / tf.reduce_sum(weights)
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    for _ in range(config.epochs):
        for batch_inputs, batch_targets in dataset:
            step(batch_inputs, batch_targets)
    return network


def next_item_scores(network: SASRecNetwork, sequences: list[np.ndarray],
                     batch_size: int = 512) -> np.ndarray:
    """float32 [U, I]: each user's scores for every item (indices 0..I-1) as the next one
    after their latest history_length items."""
    windows = latest_windows([s + 1 for s in sequences], network.config.history_length)
    rows = [network(windows[start:start + batch_size], training=False)[:, -1, 1:].numpy()
            for start in range(0, len(windows), batch_size)]
    return np.concatenate(rows)
