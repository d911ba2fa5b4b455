"""The responder inside ``onthedot run``: reads what the morning records, keeps the incidents up
to date and sends the alerts the ladder makes due, in the background.

Each look (``look``; ``tick`` also waits for what it started): for every release from a day
before its release time on, the events recorded since the last look are read
(``respond.problems.Reading``; two queries for all the releases); the incidents of those whose
problems changed are brought up to date in tasks of their own (``respond.incidents``, ``SYNCS``
releases at a time, while the next look goes on; a problem that came and went since the last
look is opened, then resolved) and each release's messages due
(``respond.ladder``) claimed at once (one write) and sent, each by a task of its own:
``ATTEMPTS`` tries, ``PAUSES_S`` apart, each bounded in time; every attempt that fails is recorded
on the timeline, and one address failing never holds up another. A message is sent at most once,
across restarts too (``respond.deliveries``). The responder looks every ``look_every_s`` and at
once when the morning records something (``respond.observe``), but not twice within
``LOOK_GAP_S``. ``onthedot run`` gives it store connections of its own, so that at T it never
waits for one the sweeps hold; when it stops, one last look reads what the gap held back
(``catch_up``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs, respond
from onthedot.calendar.policy import Policy
from onthedot.clock import Clock
from onthedot.config import Config
from onthedot.errors import OnthedotError, StoreError
from onthedot.model import Gate, Release
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.channels import AlertError, Channel, channels
from onthedot.respond.deliveries import (
    FAILED,
    RESUMABLE,
    RETRYING,
    SENDING,
    SENT,
    UNSURE,
    AlertLog,
    Claim,
    MessageKey,
    marker,
)
from onthedot.respond.gates import KINDS as GATE_KINDS
from onthedot.respond.gates import Gates
from onthedot.respond.incidents import Incident, IncidentBook
from onthedot.respond.ladder import due
from onthedot.respond.links import Link, LinkKey, expiry, link_key
from onthedot.respond.messages import Message, compose
from onthedot.respond.notice import KINDS as NOTICE_KINDS
from onthedot.respond.notice import Notices, Tasks
from onthedot.respond.preflights import KINDS as PREFLIGHT_KINDS
from onthedot.respond.preflights import Check, Preflights, checker
from onthedot.respond.problems import KINDS as PROBLEM_KINDS
from onthedot.respond.problems import PROBLEMS, Problem, Reading
from onthedot.respond.vantages import SilentAgents
from onthedot.settings import NoticeSettings, NotifySettings, WebSettings
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tables import releases

log = logs.get_logger("onthedot.responder")

ATTEMPTS = 3
SYNCS = 8
"""Releases whose incidents are brought up to date at the same time (``Responder._sync``)."""
PAUSES_S = (2.0, 10.0)
LOOK_GAP_S = 0.25
"""A nudge within this long of the last look's start waits out the rest: at T every release's
sweeps nudge the responder, and each look reads every release watched (200 at once, looking
back to back, were a tenth of the leader's busy event loop); what they recorded is read together
by the next look, at most this late."""
CATCH_UP_S = 3.0
"""The longest a clean stop waits for its last look (``Responder.catch_up``): a store away
must not hold the stop up."""
WATCHED_BEFORE = dt.timedelta(days=1)
"""A release is watched from this long before its release time: staging and leak probes."""
WATCHED_AFTER = dt.timedelta(days=1)
"""... until this long after it (older releases' records are history, not incidents)."""
FILES_ID = "release-files"
"""The timeline of the release files that hold no release onthedot knows."""
_RELEASE_PROBLEMS = tuple(p for p in PROBLEMS if p != "file")  # with the notice and the gates
READ = PROBLEM_KINDS | NOTICE_KINDS | GATE_KINDS | PREFLIGHT_KINDS
"""The kinds of event a look reads: those it acts on (at T the others are most of what is
recorded, e.g. a ``verify.first-live`` for every URL)."""


class BrokenFile(Protocol):
    """A release file the scheduler cannot read (``morning.files.BrokenFile``)."""

    @property
    def file(self) -> str: ...

    @property
    def kept(self) -> str | None: ...


class Responder:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: NotifySettings,
        clock: Clock,
        zone: ZoneInfo,
        *,
        key: LinkKey | None = None,
        look_every_s: float = 1.0,
        pauses_s: Sequence[float] = PAUSES_S,
        late_after_s: float = Policy().late_after_s,
        notice: NoticeSettings | None = None,
        gates: Mapping[str, Sequence[Gate]] | None = None,
        preflight: Check | None = None,
        web: WebSettings | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._zone = zone
        self._key = key
        self.look_every_s = look_every_s
        self.leads: Callable[[], bool] = _always
        """Whether this instance acts (``run_forever``): with several instances on one store,
        only the leader looks, opens incidents and sends alerts, held steps and notices. Each
        instance looking on its own sent a held step (a briefing) once per instance, took
        another's alert being sent for one a crash left unsure, and opened incidents twice."""
        self._pauses = tuple(pauses_s)
        self._late_after_s = late_after_s
        self.book = IncidentBook(engine)
        self._log = AlertLog(engine)
        self._timeline = Timeline(engine)
        self._channels = {None: channels(settings.recipients(""))} | {
            rid: channels(settings.recipients(rid)) for rid in settings.releases
        }
        self._readings: dict[str, Reading] = {}
        self._releases: dict[str, Release] = {}
        self._releases_mark: tuple[object, ...] = ()
        self._synced: dict[str, dict[str, Problem]] = {}
        self._passed: dict[str, dict[str, Problem]] = {}  # came and went: not yet in the book
        self._files: tuple[BrokenFile, ...] = ()
        self._file_since: dict[str, dt.datetime] = {}
        self._sending: dict[int, asyncio.Task[None]] = {}
        self._mine: set[int] = set()  # the messages this process started sending
        self._claiming = asyncio.Lock()
        self._syncing = Tasks()
        self._turns = asyncio.Semaphore(SYNCS)
        self.notices = Notices(engine, notice or NoticeSettings(), zone, clock)
        self.gates = Gates(engine, gates or {}, clock, pauses_s)
        self.preflights = Preflights(engine, clock, preflight)
        self.silent = SilentAgents(engine, web or WebSettings(), zone)
        self.nudge = asyncio.Event()
        respond.bind(self.nudge)

    @classmethod
    def for_config(cls, engine: AsyncEngine, config: Config, clock: Clock) -> Responder:
        """The responder ``onthedot.toml`` configures (its ``[notify]``); AdapterURLError for an
        alert address that cannot be used, before anything is published."""
        key = link_key(config.notify, config.root)
        late = config.policy.late_after_s
        return cls(
            engine,
            config.notify,
            clock,
            config.zone,
            key=key,
            late_after_s=late,
            notice=config.notice,
            gates=config.gates,
            preflight=checker(config.verify, late, clock),
            web=config.web,
        )

    # --- looking ------------------------------------------------------------------------------

    def file_problems(self, problems: tuple[BrokenFile, ...]) -> None:
        """The scheduler's release files it cannot read (its ``on_problems``)."""
        self._files = problems
        self.nudge.set()

    async def tick(self) -> None:
        """One look, its incidents brought up to date before it returns (tests, a command)."""
        await self.look()
        await self._syncing.wait()

    async def look(self) -> None:
        """One look: read, start bringing the incidents up to date, send what is due."""
        now = self._clock.now()
        watched = await self._watched(now)
        seen = {r.id: self._reading(r).last_seq for r in watched}
        moved = await self._timeline.moved(seen, of=READ)  # two queries for every release
        found = {r.id: await self._read(r, moved.get(r.id), now) for r in watched}
        for release_id, last_seq in seen.items():
            passed = self._readings[release_id].passed(now)
            gone = {k: p for k, p in passed.items() if k not in found[release_id]}
            if gone and last_seq:  # (a first look reads the history: no incident of the past)
                self._passed[release_id] = gone | self._passed.get(release_id, {})
        live = {r.id: self._readings[r.id].live_at for r in watched}
        for release_id, problem in (await self.silent.look(watched, now, live)).items():
            found[release_id]["vantage"] = problem  # an agent that stopped posting
        changed = {
            rid: f for rid, f in found.items() if f != self._synced.get(rid) or rid in self._passed
        }
        self._sync(changed, now)
        await self._sync_files(now)
        await self._alert(now)

    async def _watched(self, now: dt.datetime) -> list[Release]:
        """The releases from a day before their release time to a day after; the list is read
        again when a release was added or changed (one small query tells)."""
        async with self._engine.connect() as conn:
            mark = (await conn.execute(select(func.count(), func.max(releases.c.updated_at)))).one()
        if tuple(mark) != self._releases_mark:
            self._releases = {r.id: r for r in await ReleaseRepository(self._engine).all()}
            self._releases_mark = tuple(mark)
        return [
            r
            for r in self._releases.values()
            if r.release_at - WATCHED_BEFORE <= now <= r.release_at + WATCHED_AFTER
        ]

    def _reading(self, release: Release) -> Reading:
        reading = self._readings.setdefault(
            release.id, Reading(release.release_at, self._late_after_s)
        )
        reading.release_at = release.release_at
        reading.external = release.published_by is not None
        return reading

    async def _read(
        self, release: Release, moved: tuple[int, list[Event]] | None, now: dt.datetime
    ) -> dict[str, Problem]:
        """Feed ``release``'s new events (``moved``: its newest ``seq`` and the events of the
        kinds read, None: nothing new); the problems it has now."""
        reading = self._reading(release)
        head, new = moved or (0, [])
        for event in new:
            reading.feed(event)
        reading.last_seq = max(reading.last_seq, head)
        self.notices.feed(release.id, new)
        self.gates.feed(release.id, new)
        self.preflights.feed(release.id, new)
        self.preflights.look(release, now)
        found = reading.problems(now) | self.notices.look(release, now)
        return found | await self.gates.look(release, now)

    def _sync(self, changed: Mapping[str, dict[str, Problem]], now: dt.datetime) -> None:
        """Start bringing the incidents of the releases whose problems changed up to date, each
        in a task of its own, ``SYNCS`` at a time: on a crowded morning each waits its turn to
        write, and the next look reads the other releases meanwhile. A release still being
        brought up to date is left to a later look. A problem that came and went since the last
        look is opened, then resolved."""
        for release_id, found in changed.items():
            if not self._syncing.busy(release_id):
                passed = self._passed.pop(release_id, {})
                steps = [passed | found, found] if passed else [found]
                self._syncing.start(release_id, self._sync_one(release_id, steps, now, passed))

    async def _sync_one(
        self,
        release_id: str,
        steps: Sequence[dict[str, Problem]],
        now: dt.datetime,
        passed: dict[str, Problem],
    ) -> None:
        """Bring one release's incidents up to date; if that fails, what came and went is kept
        for the next look (it is not lost with the failed write)."""
        found = steps[-1]
        try:
            async with self._turns:
                moved = []
                for problems in steps:
                    moved += await self.book.sync(release_id, problems, now, _RELEASE_PROBLEMS)
            self._synced[release_id] = found
            if moved:  # alerted now, not at the end of a look
                await self._alert_about(moved, now)
        except OnthedotError as exc:  # the store busy: a later look tries again
            self._passed[release_id] = passed | self._passed.get(release_id, {})
            log.error("incidents not brought up to date", release=release_id, error=str(exc))
        except Exception:  # a bug must not stop the other releases' alerts
            self._passed[release_id] = passed | self._passed.get(release_id, {})
            log.exception("incidents not brought up to date", release=release_id)

    async def _sync_files(self, now: dt.datetime) -> None:
        grouped: dict[str, list[BrokenFile]] = {}
        for problem in self._files:
            grouped.setdefault(problem.kept or FILES_ID, []).append(problem)
        known = {rid for rid, found in self._synced.items() if "file" in found}
        for release_id in known | set(grouped):
            found = {}
            if release_id in grouped:
                since = self._file_since.setdefault(release_id, now)
                found = {"file": _file_problem(grouped[release_id], since)}
            else:
                self._file_since.pop(release_id, None)
            synced = self._synced.setdefault(release_id, {})
            if found.get("file") != synced.get("file"):
                await self.book.sync(release_id, found, now, ("file",))
                synced.pop("file", None)
                synced.update(found)

    # --- alerting -----------------------------------------------------------------------------

    async def _alert(self, now: dt.datetime) -> None:
        """The messages due about every incident active or changed in the last day."""
        await self._alert_about(await self.book.changed_since(now - dt.timedelta(days=1)), now)

    async def _alert_about(self, found: Sequence[Incident], now: dt.datetime) -> None:
        """Claim the messages due about ``found`` (one query for those already claimed, one
        transaction for the new ones) and start sending each; one caller at a time."""
        async with self._claiming:
            await self._claim(found, now)

    async def _claim(self, found: Sequence[Incident], now: dt.datetime) -> None:
        known = await self._log.known([i.id for i in found])
        alerted: dict[tuple[int, int], set[str]] = {}
        for key in known:
            if key.state == "opened":
                alerted.setdefault((key.incident, key.round), set()).add(key.role)
        wanted: dict[MessageKey, tuple[Incident, Channel]] = {}
        for incident in found:
            already = alerted.get((incident.id, incident.round), set())
            for role, state in due(incident, self._settings.escalate, now, already):
                for chan in self._channels_of(incident.release_id).get(role, []):
                    key = MessageKey(incident.id, incident.round, state, chan.role, chan.index)
                    wanted[key] = (incident, chan)
        fresh = {key: chan.masked for key, (_, chan) in wanted.items() if key not in known}
        claims = known | await self._log.claim(fresh, now)
        for key, (incident, chan) in wanted.items():
            await self._start(claims[key], incident, key.state, chan, now)

    def _channels_of(self, release_id: str) -> Mapping[str, list[Channel]]:
        return self._channels.get(release_id) or self._channels[None]

    async def _start(
        self, claim: Claim, incident: Incident, state: str, chan: Channel, now: dt.datetime
    ) -> None:
        """Send the claimed message, unless it is being sent, was sent, or may have been (a
        stopped process left it ``sending``: it is marked unsure, never sent twice)."""
        if claim.id in self._sending or claim.id in self._mine:
            return
        if claim.status == SENDING:  # left so by a process that stopped
            await self._unsure(claim.id, incident, state, chan, now)
            return
        if claim.status not in ("new", *RESUMABLE):
            return
        message = self._message(incident, state, chan.role, now)
        first = 1 if claim.status == "new" else 0  # a new claim is marked as its first attempt
        self._mine.add(claim.id)
        task = asyncio.create_task(self._deliver(claim.id, incident, state, chan, message, first))
        self._sending[claim.id] = task
        task.add_done_callback(partial(self._sent, claim.id))

    async def _unsure(
        self, alert_id: int, incident: Incident, state: str, chan: Channel, now: dt.datetime
    ) -> None:
        error = "onthedot stopped while sending it, so it may have arrived; it is not sent twice"
        about = {"incident": incident.id, "state": state, "role": chan.role, "to": chan.masked}
        data = {**about, "attempt": 0, "error": error, "final": True}
        mark = marker(alert_id, UNSURE, 0, error, now)
        await self._timeline.append(
            incident.release_id, kinds.ALERT_FAILED, data, at=now, with_=mark
        )
        log.warning("alert.unsure", release=incident.release_id, **data)

    def _sent(self, alert_id: int, _task: asyncio.Task[None]) -> None:
        self._sending.pop(alert_id, None)

    def _message(self, incident: Incident, state: str, role: str, now: dt.datetime) -> Message:
        dashboard = self._settings.dashboard
        ack_url = None
        if dashboard and self._key is not None:
            ack_url = self._key.url(dashboard, Link(incident.id, role, expiry(now, self._settings)))
        release = self._releases.get(incident.release_id)
        return compose(incident, state, release, self._zone, dashboard=dashboard, ack_url=ack_url)

    async def _deliver(
        self,
        alert_id: int,
        incident: Incident,
        state: str,
        chan: Channel,
        message: Message,
        marked: int,
    ) -> None:
        """Send, ``ATTEMPTS`` tries; each is marked ``sending`` before it starts (``marked``: the
        attempts already marked so), its outcome recorded with the event that says it. The store
        out of reach: a later look takes the message up again from what the store says of it
        (not sent yet: sent then; maybe sent: never twice). Any other error (SQLAlchemy's own,
        e.g. "database is locked" once SQLite's busy timeout ran out, or a bug) is logged for IT
        and left to a later look the same way: a message still in ``_mine`` would never be taken
        up again by this process, nor shown as failed."""
        try:
            await self._tries(alert_id, incident, state, chan, message, marked)
        except StoreError as exc:
            self._mine.discard(alert_id)
            log.error("alert not recorded, taken up again later", alert=alert_id, error=str(exc))
        except Exception:
            self._mine.discard(alert_id)
            log.exception("alert delivery crashed, taken up again later", alert=alert_id)

    async def _tries(
        self,
        alert_id: int,
        incident: Incident,
        state: str,
        chan: Channel,
        message: Message,
        marked: int,
    ) -> None:
        about = {"incident": incident.id, "state": state, "role": chan.role, "to": chan.masked}
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > marked:
                await self._log.mark(alert_id, SENDING, attempt, "", self._clock.now())
            try:
                await chan.send(message.title, message.body)
            except AlertError as exc:
                final = attempt == ATTEMPTS
                await self._record_failure(alert_id, incident, about, attempt, str(exc), final)
                if final:
                    return
                await asyncio.sleep(self._pauses[min(attempt, len(self._pauses)) - 1])
            else:
                now = self._clock.now()
                mark = marker(alert_id, SENT, attempt, "", now)
                await self._timeline.append(
                    incident.release_id, kinds.ALERT_SENT, about, at=now, with_=mark
                )
                return

    async def _record_failure(
        self,
        alert_id: int,
        incident: Incident,
        about: dict[str, Any],
        attempt: int,
        error: str,
        final: bool,
    ) -> None:
        now = self._clock.now()
        status = FAILED if final else RETRYING
        data = {**about, "attempt": attempt, "error": error, "final": final}
        mark = marker(alert_id, status, attempt, error, now)
        await self._timeline.append(
            incident.release_id, kinds.ALERT_FAILED, data, at=now, with_=mark
        )
        log.warning("alert.failed", release=incident.release_id, **data)

    # --- running ------------------------------------------------------------------------------

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if self.leads():
                    await self.look()
            except OnthedotError as exc:  # the store busy or away: the next look tries again
                log.error("responder look failed, trying again", error=str(exc))
            except Exception:  # a bug must not stop the alerts of the next look
                log.exception("responder look crashed")
            if _stop_asked():  # (a driver may turn the stop into an error while it connects)
                raise asyncio.CancelledError
            try:  # (not wait_for: on Python 3.11 it can swallow a stop that comes as it times out)
                async with asyncio.timeout(self.look_every_s):
                    await self.nudge.wait()
            except TimeoutError:
                pass
            gap = min(LOOK_GAP_S, self.look_every_s)
            await asyncio.sleep(max(0.0, started + gap - loop.time()))
            self.nudge.clear()

    async def catch_up(self) -> None:
        """One last look once ``run_forever`` was stopped (a clean stop, after publishing was):
        what was recorded since the look before, which ``LOOK_GAP_S`` may have held back, is
        read and its incidents brought up to date, so that the store does not keep an incident
        the record no longer shows (the origin answering again just before a release was done)
        until the next start. Bounded by ``CATCH_UP_S``; a store away is said, not raised.
        Not on a standby (``leads``)."""
        if not self.leads():
            return
        try:
            async with asyncio.timeout(CATCH_UP_S):
                await self.tick()
        except (OnthedotError, TimeoutError) as exc:
            log.error("incidents not brought up to date at the stop", error=str(exc) or "timeout")

    async def sent(self) -> None:
        """Wait for every message being sent (tests, and a clean stop)."""
        await self._syncing.wait()
        while self._sending:
            await asyncio.gather(*self._sending.values(), return_exceptions=True)
        await self.notices.tasks.wait()
        await self.gates.tasks.wait()
        await self.preflights.tasks.wait()

    async def aclose(self) -> None:
        respond.bind(None)
        for task in self._sending.values():
            task.cancel()
        await asyncio.gather(*self._sending.values(), return_exceptions=True)
        await self._syncing.cancel()
        await self.notices.tasks.cancel()
        await self.gates.tasks.cancel()
        await self.preflights.tasks.cancel()


def _stop_asked() -> bool:
    """Whether this task was asked to stop, even if what it awaited answered with an error."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _file_problem(problems: Sequence[BrokenFile], since: dt.datetime) -> Problem:
    kept = [p.kept for p in problems if p.kept]
    what = (
        "it is still published as it was last read, but a change to it is not taken up"
        if kept
        else "a release in it is not published until it is corrected"
    )
    names = ", ".join(p.file for p in problems)
    sentence = f"The release file {names} cannot be read, so {what}: correct the file."
    return Problem("file", since, tuple(p.file for p in problems), sentence, "")


def _always() -> bool:
    return True
