"""Shared helpers: a release that passes every calendar rule, changed only where a test says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from onthedot.calendar.timeutil import local_to_utc
from onthedot.model import PreReleaseAccess, Release

MakeRelease = Callable[..., Release]


def london(*args: int) -> dt.datetime:
    """The UTC instant of a Europe/London wall-clock time."""
    return local_to_utc(dt.datetime(*args))  # type: ignore[arg-type]


def recipient(name: str, granted_at: dt.datetime | None = None) -> PreReleaseAccess:
    """A person on the pre-release access list with the role and justification it asks for."""
    return PreReleaseAccess(
        name=name, role="Press officer", justification="Briefs the minister", granted_at=granted_at
    )


def build_release(local: dt.datetime, **changes: Any) -> Release:
    at = local_to_utc(local)
    fields: dict[str, Any] = {
        "id": "fatal-injuries",
        "title": "Fatal injuries arising from accidents at work",
        "producer": "Health and Safety Executive",
        "release_at": at,
        "announced_at": at - dt.timedelta(days=42),
        "nation": "england-and-wales",
        "lead_statistician": "A Statistician <stats@example.org>",
    }
    fields.update(changes)
    return Release(**fields)


@pytest.fixture
def make_release() -> MakeRelease:
    return build_release
