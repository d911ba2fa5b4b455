"""The scheduler inside ``onthedot run``: every release, published on the dot, without a person.

Every ``poll_s`` it re-reads the release files (so a moved release is picked up; the artefact
files of a release being published or published only every 15 to 30 s), asks the store
in one query which documents it holds of them, syncs each release whose stored document is not the
one this instance read (a new file, an edit, or another version a person wrote into the store from
another file, e.g. with ``onthedot check draft.toml``), and arms one task
per release that is due: staging starts ``stage_ahead_s`` before T,
leak probes from T − 15 min, the flip at T, purges, then the watch: every URL not yet live is
checked again until it is, for at most ``[publish] watch_until_live_s`` after T, or until a person
stops it — all one task. A release already published (its ``verified`` step recorded, once the
watch ended) is left alone: once the store said so, it is not asked again until the release's
document changes (or a new term of leading begins). After a restart, a release that went live but whose watch had not
ended is taken up again: the watch goes on from what was recorded (only the URLs not live at their
last check are looked at; past the limit, they get one last look). One whose T passed while
nothing was running is published at once and recorded as late, unless T is more than
``catch_up_s`` ago (then it is only recorded as missed, for a person to decide).

A release file that cannot be read is one bad file: it is logged once (and again only when its
problem changes), reported through ``on_problems`` (``/api/health``), and every other release goes
on. A release whose file broke after it was read is published as it was last read: from the store,
or, when the store holds another version by then, as this instance last read it.
No tick ends the loop: whatever goes wrong in one is logged and the next tick tries again.

With several instances on one PostgreSQL store (``morning.leadership``), only the leader's
scheduler ticks: a standby waits, ticks the moment it becomes the leader (taking up whatever the
old leader left, from the recorded steps), and a leader that loses the lead stops every morning it
had armed at once. Each term of leading starts afresh: a lead lost and taken again between two
ticks stops what the earlier term armed, and nothing is taken as known from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import Release, iso_utc
from onthedot.morning.files import FileProblem
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.documents import content_sha256, document
from onthedot.store.releases import ReleaseRepository

if TYPE_CHECKING:
    from onthedot.config import ReleaseFiles
    from onthedot.morning.leadership import Leadership, Standing

log = logs.get_logger("onthedot.scheduler")

PublishFn = Callable[[Release], Awaitable[object]]
LoadFn = Callable[[Collection[str]], "ReleaseFiles"]
"""Reads the release files; given the ids of the releases in hand (being published, or known
published), whose artefact files it need not look at at every tick (``config.KeptReleases``)."""
OnProblems = Callable[[tuple[FileProblem, ...]], None]


RESTAGE_BEFORE_S = 5.0
"""A release changed while being published is armed again with the change unless its release
time is this close (``Scheduler._stop_changed``)."""
QUIET_S = (0.5, 0.25)
"""No tick begins from this many seconds before a release time being published to this many
after (``Scheduler.next_pause_s``)."""


@dataclass(frozen=True)
class SchedulePolicy:
    stage_ahead_s: float = 3600.0
    catch_up_s: float = 7 * 24 * 3600.0
    poll_s: float = 30.0


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        load: LoadFn,
        publish: PublishFn,
        clock: Clock,
        policy: SchedulePolicy | None = None,
        on_problems: OnProblems | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._engine = engine
        self._load = load
        self._publish = publish
        self._clock = clock
        self.policy = policy or SchedulePolicy()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._missed: set[str] = set()
        self._timeline = Timeline(engine, clock)
        self._on_problems = on_problems
        self.problems: tuple[FileProblem, ...] = ()
        self._leadership = leadership
        self._read: dict[str, tuple[Release, str]] = {}
        """By release id: the release this instance last read from its file, its digest."""
        self._published: dict[str, str] = {}
        """By release id: the digest of the document seen published (``verified``)."""
        self._armed: dict[str, tuple[Release, str]] = {}
        """By release id: the release its running publish was armed with, and its digest."""
        self._term: Standing | None = None
        """The leadership's standing at the last tick (a new one: a new term of leading)."""

    async def tick(self) -> list[str]:
        """One pass: sync release files, arm the due ones; returns the ids armed now."""
        running = {rid for rid, task in self.tasks.items() if not task.done()}
        files = self._load(self._in_hand())
        releases = list(files.releases)
        for release in releases:
            self._read[release.id] = (release, self._digest(release))
        repo = ReleaseRepository(self._engine)
        kept = await self._last_good(repo, files.broken, {r.id for r in releases})
        self._report(
            FileProblem(str(path), tuple(problems), kept[path].id if path in kept else None)
            for path, problems in files.broken.items()
        )
        releases += kept.values()
        await self._sync(repo, releases)
        armed = []
        now = self._clock.now()
        stopped = await self._stop_changed(releases, now)
        await self._stop_removed({r.id for r in releases}, now)
        for release in releases:
            if release.id in self.tasks and not self.tasks[release.id].done():
                continue
            if release.id in running and release.id not in stopped:
                continue  # (ended during this tick: its files were read as in hand, not whole)
            if await self._due(release, now):
                self.tasks[release.id] = asyncio.create_task(self._guarded(release))
                self._armed[release.id] = (release, self._digest(release))
                armed.append(release.id)
        return armed

    async def _stop_changed(self, releases: list[Release], now: dt.datetime) -> set[str]:
        """Stop the publish of each release changed since it was armed (its time moved, its files
        changed), to be armed again with the change: unless its release time, old or new, is
        within ``RESTAGE_BEFORE_S`` (or past: it may be flipping), when it goes on as armed. A
        publish armed for 09:30 whose release was moved to the next day flipped at 09:30."""
        stopped: set[str] = set()
        for release in releases:
            task, armed = self.tasks.get(release.id), self._armed.get(release.id)
            if task is None or task.done() or armed is None or armed[1] == self._digest(release):
                continue
            first = min(armed[0].release_at, release.release_at)
            if (first - now).total_seconds() <= RESTAGE_BEFORE_S:
                continue
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            stopped.add(release.id)
            log.warning("release changed while being published: staged again", release=release.id)
            await self._timeline.append(
                release.id,
                kinds.NOTE,
                {
                    "text": "The release changed while it waited to be published (its time or "
                    "its files): it is staged again and published at the time now given for it."
                },
                actor="scheduler",
            )
        return stopped

    async def _stop_removed(self, read: set[str], now: dt.datetime) -> None:
        """Stop the publish of each release whose file is gone (removed, or moved out of the
        folder) since it was armed: a release pulled before its time is not published, unless
        its time is within ``RESTAGE_BEFORE_S`` (or past: it may be flipping), when it goes on
        as armed. Put back, it is armed again at the next tick."""
        for rid, task in list(self.tasks.items()):
            armed = self._armed.get(rid)
            if task.done() or rid in read or armed is None:
                continue
            if (armed[0].release_at - now).total_seconds() <= RESTAGE_BEFORE_S:
                continue
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.warning("release file removed while being published: stopped", release=rid)
            await self._timeline.append(
                rid,
                kinds.NOTE,
                {
                    "text": "The release's file was removed while it waited to be published: it "
                    "is not published unless the file is put back."
                },
                actor="scheduler",
            )

    def _in_hand(self) -> frozenset[str]:
        """The releases being published (their publish has the release it was armed with: a
        change is synced into the store, and stops the publish to arm it again) or known
        published as last read (one changed since is read whole)."""
        running = (rid for rid, task in self.tasks.items() if not task.done())
        published = (
            rid
            for rid, digest in self._published.items()
            if rid in self._read and self._read[rid][1] == digest
        )
        return frozenset((*running, *published))

    def _digest(self, release: Release) -> str:
        """The digest of ``release``'s document, as the store keeps it (worked out once for a
        release read again from a file that did not change)."""
        last = self._read.get(release.id)
        if last is not None and last[0] is release:
            return last[1]
        return content_sha256(document(release))

    async def _sync(self, repo: ReleaseRepository, releases: list[Release]) -> None:
        """Into the store, each release whose stored document is not this one (one query)."""
        digests = {release.id: self._digest(release) for release in releases}
        stored = await repo.digests(digests) if digests else {}
        for release in releases:
            if stored.get(release.id) != digests[release.id]:
                await repo.sync(release, actor="scheduler")

    async def _last_good(
        self, repo: ReleaseRepository, broken: dict[Path, list[str]], loaded: set[str]
    ) -> dict[Path, Release]:
        """For each broken file, the release it held when it last read well: from the store, or
        as this instance last read it (the store may hold a version from another file)."""
        if not broken:
            return {}
        sources = [str(path.resolve()) for path in broken]
        stored = {r.source: r for r in await repo.from_sources(sources) if r.id not in loaded}
        read = {r.source: r for r, _digest in self._read.values() if r.id not in loaded}
        found = {path: stored.get(path.resolve()) or read.get(path.resolve()) for path in broken}
        return {path: release for path, release in found.items() if release is not None}

    def _report(self, problems: Iterable[FileProblem]) -> None:
        """Log what changed since the last tick (never the same problem twice) and pass it on."""
        now = tuple(problems)
        if now == self.problems:
            return
        before = {p.file: p for p in self.problems}
        for problem in now:
            if before.get(problem.file) != problem:
                log.error("release file cannot be read", file=problem.file, problem=problem.message)
        for fixed in before.keys() - {p.file for p in now}:
            log.info("release file reads again", file=fixed)
        self.problems = now
        if self._on_problems is not None:
            self._on_problems(now)

    async def _due(self, release: Release, now: dt.datetime) -> bool:
        """Whether to arm ``release`` now: within its staging time and not yet published (the
        store is asked only then, and no more once it said published, while this instance
        reads the same document); one long missed is noted once."""
        until = (release.release_at - now).total_seconds()
        read = self._read.get(release.id)
        digest = read[1] if read is not None and read[0] is release else None
        if until > self.policy.stage_ahead_s or (
            digest is not None and self._published.get(release.id) == digest
        ):
            return False
        missed = -until > self.policy.catch_up_s
        if missed and release.id in self._missed:
            return False
        if "verified" in await StepLog(self._engine, release.id).done():
            if digest is not None:
                self._published[release.id] = digest
            return False
        if missed:
            self._missed.add(release.id)
            await self._timeline.append(
                release.id,
                kinds.NOTE,
                {
                    "text": f"Not published by the scheduler: its release time "
                    f"{iso_utc(release.release_at)} passed more than "
                    f"{self.policy.catch_up_s / 3600:.0f} hours ago. Publish it by hand if it "
                    "is still wanted."
                },
                actor="scheduler",
            )
            return False
        return True

    async def _guarded(self, release: Release) -> None:
        try:
            await self._publish(release)
        except OnthedotError as exc:
            log.error("publish failed", release=release.id, error=str(exc))
        except Exception:  # a bug must not stop the other releases
            log.exception("publish crashed", release=release.id)

    async def run_forever(self) -> None:
        while True:
            if self._leads():
                await self._begin_term()
                try:
                    await self.tick()
                except OnthedotError as exc:  # the store busy or gone: the next tick tries again
                    log.error("scheduler tick failed", error=str(exc))
                except Exception:  # a bug must not stop the releases already armed
                    log.exception("scheduler tick crashed")
            await self._pause()
            if not self._leads() and self.tasks:  # another instance publishes now
                await self.aclose()

    def _leads(self) -> bool:
        return self._leadership is None or self._leadership.leader

    async def _begin_term(self) -> None:
        """At a tick in a term of leading other than the last tick's (the lead lost and taken
        again, even within one pause): what an earlier term armed is stopped, and what the store
        said then is not taken as known (another instance may have led in between)."""
        standing = self._leadership.standing if self._leadership is not None else None
        if standing is self._term:
            return
        self._term = standing
        self._published.clear()
        if self.tasks:
            await self.aclose()

    def next_pause_s(self) -> float:
        """``poll_s``, or longer so that no tick begins within ``QUIET_S`` of the release time of
        a release being published: a tick's reading of the release files runs on the event loop
        the flips run on, and one begun a moment before T (on a busy machine it takes a tenth of
        a second or more) made the flips wait for it."""
        pause, now = self.policy.poll_s, self._clock.now()
        before, after = QUIET_S
        times = sorted(
            self._read[rid][0].release_at
            for rid, task in self.tasks.items()
            if not task.done() and rid in self._read
        )
        for at in times:  # (in order: a pause moved past one release time may meet the next)
            since = (now - at).total_seconds() + pause  # the next tick, from this T
            if -before <= since < after:
                pause += after - since
        return pause

    async def _pause(self) -> None:
        """Until the next tick (``next_pause_s``), or less when this instance gains or loses the
        lead."""
        pause = self.next_pause_s()
        if self._leadership is None:
            await self._clock.sleep(pause)
            return
        changed = self._leadership.changed
        waits: list[asyncio.Future[object]] = [
            asyncio.ensure_future(self._clock.sleep(pause)),
            asyncio.ensure_future(changed.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        changed.clear()

    async def aclose(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
