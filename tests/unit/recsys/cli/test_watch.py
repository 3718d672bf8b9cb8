"""`recsys watch`: which spans it runs next, and its one-line argument errors."""

from __future__ import annotations

import pytest

from recsys import cli
from recsys.cli.watch import Pending


def test_the_first_run_takes_the_latest_span_then_every_later_span_in_order():
    pending = Pending()
    assert pending.next_spans({}, set()) == []
    assert pending.next_spans({1: 1.0, 2: 1.0, 3: 1.0}, set()) == [3]
    assert pending.next_spans({1: 1.0, 2: 1.0, 3: 1.0}, {3}) == []
    assert pending.next_spans({1: 1.0, 3: 1.0, 4: 1.0, 6: 1.0}, {3}) == [4, 6]


def test_a_failed_span_waits_until_it_is_delivered_again_or_accepted():
    pending = Pending(failed={4: 10.0})
    complete = {3: 1.0, 4: 10.0, 5: 12.0}
    assert pending.next_spans(complete, {3}) == []  # as it failed: no retry, no later span
    assert pending.next_spans({**complete, 4: 20.0}, {3}) == [4, 5]  # marker rewritten
    assert 4 not in pending.failed
    pending.failed[4] = 20.0
    assert pending.next_spans({**complete, 4: 20.0}, {3, 4}) == [5]  # accepted by hand


@pytest.mark.parametrize("args, message", [
    (["--span", "3"], "--span: recsys watch picks the spans itself"),
    (["--poll-seconds", "0"], "--poll-seconds must be more than 0"),
    (["--max-runs", "0"], "--max-runs must be at least 1"),
    (["--window", "-1"], "--window must be 0 (every span) or more"),
])
def test_bad_options_are_one_line(tmp_path, capsys, args, message):
    status = cli.main(["watch", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path),
                       *args])
    error = capsys.readouterr().err.strip()
    assert status == 2 and error.startswith("recsys: error: ") and message in error
