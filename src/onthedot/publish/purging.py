"""Purging: a release's public URLs dropped from every cache through every purger, each attempt
recorded on the timeline (``purge.attempt``), then whether each purger was done or failed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from onthedot.clock import Clock
from onthedot.errors import PurgeError
from onthedot.model import Release
from onthedot.publish.purgers.base import PurgeAttempt, Purger
from onthedot.record import kinds
from onthedot.record.timeline import Timeline


class Purging:
    def __init__(self, purgers: Sequence[Purger], timeline: Timeline, clock: Clock) -> None:
        self.purgers = list(purgers)
        self._timeline = timeline
        self._clock = clock

    async def purge(self, release: Release, paths: Sequence[str]) -> list[PurgeAttempt]:
        """Purge these paths of the release's public site through every purger at once."""
        if not self.purgers or release.site is None:
            return []
        urls = [release.site.url(p) for p in paths]
        results = await asyncio.gather(*(self._purge_one(release, p, urls) for p in self.purgers))
        return [a for attempts in results for a in attempts]

    async def _purge_one(
        self, release: Release, purger: Purger, urls: list[str]
    ) -> list[PurgeAttempt]:
        try:
            attempts = await purger.purge(urls)
            failed: str | None = None
        except PurgeError as exc:
            attempts, failed = list(exc.attempts), str(exc)
        await self._timeline.append_many(
            release.id, [(kinds.PURGE_ATTEMPT, a.as_json()) for a in attempts], at=self._clock.now()
        )
        if failed:
            kind, data = kinds.PURGE_FAILED, {"purger": purger.url(), "urls": urls, "error": failed}
        else:
            kind, data = kinds.PURGE_DONE, {"purger": purger.url(), "urls": urls}
        await self._timeline.append(release.id, kind, data, at=self._clock.now())
        return attempts
