"""The evaluation protocols, defined once.

ExampleGen (per user, inside Beam) and the benchmark peers (on numpy arrays) both call these
functions, so the pipeline's models and the peers are measured on exactly the same split.

- TOPK: leave-last-out per user. The test (EVAL) event is the one with the latest timestamp;
  ties go to the event that comes later in the input file. Everything else is training data.
- RATING: a seeded random 80/20 split of the events. The choice for an event depends only on
  its position in the input file and the seed, so it needs no global shuffle and runs the same
  in a Beam worker as in numpy.
- PRESPLIT: the given train and eval files.

Training data is then split once more, the same way, into TRAIN and VALIDATION (`with_validation`):
under TOPK each user's latest training event, under RATING and PRESPLIT a seeded
VALIDATION_FRACTION of the training events. Models fit TRAIN; VALIDATION gives their
per-epoch validation curves, early stopping and tuning, and counts as seen (training) data
everywhere else: in the history of later events, in the movies removed from a user's top-K,
in the vocabularies. The benchmark peers, which select nothing, fit both.
"""

from __future__ import annotations

import enum
import hashlib

import numpy as np

TRAIN = "train"
VALIDATION = "validation"
EVAL = "eval"
SPLITS = (TRAIN, VALIDATION, EVAL)
# Not a protocol split: with spans, the ExampleGen also writes the latest span's events (each
# as it appears in one of SPLITS) here, so that statistics and drift are checked per span.
NEW_SPAN = "new_span"
RATING_TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.05  # of the training events, under RATING and PRESPLIT
DEFAULT_SEED = 42


class Protocol(enum.StrEnum):
    TOPK = "topk"
    RATING = "rating"
    PRESPLIT = "presplit"


def event_order_key(timestamp: int, line_number: int) -> tuple[int, int]:
    """Sort key putting a user's events in time order, file order breaking ties."""
    return (timestamp, line_number)


def _uniform(key: str) -> float:
    """A number in [0, 1) that depends only on `key`."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def rating_split_is_test(line_number: int, seed: int = DEFAULT_SEED) -> bool:
    """Whether the event on `line_number` is in the RATING protocol's 20 % test part."""
    return _uniform(f"{seed}:{line_number}") < RATING_TEST_FRACTION


def is_validation_share(line_number: int, seed: int = DEFAULT_SEED) -> bool:
    """Whether a training event on `line_number` is in the seeded VALIDATION_FRACTION
    (independent of `rating_split_is_test`: another key)."""
    return _uniform(f"{seed}:validation:{line_number}") < VALIDATION_FRACTION


def with_validation(protocol: Protocol, user_splits: list[str], line_numbers: list[int],
                    seed: int = DEFAULT_SEED) -> list[str]:
    """One user's splits (TRAIN or EVAL, events in time order) with some TRAIN events turned
    into VALIDATION: under TOPK the latest, if the user keeps another training event; else
    the seeded share of `is_validation_share`."""
    result = list(user_splits)
    training = [i for i, split in enumerate(result) if split == TRAIN]
    if protocol == Protocol.TOPK:
        if len(training) >= 2:
            result[training[-1]] = VALIDATION
        return result
    for i in training:
        if is_validation_share(line_numbers[i], seed):
            result[i] = VALIDATION
    return result


def rating_split_mask(line_numbers: np.ndarray, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Vectorised `rating_split_is_test`: True where the event is a test event."""
    return np.fromiter(
        (rating_split_is_test(int(n), seed) for n in line_numbers), dtype=bool,
        count=len(line_numbers),
    )


def leave_last_out_mask(
    users: np.ndarray, timestamps: np.ndarray, line_numbers: np.ndarray
) -> np.ndarray:
    """True for each user's last event (protocol TOPK's test event), False elsewhere."""
    order = np.lexsort((line_numbers, timestamps, users))
    sorted_users = users[order]
    is_last = np.ones(len(order), dtype=bool)
    is_last[:-1] = sorted_users[:-1] != sorted_users[1:]
    mask = np.zeros(len(order), dtype=bool)
    mask[order[is_last]] = True
    return mask
