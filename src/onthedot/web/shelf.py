"""The stored releases, read whole only when one of them changed: a page that shows many releases
asks for them on every refresh, and validating each release's document (a morning of 200 releases
of 50 files: ~0.15 s) would be most of its time.

Each ask reads the releases' ids and content digests (one small statement); when they are what
they were last time, the releases validated then are returned, else every release is read again
(``ReleaseRepository.all``) and kept with the digests read before it. How many addresses each
kept release watches is counted once too (``watched``: the board asks it of every release).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Release
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tables import releases
from onthedot.verify.verifier import watched_urls


class ReleaseShelf:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._digests: list[tuple[str, str]] | None = None
        self._releases: list[Release] = []
        self._watched: dict[int, tuple[Release, int]] = {}  # id(release) -> (release, count)
        self.reads = 0  # how many times the releases were read whole (one changed)

    async def all(self) -> list[Release]:
        """Every stored release, by release time (as ``ReleaseRepository.all``)."""
        query = select(releases.c.id, releases.c.content_sha256).order_by(releases.c.id)
        async with self._engine.connect() as conn:
            digests = [(row.id, row.content_sha256) for row in await conn.execute(query)]
        if digests != self._digests:
            self._releases = await ReleaseRepository(self._engine).all()
            self._digests = digests
            self._watched.clear()
            self.reads += 1
        return list(self._releases)

    def next_release_at(self, after: dt.datetime) -> dt.datetime | None:
        """The first release time after ``after`` of the releases last read (None: none)."""
        return min((r.release_at for r in self._releases if r.release_at > after), default=None)

    def watched(self, release: Release) -> int:
        """How many addresses a sweep of ``release`` reports on (``watched_urls``), counted once
        for each release read."""
        kept = self._watched.get(id(release))
        if kept is None:
            kept = self._watched[id(release)] = (release, len(watched_urls(release)))
        return kept[1]
