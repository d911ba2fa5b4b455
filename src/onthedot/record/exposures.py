"""Embargo exposures on the timeline, and which are open now (for the service's health).

The watcher probes every staged copy through the public site before T (``verify.exposure``);
a copy that becomes reachable is recorded as ``embargo.exposed`` (its URL and the fix), one that
stops being reachable as ``embargo.contained``. An exposure is open until it is contained, or
the release is flipped or its staged copies discarded (then there is nothing left to reach).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import iso_utc
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.tables import events
from onthedot.verify.exposure import Exposure

EXPOSED = "A copy of the statistics could be opened on the public website before the release time"
FIX = (
    "ask IT now to remove it or block its address, and to keep copies waiting for their release "
    "time outside the web root."
)
"""What to do, for statisticians: the clause after "…: " in the alert about an exposure."""
SENTENCE = f"{EXPOSED}: {FIX}"
"""The exposure and its fix, as one plain sentence."""
_CLOSING = (kinds.EMBARGO_CONTAINED, kinds.PUBLISH_FLIPPED, kinds.PUBLISH_DISCARDED)


def exposure_data(exposure: Exposure) -> dict[str, Any]:
    copy = exposure.copy
    return {
        "url": exposure.url,
        "path": copy.path,
        "location": copy.location,
        "http_status": exposure.http_status,
        "served_bytes": exposure.served_bytes,
        "fix": FIX,
    }


async def record_changes(
    timeline: Timeline,
    release_id: str,
    found: Sequence[Exposure],
    open_urls: set[str],
    at: dt.datetime,
) -> None:
    """Record each newly exposed copy and, together, those no longer exposed; ``open_urls`` (the
    URLs exposed at the last look) is brought up to date."""
    items: list[tuple[str, dict[str, Any]]] = [
        (kinds.EMBARGO_EXPOSED, exposure_data(e)) for e in found if e.url not in open_urls
    ]
    now = {e.url for e in found}
    contained = sorted(open_urls - now)
    if contained:
        items.append((kinds.EMBARGO_CONTAINED, {"urls": contained}))
    if items:
        await timeline.append_many(release_id, items, at=at)
    open_urls.clear()
    open_urls.update(now)


@dataclass(frozen=True, slots=True)
class OpenExposure:
    """A release whose staged copies the public could reach at the last look, and still may."""

    release_id: str
    since: dt.datetime
    urls: tuple[str, ...]
    fix: str = SENTENCE

    def as_json(self) -> dict[str, Any]:
        return {
            "release": self.release_id,
            "since": iso_utc(self.since),
            "urls": list(self.urls),
            "fix": self.fix,
        }


async def open_exposures(
    engine: AsyncEngine, release_ids: Collection[str] | None = None
) -> list[OpenExposure]:
    """Every release (of ``release_ids``, when given) with an exposure not yet contained,
    flipped or discarded, oldest first."""
    query = (
        select(events.c.release_id, events.c.at, events.c.kind, events.c.data)
        .where(events.c.kind.in_((kinds.EMBARGO_EXPOSED, *_CLOSING)))
        .order_by(events.c.release_id, events.c.seq)
    )
    if release_ids is not None:
        query = query.where(events.c.release_id.in_(list(release_ids)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    exposed: dict[str, dict[str, dt.datetime]] = {}  # release -> url -> since
    for row in rows:
        data = json.loads(row.data)
        if row.kind == kinds.EMBARGO_CONTAINED:
            for url in data.get("urls", []):
                exposed.get(row.release_id, {}).pop(str(url), None)
        elif row.kind in _CLOSING:
            exposed.pop(row.release_id, None)
        else:
            exposed.setdefault(row.release_id, {}).setdefault(str(data.get("url", "")), row.at)
    found = [
        OpenExposure(release, min(urls.values()), tuple(urls))
        for release, urls in exposed.items()
        if urls
    ]
    return sorted(found, key=lambda e: e.since)
