"""Query parameters of the pages and the API, read by hand so a malformed one is answered 400 with
one sentence naming it and saying what to write (``QueryError``), the same on a page and in JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from onthedot.errors import QueryError

MAX_TEXT = 200
YEARS = range(1900, 2201)


def text(value: str | None, name: str) -> str | None:
    """A short free text (a producer's name, a cause), or None when not given."""
    if value is None or value == "":
        return None
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise QueryError(
            f"The query parameter {name} is too long or holds control characters: give at most "
            f"{MAX_TEXT} characters of plain text."
        )
    return value


def day(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"The query parameter {name}={value[:40]!r} is not a date: write YYYY-MM-DD, e.g. "
            f"?{name}=2026-01-31."
        ) from None


def year(value: str | None, name: str = "year") -> int | None:
    if not value:
        return None
    if not value.isdigit() or int(value) not in YEARS:
        raise QueryError(
            f"The query parameter {name}={value[:40]!r} is not a year: write four digits, e.g. "
            f"?{name}=2026."
        )
    return int(value)


def choice(value: str | None, name: str, allowed: Iterable[str]) -> str | None:
    if not value:
        return None
    options = sorted(set(allowed))
    if value not in options:
        listed = ", ".join(options) if options else "none yet"
        raise QueryError(
            f"The query parameter {name}={value[:40]!r} is not one of the choices: use one of "
            f"{listed}."
        )
    return value


def whole(value: str | None, name: str) -> int | None:
    """A whole number of at most 18 digits (an id), or None when not given."""
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise QueryError(
            f"The query parameter {name}={value[:40]!r} is not a whole number: write digits "
            f"only, e.g. ?{name}=120."
        )
    return int(value)
