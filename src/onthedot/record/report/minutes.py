"""Times in a report's body are read to the minute, as people write them: 10:35, "1 hour 5
minutes". The exact times stay in the annex (``narrative.Teller``, to the second)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from onthedot.calendar.timeutil import fmt_date, to_local
from onthedot.record.narrative import Teller, fmt_duration


@dataclass(frozen=True)
class Minutes(Teller):
    """Tells times to the minute: 10:35, or 08:00 on Thursday 19 December 2019."""

    def clock(self, instant: dt.datetime) -> str:
        local = to_local(instant, self.zone)
        day = to_local(self.release.release_at, self.zone).date()
        shown = f"{local:%H:%M}"
        return shown if local.date() == day else f"{shown} on {fmt_date(local.date())}"


def floor(instant: dt.datetime) -> dt.datetime:
    """``instant`` as its clock reads to the minute."""
    return instant.replace(second=0, microsecond=0)


def span(start: dt.datetime, end: dt.datetime) -> str:
    """How long from ``start`` to ``end``, as the two times read to the minute: 09:30:00 to
    10:35:02 is "1 hour 5 minutes"; anything shorter than a minute, even across a minute's turn
    (09:29:58 to 09:30:00), is "less than a minute", never "1 minute"."""
    seconds = (floor(end) - floor(start)).total_seconds()
    if seconds < 60 or (end - start).total_seconds() < 60:
        return "less than a minute"
    return fmt_duration(seconds)
