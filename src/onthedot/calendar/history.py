"""What a release's recorded history says about its earlier, announced release times (T3.2).

History comes in two shapes, both accepted:

* earlier versions of the release (``Release``, oldest first), e.g. from version control;
* field changes from the store (anything with ``field``, ``old``, ``new`` and optionally
  ``changed_at``, like ``onthedot.store.documents.HistoryEntry``), where ``old``/``new`` are
  datetimes or ISO 8601 strings as the store keeps them.

Only times that had been announced count: a Release version with ``announced_at``, or a field
change made after the release's ``announced_at``. Anything unreadable is skipped, never raised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from onthedot.calendar.timeutil import Zone, as_instant
from onthedot.model import Release


@runtime_checkable
class FieldChange(Protocol):
    """One recorded change of one field (read-only, so frozen dataclasses fit)."""

    @property
    def field(self) -> str: ...

    @property
    def old(self) -> Any: ...

    @property
    def new(self) -> Any: ...


HistoryItem = Release | FieldChange
History = Sequence[HistoryItem] | None


def _instant(value: Any, zone: Zone) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return as_instant(value, zone)
    return None


def _after_announcement(release: Release, item: FieldChange, zone: Zone) -> bool:
    if release.announced_at is None:
        return False
    changed = _instant(getattr(item, "changed_at", None), zone)
    return changed is None or changed >= as_instant(release.announced_at, zone)


def _times(release: Release, item: HistoryItem, zone: Zone) -> Iterable[dt.datetime | None]:
    if isinstance(item, Release):
        if item.announced_at is not None:
            yield as_instant(item.release_at, zone)
    elif (
        isinstance(item, FieldChange)
        and item.field == "release_at"
        and _after_announcement(release, item, zone)
    ):
        yield _instant(item.old, zone)


def announced_times(release: Release, history: History, zone: Zone) -> list[dt.datetime]:
    """Earlier announced release times (UTC, first seen first), without the current one."""
    now = as_instant(release.release_at, zone)
    found: list[dt.datetime] = []
    for item in history or ():
        for when in _times(release, item, zone):
            if when is not None and when != now and when not in found:
                found.append(when)
    return found
