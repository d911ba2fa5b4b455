"""Bounded remediation: after the release time, onthedot puts right by itself what still shows
the previous version, a limited number of times, each attempt on the timeline.

A cache still serving the previous version is purged again through the release's purgers
(``remedy.purge``); the website itself still serving it (the flip did not take) gets its staged
copies flipped into place again (``remedy.reflip``; a flip is idempotent, and one whose staged
copy is gone fails, recorded). A copy whose bytes the target already holds at its final path is
not flipped again but recorded as in place (``in_place``; outcome ``in-place`` when every one
is): the web server is serving a copy of the old file it still holds (nginx's open_file_cache
keeps the file it had open until ``open_file_cache_valid``, a minute by default; a web root on
a network drive is seen through its cache), which no flip puts right and which the record must
not call a re-flip. Attempt n of a kind waits ``backoff_s[n-1]`` (the last repeated)
after the previous one; the first waits that long after the address was first seen stale. Never
before the release time, never more than ``[remediate]`` allows, and never once a person has
stopped the watch or closed the release's stale, missing, error or late incident.

Each attempt is fenced like the flip (``fence``: the publisher's hold on the release,
``publish.lease``): an instance that lost the release to another (it was paused or cut off
from the store, and a standby took over) raises LeaseLostError there and purges or flips nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import CheckResult, Release, Status
from onthedot.publish.purging import Purging
from onthedot.publish.staging import Staging
from onthedot.publish.targets.base import Staged
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.settings import RemediateSettings
from onthedot.verify.verifier import VerifyReport

StopAsked = Callable[[str], Awaitable[Event | None]]  # a person's stop (``CheckRecorder``)
Fence = Callable[[], Awaitable[None]]  # LeaseLostError unless this instance still holds the release


@dataclass
class _Tries:
    """The attempts of one kind: how many were made, and when the next is due."""

    limit: int
    backoff_s: tuple[float, ...]
    made: int = 0
    next_at: dt.datetime | None = None

    def due(self, now: dt.datetime) -> bool:
        """Whether an attempt is due now (the first sighting starts the first wait)."""
        if self.made >= self.limit:
            return False
        if self.next_at is None:
            self.next_at = now + self._pause()
        return now >= self.next_at

    def made_one(self, now: dt.datetime) -> int:
        self.made += 1
        self.next_at = now + self._pause()
        return self.made

    def _pause(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.backoff_s[min(self.made, len(self.backoff_s) - 1)])


class Remediation:
    """One release's remediation after T: call ``after`` with the report of each sweep."""

    def __init__(
        self,
        release: Release,
        *,
        purging: Purging,
        staging: Staging,
        staged: Sequence[Staged],
        timeline: Timeline,
        clock: Clock,
        settings: RemediateSettings,
        stop_asked: StopAsked,
        fence: Fence,
    ) -> None:
        self._release = release
        self._purging = purging
        self._staging = staging
        self._staged = list(staged)
        self._timeline = timeline
        self._clock = clock
        self._stop_asked = stop_asked
        self._fence = fence
        self.purges = _Tries(settings.purge_attempts, settings.backoff_s)
        self.reflips = _Tries(settings.reflip_attempts, settings.backoff_s)

    async def after(self, report: VerifyReport) -> None:
        """Purge again or flip again what this sweep found stale, if an attempt is due."""
        now = self._clock.now()
        if now < self._release.release_at or report.phase == "before":
            return
        in_cache = self._paths(report.results, "cache")
        at_origin = self._paths(report.results, "origin")
        purge = bool(in_cache and self._purging.purgers) and self.purges.due(now)
        reflip = bool(at_origin and self._staged) and self.reflips.due(now)
        if not (purge or reflip) or await self._stop_asked(self._release.id) is not None:
            return
        await self._fence()
        if purge:
            await self._purge(in_cache)
        if reflip:
            await self._reflip(at_origin)

    async def _purge(self, paths: list[str]) -> None:
        attempt = self.purges.made_one(self._clock.now())
        tried = await self._purging.purge(self._release, paths)
        last = {(a.purger, a.request): a for a in tried}  # each request's final try
        failed = [a.detail for a in last.values() if not a.ok]
        error = failed[-1] if failed else ("" if tried else "no purger answered")
        await self._record(kinds.REMEDY_PURGE, attempt, self.purges.limit, paths, error)

    async def _reflip(self, paths: list[str]) -> None:
        attempt = self.reflips.made_one(self._clock.now())
        error = ""
        copies = [s for s in self._staged if s.path in paths]
        in_place: list[str] = []
        for copy in copies:
            try:
                placed = await self._staging.in_place(copy)
            except OnthedotError:
                placed = False  # (the target cannot tell now: flipped again, as it would be)
            if placed:
                in_place.append(copy.path)
                continue
            try:
                await self._staging.flip([copy])
            except OnthedotError as exc:
                error = str(exc)
        all_in_place = bool(copies) and len(in_place) == len(copies)
        await self._record(
            kinds.REMEDY_REFLIP,
            attempt,
            self.reflips.limit,
            paths,
            error,
            in_place=in_place,
            outcome=None if error or not all_in_place else "in-place",
        )

    async def _record(
        self,
        kind: str,
        attempt: int,
        limit: int,
        paths: list[str],
        error: str,
        *,
        in_place: list[str] | None = None,
        outcome: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "attempt": attempt,
            "limit": limit,
            "paths": paths,
            "outcome": outcome or ("failed" if error else "done"),
        }
        if in_place:
            data["in_place"] = in_place
        if error:
            data["error"] = error
        await self._timeline.append(self._release.id, kind, data, at=self._clock.now())

    def _paths(self, results: Sequence[CheckResult], layer: str) -> list[str]:
        """The release paths of the URLs this layer serves stale."""
        site = self._release.site
        if site is None:
            return []
        base = site.public.rstrip("/")
        return sorted(
            {
                r.url[len(base) :]
                for r in results
                if r.status is Status.STALE and r.layer == layer and r.url.startswith(base)
            }
        )
