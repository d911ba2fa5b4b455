"""A release's countdown in words: "in 39 days", "in 4 minutes 10 seconds", "due now",
"released 11 minutes 5 seconds ago". ``static/onthedot.js`` says the same, to the second."""

from __future__ import annotations

import datetime as dt
import math

DUE_NOW_S = 60
"""For this long from T the countdown says "due now"."""


def _unit(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def span(seconds: int) -> str:
    """A positive number of seconds in the two largest units that matter."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days >= 2:
        return _unit(days, "day")
    if days:
        return f"{_unit(days, 'day')} {_unit(hours, 'hour')}"
    if hours:
        return f"{_unit(hours, 'hour')} {_unit(minutes, 'minute')}"
    if minutes:
        return f"{_unit(minutes, 'minute')} {_unit(secs, 'second')}"
    return _unit(secs, "second")


def countdown(now: dt.datetime, at: dt.datetime) -> str:
    """How long until ``at`` (or since), as people say it."""
    left = (at - now).total_seconds()
    if left > 0:
        return f"in {span(math.ceil(left))}"
    if -left < DUE_NOW_S:
        return "due now"
    return f"released {span(math.floor(-left))} ago"
