"""The notice to users: posted on the release's site when it is not live everywhere ``after_s``
after its release time, replaced once it is.

"These statistics were due at 09:30. We are fixing a technical problem and will update this page
by 10:00." is put at the notice's path (``[notice]``) through the release's ``[site] target`` as
any file is published (staged hidden, then moved into place), a fragment the release page
includes; once every address is live from every vantage point, it is replaced by "Published at
10:35 after a technical delay." Each notice posted or replaced is on the timeline
(``notice.published``, ``notice.replaced``: the report's "a notice alerting users was published"
comes from the first). A notice the target refuses is recorded (``notice.failed``), tried again
after a pause that grows to ``RETRY_MAX_S``, and is the release's ``notice`` problem (an
incident; IT is alerted) until it is published.

The work runs in background tasks (``Tasks``), so a slow target never holds up a look.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import secrets
import tempfile
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.adapters import create
from onthedot.calendar.timeutil import fmt_clock, to_local
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import Release, Site
from onthedot.publish.targets.base import Target
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.problems import Problem
from onthedot.settings import NoticeSettings

log = logs.get_logger("onthedot.notice")

RETRY_FIRST_S = 10.0
RETRY_MAX_S = 300.0
KINDS = frozenset(
    {kinds.VERIFY_ALL_LIVE, kinds.NOTICE_PUBLISHED, kinds.NOTICE_REPLACED, kinds.NOTICE_FAILED}
)
"""The kinds of event a ``NoticeRecord`` is fed (the others change nothing in it)."""


class Tasks:
    """Background work, one task per key at a time: started, awaited (tests, a clean stop) or
    cancelled. Work that failed (the store out of reach while it recorded) is said in the log,
    one sentence, when it ends: a later look starts it again from what the store holds."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[None]] = {}

    def busy(self, key: str) -> bool:
        return key in self._running

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._running[key] = task
        task.add_done_callback(lambda done: self._ended(key, done))

    def _ended(self, key: str, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        failed = None if task.cancelled() else task.exception()
        if isinstance(failed, OnthedotError):
            log.error("background work stopped, started again later", key=key, error=str(failed))
        elif failed is not None:  # a bug: its traceback, once (not asyncio's at garbage collection)
            log.error("background work crashed", key=key, exc_info=failed)

    async def wait(self) -> None:
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def cancel(self) -> None:
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


@dataclass
class NoticeRecord:
    """What one release's timeline says about its notice (pure: fed events in order)."""

    live_at: dt.datetime | None = None
    posted: bool = False
    replaced: bool = False
    failed: tuple[dt.datetime, str] | None = None  # since when, why: cleared by a success
    failures: int = 0
    next_try: dt.datetime | None = None
    seen: set[int] = field(default_factory=set)  # fed by the look, and by the task that wrote it

    def feed(self, event: Event) -> None:
        if event.seq in self.seen:
            return
        self.seen.add(event.seq)
        if event.kind == kinds.VERIFY_ALL_LIVE and self.live_at is None:
            self.live_at = event.at
        elif event.kind == kinds.NOTICE_PUBLISHED:
            self.posted, self.failed, self.failures = True, None, 0
        elif event.kind == kinds.NOTICE_REPLACED:
            self.replaced, self.failed, self.failures = True, None, 0
        elif event.kind == kinds.NOTICE_FAILED:
            self.failures += 1
            since = self.failed[0] if self.failed else event.at
            self.failed = (since, str(event.data.get("error") or "the target refused it"))
            pause = min(RETRY_FIRST_S * 2 ** (self.failures - 1), RETRY_MAX_S)
            self.next_try = event.at + dt.timedelta(seconds=pause)

    def due(self, release_at: dt.datetime, after_s: float, now: dt.datetime) -> str | None:
        """``delayed``, ``published`` or None: which notice should be put on the site now."""
        if self.next_try is not None and now < self.next_try:
            return None
        if not self.posted:
            late = now >= release_at + dt.timedelta(seconds=after_s)
            return "delayed" if late and self.live_at is None else None
        return "published" if self.live_at is not None and not self.replaced else None


@dataclass(frozen=True)
class Wording:
    """The notice's sentences for one release, its times in the local zone."""

    settings: NoticeSettings
    release: Release
    zone: ZoneInfo

    def text(self, which: str, live_at: dt.datetime | None) -> str:
        release_at = self.release.release_at
        update_by = release_at + dt.timedelta(seconds=self.settings.update_in_s)
        values = {
            "title": self.release.title,
            "producer": self.release.producer,
            "due": fmt_clock(to_local(release_at, self.zone)),
            "update_by": _minute(update_by, self.zone),
            "live": _minute(live_at or release_at, self.zone),
        }
        template = self.settings.delayed if which == "delayed" else self.settings.published
        return template.format(**values)


def _minute(instant: dt.datetime, zone: ZoneInfo) -> str:
    return f"{to_local(instant, zone):%H:%M}"


def fragment(text: str) -> str:
    """The notice as the HTML fragment the release page includes."""
    return f'<div class="onthedot-notice" role="status">\n  <p>{html.escape(text)}</p>\n</div>\n'


async def put_page(site: Site, path: str, page: str) -> str:
    """Put ``page`` at ``path`` through the site's target (staged, then moved into place); its
    public URL. TargetError and the like (one sentence) when the target refuses."""
    if not site.target:
        raise OnthedotError("The release has no [site] target to publish through.")
    data = page.encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "page.html"
        await asyncio.to_thread(local.write_bytes, data)
        async with cast(Target, create("target", site.target)) as target:
            token = secrets.token_hex(16)
            staged = await target.stage(path, local, hashlib.sha256(data).hexdigest(), token)
            await target.flip(staged)
    return site.url(path)


@dataclass
class Notices:
    """The notices of the releases the responder watches."""

    engine: AsyncEngine
    settings: NoticeSettings
    zone: ZoneInfo
    clock: Clock
    tasks: Tasks = field(default_factory=Tasks)
    records: dict[str, NoticeRecord] = field(default_factory=dict)

    def feed(self, release_id: str, events: Sequence[Event]) -> None:
        record = self.records.setdefault(release_id, NoticeRecord())
        for event in events:
            record.feed(event)

    def look(self, release: Release, now: dt.datetime) -> dict[str, Problem]:
        """Start putting the notice due on the site, if any; the ``notice`` problem, if any."""
        record = self.records.setdefault(release.id, NoticeRecord())
        chosen = self.settings.of(release)
        site = release.site
        if chosen.enabled and site is not None and site.target and not self.tasks.busy(release.id):
            which = record.due(release.release_at, chosen.after_s, now)
            if which is not None:
                work = self._put(release, site, chosen, which, record.live_at)
                self.tasks.start(release.id, work)
        return {} if record.failed is None else {"notice": _problem(chosen, release, record)}

    async def _put(
        self,
        release: Release,
        site: Site,
        chosen: NoticeSettings,
        which: str,
        live_at: dt.datetime | None,
    ) -> None:
        path = chosen.path.replace("{release}", release.id)
        text = Wording(chosen, release, self.zone).text(which, live_at)
        data: dict[str, Any] = {"text": text, "url": site.url(path), "path": path}
        timeline = Timeline(self.engine)
        try:
            await put_page(site, path, fragment(text))
        except (OnthedotError, OSError) as exc:
            error = str(exc)
            failed = {**data, "error": error, "replacing": which == "published"}
            event = await timeline.append(
                release.id, kinds.NOTICE_FAILED, failed, at=self.clock.now(), source="responder"
            )
            log.warning("notice.failed", release=release.id, error=error)
        else:
            kind = kinds.NOTICE_PUBLISHED if which == "delayed" else kinds.NOTICE_REPLACED
            event = await timeline.append(
                release.id, kind, data, at=self.clock.now(), source="responder"
            )
        self.records[release.id].feed(event)  # before the task ends: the next look knows it


def _problem(chosen: NoticeSettings, release: Release, record: NoticeRecord) -> Problem:
    assert record.failed is not None
    since, error = record.failed
    path = chosen.path.replace("{release}", release.id)
    sentence = (
        f"The notice to users at {path} could not be published ({error}): check the release's "
        "[site] target; it is tried again."
    )
    return Problem("notice", since, (path,), sentence, "server")
