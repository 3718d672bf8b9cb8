"""The data rules the ExampleGen enforces beyond each layout's syntax, importable without
TensorFlow (the command line checks its flags against them). docs/operating.md lists every rule
with its message.

- Timestamps must fit in a signed 64-bit integer (the tf.Example's int64) and lie in a plausible
  window: by default from 1995-01-01 UTC (the first MovieLens ratings, in ML-20M/ML-25M and
  ml-latest, are from 1995-01-09; ML-100K's from 1997, ML-1M's from 2000) to one day after the
  run (clocks differ; a rating from the future is a broken clock or a unit mix-up).
- A user who rated the same movie twice: by default the latest rating is kept (ties: the later
  line) and the others are counted; `DuplicatePolicy.ERROR` stops the run instead. Either way
  no movie is both a user's held-out item and one of their training positives.
"""

from __future__ import annotations

import datetime
import enum
from typing import NamedTuple

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EARLIEST_TIMESTAMP = 788918400  # 1995-01-01T00:00:00Z
LATEST_SLACK_SECONDS = 24 * 3600  # the default window ends this long after the run started


class DuplicatePolicy(enum.StrEnum):
    KEEP_LATEST = "keep-latest"
    ERROR = "error"


class TimestampWindow(NamedTuple):
    """Accepted rating times, seconds since the epoch, both ends included."""

    earliest: int
    latest: int


def timestamp_problem(timestamp: int, accepted: TimestampWindow | None) -> str | None:
    """Why `timestamp` is not accepted (None: any that fits in 64 bits and is not negative),
    or None."""
    if not INT64_MIN <= timestamp <= INT64_MAX:
        return f"timestamp {timestamp} does not fit in 64 bits"
    if accepted is None:
        return f"timestamp {timestamp} is negative" if timestamp < 0 else None
    if accepted.earliest <= timestamp <= accepted.latest:
        return None
    return (f"timestamp {timestamp} is outside {utc_date(accepted.earliest)}.."
            f"{utc_date(accepted.latest)} (see --min-rating-date, --max-rating-date)")


def window(earliest: int | None, latest: int | None, run_started: float) -> TimestampWindow:
    """The window a run applies: `earliest`/`latest` as given, else the defaults (the latest
    one day after `run_started`, seconds since the epoch)."""
    return TimestampWindow(
        EARLIEST_TIMESTAMP if earliest is None else earliest,
        int(run_started) + LATEST_SLACK_SECONDS if latest is None else latest)


def utc_date(timestamp: int) -> str:
    """YYYY-MM-DD of a timestamp (UTC), or the timestamp itself beyond datetime's years."""
    try:
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return str(timestamp)


def parse_utc_date(text: str) -> int:
    """'YYYY-MM-DD' -> seconds since the epoch at that day's start (UTC); ValueError else."""
    day = datetime.date.fromisoformat(text.strip())
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())
