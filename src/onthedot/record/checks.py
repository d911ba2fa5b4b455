"""Verification results into the store (``checks``) and the timeline (status changes, first live)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult, Status, iso_utc
from onthedot.record import kinds
from onthedot.record.timeline import Entry, Event, Timeline, entry
from onthedot.store.tables import aggregated_instant, checks
from onthedot.verify.verifier import VerifyReport, result_json

Judged = Mapping[str, Any]
"""A result as JSON (``verifier.result_json``)."""
CHUNK = 2000
_SLICE = 250  # results made into rows between two turns of the event loop (see ``_chunk``)


NOT_LIVE_PROBLEMS = frozenset({"stale", "missing", "error", "late", "wrong-file"})
"""Incidents whose closing by a person also ends the watch until live (they accept it)."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A chunk of results made ready to store: its rows, its events, when it was checked."""

    rows: list[dict[str, Any]]
    entries: list[Entry]
    at: dt.datetime | None


class CheckRecorder:
    """Every result goes to ``checks``; the timeline gets each (url, vantage)'s changes of status
    and the first moment the new version was seen there, so a dense poll does not flood it."""

    def __init__(self, engine: AsyncEngine, timeline: Timeline | None = None) -> None:
        self._engine = engine
        self.timeline = timeline or Timeline(engine)
        self._last: dict[tuple[str, str, str], Status] = {}
        self.first_live: dict[tuple[str, str], dt.datetime] = {}

    async def record(
        self, release_id: str, results: Sequence[CheckResult], *, by: str | None = None
    ) -> None:
        """Store ``results`` (see ``record_json``)."""
        await self.record_json(release_id, _at_once(results), by=by)

    async def record_json(
        self,
        release_id: str,
        batches: AsyncIterable[Sequence[Judged]],
        *,
        by: str | None = None,
    ) -> None:
        """Store each batch of results given as JSON (``result_json``: what is stored, and what
        a process of its own is handed, ``record.beside``) as it comes, in order. Each is stored
        in chunks, one transaction each, so a 10,000-URL sweep never holds all its rows twice;
        each chunk's rows and events are made while the chunk before is being written (the
        store works in a thread of its own)."""
        writing: asyncio.Future[None] | None = None
        try:
            async for results in batches:
                for start in range(0, len(results), CHUNK):
                    chunk = await self._chunk(release_id, results[start : start + CHUNK], by)
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(self._write(release_id, chunk))
            if writing is not None:
                await writing
        except BaseException:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])  # the chunk in hand is stored (or not) first
            raise

    async def _chunk(
        self, release_id: str, results: Sequence[Judged], by: str | None = None
    ) -> _Chunk:
        """The ``checks`` rows and timeline events of ``results``, made a slice at a time with
        the event loop let through between slices (the write in flight takes its next step)."""
        rows: list[dict[str, Any]] = []
        entries: list[Entry] = []
        for start in range(0, len(results), _SLICE):
            if start:
                await asyncio.sleep(0)
            part = results[start : start + _SLICE]
            rows += [
                {
                    "release_id": release_id,
                    "url": data["url"],
                    "vantage": data["vantage"],
                    "status": data["status"],
                    "checked_at": _instant(data["checked_at"]),
                    "served_sha256": data["served_sha256"],
                    "result": data,
                    "checked_by": by,
                }
                for data in part
            ]
            entries += [entry(kind, data) for kind, data in self._changes(release_id, part)]
        return _Chunk(rows, entries, _instant(results[0]["checked_at"]) if results else None)

    async def _write(self, release_id: str, chunk: _Chunk) -> None:
        """One chunk: its ``checks`` rows and its timeline events in one transaction, shared
        with the other releases' chunks written at the same moment (one insert of ``checks``
        for all of them: ``Timeline.append_entries``)."""
        await self.timeline.append_entries(
            release_id, chunk.entries, at=chunk.at, rows=[(checks, chunk.rows)]
        )

    def _changes(
        self, release_id: str, results: Sequence[Judged]
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The timeline events of ``results``: each change of status, each first sight of live."""
        items: list[tuple[str, Mapping[str, Any]]] = []
        for data in results:
            url, vantage, status = data["url"], data["vantage"], data["status"]
            key = (release_id, url, vantage)
            if self._last.get(key) != status:
                self._last[key] = Status(status)
                items.append((kinds.VERIFY_RESULT, data))
            if status == Status.LIVE and (url, vantage) not in self.first_live:
                self.first_live[(url, vantage)] = _instant(data["checked_at"])
                items.append(
                    (
                        kinds.VERIFY_FIRST_LIVE,
                        {"url": url, "vantage": vantage, "at": data["checked_at"]},
                    )
                )
        return items

    async def all_live(self, release_id: str, report: VerifyReport) -> None:
        """Record that ``report`` found every URL live from every vantage point."""
        data = {
            "urls": sorted({r.url for r in report.results}),
            "vantages": sorted({r.vantage for r in report.results}),
            "at": iso_utc(report.checked_at),
        }
        await self.timeline.append(release_id, kinds.VERIFY_ALL_LIVE, data, at=report.checked_at)

    async def ended(
        self,
        release_id: str,
        reason: str,
        last: VerifyReport,
        after_s: float,
        stop: Mapping[str, Any] | None = None,
        *,
        at: dt.datetime,
    ) -> None:
        """Record that the watch after T ended ``after_s`` after it began, and why: ``all-live``,
        ``limit`` (URLs still not live) or ``stopped`` (by whom and why: the ``stop`` event's)."""
        data: dict[str, Any] = {
            "reason": reason,
            "after_s": round(after_s, 3),
            "not_live": sorted({r.url for r in last.results if r.status is not Status.LIVE}),
        }
        if stop:
            data.update({"by": stop.get("by", ""), "why": stop.get("reason", "")})
        await self.timeline.append(release_id, kinds.WATCH_ENDED, data, at=at)

    async def stop_asked(self, release_id: str) -> Event | None:
        """What a person recorded to stop the watch since the last watch ended: a
        ``watch.stopped``, or closing an incident of the release not being live (stale, missing,
        error, late) with a reason."""
        ended = await self.timeline.newest(release_id, (kinds.WATCH_ENDED,))
        after = ended.seq if ended is not None else 0
        stopped = await self.timeline.events(release_id, kinds.WATCH_STOPPED, after=after)
        closed = [
            e
            for e in await self.timeline.events(release_id, kinds.INCIDENT_CLOSED, after=after)
            if e.data.get("problem") in NOT_LIVE_PROBLEMS
        ]
        asked = sorted([*stopped, *closed], key=lambda e: e.seq)
        return asked[0] if asked else None

    async def take_up(self, release_id: str) -> dict[tuple[str, str], Status]:
        """Take up what an earlier run recorded (after a restart): each (URL, vantage point)'s
        first moment live, so it is not recorded again, and its latest status (returned)."""
        latest_ids = (
            select(func.max(checks.c.id))
            .where(checks.c.release_id == release_id)
            .group_by(checks.c.url, checks.c.vantage)
        )
        firsts = (
            select(checks.c.url, checks.c.vantage, func.min(checks.c.checked_at))
            .where(checks.c.release_id == release_id, checks.c.status == Status.LIVE.value)
            .group_by(checks.c.url, checks.c.vantage)
        )
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(checks.c.url, checks.c.vantage, checks.c.status).where(
                        checks.c.id.in_(latest_ids)
                    )
                )
            ).all()
            for url, vantage, at in (await conn.execute(firsts)).all():
                self.first_live.setdefault((url, vantage), aggregated_instant(at))
        latest = {(r.url, r.vantage): Status(r.status) for r in rows}
        for (url, vantage), status in latest.items():
            self._last[(release_id, url, vantage)] = status
        return latest


async def _at_once(results: Sequence[CheckResult]) -> AsyncIterator[list[dict[str, Any]]]:
    yield [result_json(r) for r in results]


@functools.lru_cache(maxsize=64)
def _instant(text: str) -> dt.datetime:
    """A result's ``checked_at`` as it is stored (a sweep's results share one: read once)."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
