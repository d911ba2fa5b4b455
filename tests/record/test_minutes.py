"""How long something lasted, as the report and the statement tell it: the minutes between its two
times as the body reads them (each to the minute), so never more precise than those times and
within a minute of how long it was, either way (09:30:59 to 09:32:01, 62 s, is "2 minutes", as
09:30 to 09:32 reads); under a minute is "less than a minute", even across a minute's turn."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.record.report.minutes import span
from tests.record.incident import at


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (at(9, 30), at(10, 35, 2), "1 hour 5 minutes"),  # 09:30 to 10:35, as the body reads
        (at(9, 30), at(9, 30, 40), "less than a minute"),
        (at(9, 29, 58), at(9, 30), "less than a minute"),  # two seconds are not "1 minute"
        (at(9, 29, 30), at(9, 30, 31), "1 minute"),
        (at(9, 30, 59), at(9, 32, 1), "2 minutes"),  # 09:30 to 09:32, as the body reads
    ],
)
def test_a_span_reads_as_the_minutes_it_runs_between(
    start: dt.datetime, end: dt.datetime, words: str
) -> None:
    assert span(start, end) == words
