"""The evaluation protocols, defined once.

The ExampleGen calls these functions per user, inside Beam; the benchmark reads its data
through the ExampleGen's readers and split assignment (`benchmarks/data.py`), so the
pipeline's models and the peers are measured on exactly the same split.

- TOPK: leave-last-out per user. The test (EVAL) event is the one with the latest timestamp;
  ties go to the event that comes later in the input file. Everything else is training data.
- RATING: a seeded random 80/20 split of the events. The choice for an event depends only on
  its position in the input file and the seed, so it needs no global shuffle and runs the same
  in any Beam worker.
- PRESPLIT: the given train and eval files.
- COLDSTART: new users and new movies. A seeded COLD_USER_FRACTION of the users is held out of
  training entirely; each gives up to four eval examples, its ratings number k for k in
  GIVEN_RATINGS, with the k ratings before as the history given at query time. The movies
  first rated last (COLD_MOVIE_FRACTION of the movies, by the time of their first rating) are
  held out too: every rating of one by a known user is an eval example. The other ratings are
  training data, their validation events taken as under TOPK.

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

TRAIN = "train"
VALIDATION = "validation"
EVAL = "eval"
SPLITS = (TRAIN, VALIDATION, EVAL)
# Not a protocol split: with spans, the ExampleGen also writes the latest span's events (each
# as it appears in one of SPLITS) here, so that statistics and drift are checked per span.
NEW_SPAN = "new_span"
RATING_TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.05  # of the training events, under RATING and PRESPLIT
COLD_USER_FRACTION = 0.1  # COLDSTART: users held out of training
COLD_MOVIE_FRACTION = 0.05  # COLDSTART: movies held out of training, the latest first rated
GIVEN_RATINGS = (0, 1, 3, 5)  # COLDSTART: a held-out user's ratings given at query time
DEFAULT_SEED = 42


class Protocol(enum.StrEnum):
    TOPK = "topk"
    RATING = "rating"
    PRESPLIT = "presplit"
    COLDSTART = "coldstart"


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
    into VALIDATION: under TOPK and COLDSTART the latest, if the user keeps another training
    event; else the seeded share of `is_validation_share`."""
    result = list(user_splits)
    training = [i for i, split in enumerate(result) if split == TRAIN]
    if protocol in (Protocol.TOPK, Protocol.COLDSTART):
        if len(training) >= 2:
            result[training[-1]] = VALIDATION
        return result
    for i in training:
        if is_validation_share(line_numbers[i], seed):
            result[i] = VALIDATION
    return result


def is_cold_user(user_id: str, seed: int = DEFAULT_SEED) -> bool:
    """Whether COLDSTART holds this user out of training (seeded, by id)."""
    return _uniform(f"{seed}:cold-user:{user_id}") < COLD_USER_FRACTION


def cold_movies(first_rated: dict[str, int]) -> frozenset[str]:
    """COLDSTART's held-out movies: of movie id -> timestamp of its first rating, the
    COLD_MOVIE_FRACTION first rated last (ties broken by id, so the set is deterministic)."""
    count = int(len(first_rated) * COLD_MOVIE_FRACTION)
    latest = sorted(first_rated, key=lambda movie: (first_rated[movie], movie), reverse=True)
    return frozenset(latest[:count])


def given_ratings(event_count: int) -> list[int]:
    """The GIVEN_RATINGS a held-out user with `event_count` ratings can be asked with (the
    k-th rating, 0-based, is then the one to predict)."""
    return [k for k in GIVEN_RATINGS if k < event_count]
