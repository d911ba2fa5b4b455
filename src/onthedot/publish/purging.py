"""Purging: a release's public URLs dropped from every cache through every purger, each attempt
recorded on the timeline (``purge.attempt``), then whether each purger was done or failed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError, PurgeError
from onthedot.model import Release
from onthedot.publish.purgers.base import CRASHED, PurgeAttempt, Purger
from onthedot.record import kinds
from onthedot.record.timeline import Timeline

log = logs.get_logger("onthedot.purge")


class Purging:
    def __init__(self, purgers: Sequence[Purger], timeline: Timeline, clock: Clock) -> None:
        self.purgers = list(purgers)
        self._timeline = timeline
        self._clock = clock

    async def purge(
        self, release: Release, paths: Sequence[str], *, answered: asyncio.Event | None = None
    ) -> list[PurgeAttempt]:
        """Purge these paths of the release's public site through every purger at once; then
        record each purger's attempts. ``answered`` is set once every purger has answered (or
        failed), before the records are written."""
        if not self.purgers or release.site is None:
            return []
        urls = [release.site.url(p) for p in paths]
        try:
            tried = await asyncio.gather(*(_send(p, urls) for p in self.purgers))
        finally:
            if answered is not None:
                answered.set()
        await asyncio.gather(
            *(
                self._record(release, p, urls, attempts, failed)
                for p, (attempts, failed) in zip(self.purgers, tried, strict=True)
            )
        )
        return [a for attempts, _failed in tried for a in attempts]

    async def _record(
        self,
        release: Release,
        purger: Purger,
        urls: list[str],
        attempts: list[PurgeAttempt],
        failed: str | None,
    ) -> None:
        await self._timeline.append_many(
            release.id, [(kinds.PURGE_ATTEMPT, a.as_json()) for a in attempts], at=self._clock.now()
        )
        if failed:
            kind, data = kinds.PURGE_FAILED, {"purger": purger.url(), "urls": urls, "error": failed}
        else:
            kind, data = kinds.PURGE_DONE, {"purger": purger.url(), "urls": urls}
        await self._timeline.append(release.id, kind, data, at=self._clock.now())


async def _send(purger: Purger, urls: list[str]) -> tuple[list[PurgeAttempt], str | None]:
    """The purger's attempts, and what failed (None: done). A purger that raises an error no
    purger should (a bug around its requests: each request's own are its failed attempts) fails
    alone, logged for IT: the other purgers' attempts are still recorded, and the publish is not
    run again and again for it. An ``OnthedotError`` (e.g. a secret it may not use) is raised
    as it was."""
    try:
        return await purger.purge(urls), None
    except PurgeError as exc:
        return list(exc.attempts), str(exc)
    except OnthedotError:
        raise
    except Exception:
        log.exception("purge crashed", purger=purger.url())
        crashed = PurgeAttempt(
            purger=purger.url(),
            request=purger.scrub(f"urls: {' '.join(urls)[:200]}"),
            status=None,
            ok=False,
            detail=CRASHED,
            started_at=dt.datetime.now(dt.UTC),
            duration_s=0.0,
        )
        return [crashed], (
            f"The purge through {purger.url()} went wrong in an unexpected way (the service's "
            "log has the details): the cache may serve old copies; purge again or wait for "
            "them to expire."
        )
