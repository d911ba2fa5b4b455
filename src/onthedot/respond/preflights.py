"""Preflight before the release time, on the record: the *preflight* problem, and ``onthedot run``
running preflight by itself.

Each preflight of a release, from ``onthedot preflight`` or from ``onthedot run``, is recorded on
its timeline (``preflight.checked``: whether it passed, and each address at risk with the reason
and the fix). While the latest one found a risk (an address a cache or browsers would keep showing
the previous version after the release time, or one that could not be read) and the release is
not live everywhere, the release has the ``preflight`` problem (``respond.problems``): an incident
that alerts IT at once. A later preflight that passes resolves it, as does the release being live
everywhere.

``onthedot run`` runs preflight itself (``Preflights``) for each release with a website: from
``BEFORE_S`` before its release time, then every ``EVERY_S``, never in its last ``QUIET_S`` (too
late to act on; the watch at the release time takes over), in background tasks, ``AT_ONCE`` at a
time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import Release, iso_utc
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.notice import Tasks
from onthedot.settings import VerifySettings
from onthedot.verify.preflight import PreflightReport, preflight
from onthedot.verify.probe import Prober
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.verifier import allowed_hosts

log = logs.get_logger("onthedot.preflight")

BEFORE_S = 3600.0
EVERY_S = 600.0
QUIET_S = 60.0
AT_ONCE = 4
KINDS = frozenset({kinds.PREFLIGHT_CHECKED})
"""The kinds of event ``Preflights`` is fed (the others change nothing in it)."""
"""Preflights run at the same time (a morning of many releases: the rest wait their turn)."""
Check = Callable[[Release], Awaitable[PreflightReport]]


def checker(settings: VerifySettings, tolerance_s: float, clock: Clock) -> Check:
    """Preflight of a release as ``onthedot preflight`` runs it: each public URL's caching
    headers read now, what happens after the release time predicted (``[verify]``'s caches)."""

    async def check(release: Release) -> PreflightReport:
        transport = CurlTransport(ca_file=settings.ca_file, verify_tls=settings.verify_tls)
        async with Prober(transport, allowed_hosts=allowed_hosts(release)) as prober:
            return await preflight(
                release,
                prober,
                now=clock.now(),
                product_defaults=settings.caches.models(),
                tolerance_s=tolerance_s,
            )

    return check


def risks(report: PreflightReport) -> list[dict[str, Any]]:
    """Each address at risk: one that would hide the update after T, or could not be read."""
    return [
        {
            "url": result.url,
            "risk": p.risk,
            "layer": p.layer,
            "stale_until": iso_utc(p.stale_until) if p.stale_until else None,
            "reason": p.reason,
            "fix": p.fix,
        }
        for result in report.results
        for p in result.predictions
        if p.risk == "stale-after-T" or not result.read
    ]


async def record(
    engine: AsyncEngine, report: PreflightReport, at: dt.datetime, source: str = "onthedot"
) -> Event:
    """Put the preflight on the release's timeline."""
    data = {"ok": report.ok, "risks": risks(report)}
    return await Timeline(engine).append(
        report.release, kinds.PREFLIGHT_CHECKED, data, at=at, source=source
    )


@dataclass
class Preflights:
    """The preflights ``onthedot run`` makes of the releases the responder watches."""

    engine: AsyncEngine
    clock: Clock
    check: Check | None = None  # None: preflight is never run here (its records still count)
    tasks: Tasks = field(default_factory=Tasks)
    last: dict[str, dt.datetime] = field(default_factory=dict)
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(AT_ONCE))

    def feed(self, release_id: str, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind == kinds.PREFLIGHT_CHECKED:
                self.last[release_id] = max(event.at, self.last.get(release_id, event.at))

    def look(self, release: Release, now: dt.datetime) -> None:
        """Start a preflight of ``release`` if one is due."""
        if self.check is None or release.site is None or self.tasks.busy(release.id):
            return
        until = (release.release_at - now).total_seconds()
        last = self.last.get(release.id)
        if not QUIET_S <= until <= BEFORE_S:
            return
        if last is None or (now - last).total_seconds() >= EVERY_S:
            self.tasks.start(release.id, self._run(release, self.check))

    async def _run(self, release: Release, check: Check) -> None:
        try:
            async with self.turns:
                report = await check(release)
        except OnthedotError as exc:  # no address to read: nothing to predict
            log.warning("preflight could not run", release=release.id, error=str(exc))
            self.last[release.id] = self.clock.now()
            return
        event = await record(self.engine, report, self.clock.now(), source="responder")
        self.feed(release.id, [event])
