"""The evaluation protocols (see README "Evaluation protocols"), defined once.

ExampleGen (per user, inside Beam) and the benchmark peers (on numpy arrays) both call these
functions, so the pipeline's models and the peers are measured on exactly the same split.

- TOPK: leave-last-out per user. The test event is the one with the latest timestamp; ties go
  to the event that comes later in the input file. Everything else is training data.
- RATING: a seeded random 80/20 split of the events. The choice for an event depends only on
  its position in the input file and the seed, so it needs no global shuffle and runs the same
  in a Beam worker as in numpy.
"""

from __future__ import annotations

import enum
import hashlib

import numpy as np

TRAIN = "train"
EVAL = "eval"
RATING_TEST_FRACTION = 0.2
DEFAULT_SEED = 42


class Protocol(enum.StrEnum):
    TOPK = "topk"
    RATING = "rating"
    PRESPLIT = "presplit"


def event_order_key(timestamp: int, line_number: int) -> tuple[int, int]:
    """Sort key putting a user's events in time order, file order breaking ties."""
    return (timestamp, line_number)


def rating_split_is_test(line_number: int, seed: int = DEFAULT_SEED) -> bool:
    """Whether the event on `line_number` is in the RATING protocol's 20 % test part."""
    digest = hashlib.blake2b(f"{seed}:{line_number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64 < RATING_TEST_FRACTION


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
