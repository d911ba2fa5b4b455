"""The demo's two acts, on a website of its own (``website``), told through a ``Stage``.

Act 1, "18 December 2019, as it happened": the seed's release goes up by FTP at 09:30 with no
purger; the watch finds the cache serving last quarter's files and says why, the responder alerts
and escalates by e-mail, posts the notice to users and holds the briefing for officials; at 10:35
IT purges the cache (the replay's clock makes the hour pass in seconds); the release is live, the
briefing goes; the people's steps are recorded and the breach report (DOCX, HTML) and the
statement are written. Act 2, "with onthedot from the start": preflight, before the release time,
warns that the cache would hide the update and says the fix; the purger is configured; the
release goes live on the dot. Each act returns what it saw, and whether it behaved as described.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock, ShiftedClock
from onthedot.config import Config, load_config, load_release
from onthedot.demo import seed
from onthedot.demo.replay import RacingClock
from onthedot.demo.website import Website
from onthedot.model import Release
from onthedot.morning.watch import WatchPlan
from onthedot.record import kinds
from onthedot.record.checkpoint import anchor_for, bind
from onthedot.record.people import PEOPLE_KINDS, event_data
from onthedot.record.report import assess, build, render
from onthedot.record.statement import statement_html
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.responder import Responder
from onthedot.runtime import prober_for, publisher_for
from onthedot.sandbox.mail import Mailbox
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.preflight import PreflightReport, preflight

AHEAD_S = 8.0
"""How far ahead of the start the replay's 09:30 is: the countdown."""
STALE_WITHIN_S = 2.0
LIVE_WITHIN_S = 2.0
PREVENTED_ID = "fatal-injuries-2019-apr-sep-with-onthedot"
REPORT_DAY = dt.date(2019, 12, 19)


class Stage(Protocol):
    """Where the acts tell what happens (Rich for people: ``demo.show``)."""

    def heading(self, text: str) -> None: ...

    def say(self, text: str, style: str = "") -> None: ...

    async def countdown(self, clock: Clock, until: dt.datetime) -> None: ...

    def event(self, at: str, label: str, sentence: str) -> None: ...

    def mail(self, to: str, subject: str, body: str) -> None: ...

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...


@dataclass
class ActResult:
    """What an act saw, and the claims it makes about it (each True when it held)."""

    name: str
    claims: dict[str, bool] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.claims.values())

    def failed(self) -> list[str]:
        return [claim for claim, held in self.claims.items() if not held]


@dataclass
class Demo:
    """The demo's folder (its onthedot.toml, release files, store and reports), its mail sink."""

    folder: Path
    box: Mailbox
    mailto: Callable[[str], str]

    @property
    def config_path(self) -> Path:
        return self.folder / "onthedot.toml"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'onthedot.db'}"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write_config(self) -> None:
        lists = {
            "statistician": "jane.smith@example.org",
            "publishing": "web-publishing@hse.example.org",
            "it": "it-service-desk@hse.example.org",
            "head_of_profession": "hop@hse.example.org",
        }
        notify = "\n".join(f'{role} = ["{self.mailto(to)}"]' for role, to in lists.items())
        self.config_path.write_text(
            "# Written by onthedot demo: the two acts' releases, on this machine's own servers.\n"
            'releases = ["releases/*/*.toml"]\n'
            'database = "sqlite:///onthedot.db"\n\n'
            '[evidence]\nkey = "timeline.key"\n\n'
            "[verify.caches]\nvarnish = {default_ttl = 3600}\n\n"
            f"[notify]\n{notify}\nescalate = {{head_of_profession = 300}}\n\n"
            "[notice]\nafter_s = 120\n",
            encoding="utf-8",
        )

    def briefing(self) -> str:
        return (
            f'\n[[gate]]\nname = "{seed.BRIEFING}"\n'
            f'send = "{self.mailto("officials-briefing@hse.example.org")}"\n'
            'message = "The quarterly statistics on fatal injuries at work are now published."\n'
        )

    async def store(self) -> AsyncEngine:
        engine = await open_store(self.database_url)
        config = self.config()
        bind(engine, anchor_for(config.evidence, config.root, self.database_url))
        return engine


class Follower:
    """Tells the stage each new event of a release and each new message in the mail sink."""

    def __init__(self, engine: AsyncEngine, release: Release, box: Mailbox, stage: Stage) -> None:
        self._timeline, self._release, self._box, self._stage = (
            Timeline(engine),
            release,
            box,
            stage,
        )
        self._seq, self._mails = 0, 0

    async def follow(self) -> None:
        while True:
            await self.catch_up()
            await asyncio.sleep(0.2)

    async def catch_up(self) -> None:
        from onthedot.record.narrative import describe, label

        for event in await self._timeline.events(self._release.id, after=self._seq):
            self._seq = event.seq
            if event.kind not in QUIET:
                said = _incident(event) or describe(event, self._release)
                self._stage.event(clock_time(event), label(event.kind), said)
        for (subject, body), to in zip(
            self._box.texts()[self._mails :], self._box.recipients()[self._mails :], strict=True
        ):
            self._mails += 1
            self._stage.mail(to, subject, body)


QUIET = {kinds.RELEASE_SYNCED, kinds.CLOCK_OFFSET, kinds.PUBLISH_WAITING, kinds.ALERT_SENT}
"""Not told as they happen (an alert's e-mail is shown instead)."""


def clock_time(event: Event) -> str:
    """When it happened, London time: to the second for what onthedot recorded, to the minute for
    what a person entered (as the report gives them)."""
    from onthedot.calendar.timeutil import to_local
    from onthedot.record.narrative import by_a_person

    return to_local(event.at).strftime("%H:%M" if by_a_person(event) else "%H:%M:%S")


def _incident(event: Event) -> str | None:
    """What an incident event is about (its title), which the timeline's sentence leaves out."""
    if event.kind in (kinds.INCIDENT_OPENED, kinds.INCIDENT_RESOLVED):
        what = "Opened" if event.kind == kinds.INCIDENT_OPENED else "Resolved"
        title = str(event.data.get("title") or "")
        return f"{what}: {title}" if title else f"{what}: the problem is no longer seen."
    return None


async def _events(engine: AsyncEngine, release_id: str, kind: str | None = None) -> list[Event]:
    return await Timeline(engine).events(release_id, kind)


async def _wait_for(check: Callable[[], object], seconds: float) -> bool:
    """Poll an async ``check`` until it is true or ``seconds`` pass."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found or loop.time() >= until:
            return bool(found)
        await asyncio.sleep(0.2)


# --- act 1 ------------------------------------------------------------------------------------


async def act_one(demo: Demo, site: Website, stage: Stage) -> ActResult:
    """18 December 2019, as it happened."""
    stage.heading('Act 1: "18 December 2019, as it happened"')
    site.fill({seed.PATH: seed.OLD, seed.PAGE: seed.PAGE_OLD})
    stage.say(
        f"The website {site.cache.url} (a cache keeping files for an hour, in front of the web "
        "server) has served last quarter's spreadsheet and page all morning. At 09:30 the new "
        "ones go up by FTP, and nobody has set the cache to be cleared."
    )
    folder = demo.folder / "releases" / "act1"
    path = seed.write_release(folder, site.addresses(), with_page=True, extra=demo.briefing())
    config = demo.config()
    release = load_release(path, config)
    engine = await demo.store()
    result = ActResult("act 1")
    try:
        await ReleaseRepository(engine).sync(release, actor="demo")
        urls = [site.cache.url + seed.PATH, site.cache.url + seed.PAGE]
        start = seed.RELEASE_AT - dt.timedelta(seconds=AHEAD_S)
        clock = RacingClock(start, urls, purge_at=seed.utc(10, 35))
        live = await _morning(engine, config, release, clock, demo, stage)
        await _judge_morning(engine, release, demo, result, live)
        await _record_people(engine, release, config)
        result.files = await _write_evidence(engine, release, config, demo.folder / "evidence")
        result.claims["the breach report was written"] = result.files["report"].stat().st_size > 0
        await _show_timeline(engine, release, stage)
    finally:
        await engine.dispose()
    return result


async def _morning(
    engine: AsyncEngine,
    config: Config,
    release: Release,
    clock: RacingClock,
    demo: Demo,
    stage: Stage,
) -> bool:
    """Publish at 09:30 and watch until live, the responder alongside; the hour passes fast once
    the first alert is out. True when the watch saw the release live."""
    responder = Responder.for_config(engine, config, clock)
    replies = asyncio.create_task(responder.run_forever())
    follower = Follower(engine, release, demo.box, stage)
    following = asyncio.create_task(follower.follow())

    async def the_hour_passes() -> None:
        await _wait_for(lambda: clock.now() >= seed.utc(9, 30, 5) and demo.box.messages, 15)
        await _wait_for(lambda: clock.now() >= seed.utc(9, 30, 8), 10)
        await _say_stale(engine, release, stage)
        stage.say("... the replay's clock now runs 240 times faster until IT purges the cache.")
        clock.race(240.0, slow_rate=30.0)
        await _hour_passing(engine, release, clock, stage)

    try:
        plan = WatchPlan(until_live_s=config.publish.watch_until_live_s)
        async with publisher_for(
            engine, release, clock, plan=plan, settings=config.verify
        ) as publisher:
            countdown = asyncio.create_task(stage.countdown(clock, release.release_at))
            racing = asyncio.create_task(the_hour_passes())
            outcome = await publisher.publish(release)
            await asyncio.gather(countdown, racing)
        released = lambda: _events(engine, release.id, kinds.GATE_RELEASED)  # noqa: E731
        await _wait_for(released, 20)
        await _wait_for(lambda: _events(engine, release.id, kinds.NOTICE_REPLACED), 10)
        await responder.sent()
        await follower.catch_up()
    finally:
        for task in (replies, following):
            task.cancel()
        await asyncio.gather(replies, following, return_exceptions=True)
        await responder.aclose()
    return outcome.live


async def _hour_passing(engine: AsyncEngine, release: Release, clock: Clock, stage: Stage) -> None:
    """Every ten minutes of the replay until the release is live, where things stand."""
    from onthedot.calendar.timeutil import to_local

    told = clock.now()
    while not await _events(engine, release.id, kinds.VERIFY_ALL_LIVE):
        now = clock.now()
        if now - told >= dt.timedelta(minutes=10):
            told = now
            late = int((now - release.release_at).total_seconds() // 60)
            notice = await _events(engine, release.id, kinds.NOTICE_PUBLISHED)
            stage.say(
                f"{to_local(now):%H:%M}, {late} minutes late: the public still gets last "
                "quarter's files from the cache"
                + ("; the notice to users is up." if notice else "."),
                "dim",
            )
        await asyncio.sleep(0.1)


def _stale(events: Sequence[Event], release: Release) -> list[Event]:
    """The checks from the release time on that found the public given the previous version."""
    return [
        e
        for e in events
        if e.kind == kinds.VERIFY_RESULT
        and e.data.get("status") == "stale"
        and e.at >= release.release_at
    ]


async def _say_stale(engine: AsyncEngine, release: Release, stage: Stage) -> None:
    stale = _stale(await _events(engine, release.id, kinds.VERIFY_RESULT), release)
    if stale:
        after = (stale[0].at - release.release_at).total_seconds()
        said = str(stale[0].data.get("diagnosis") or "")
        stage.say(f"The edge was stale {after:.1f} s after 09:30. {said}", "bold red")


async def _judge_morning(
    engine: AsyncEngine, release: Release, demo: Demo, result: ActResult, live: bool
) -> None:
    box = demo.box
    events = await _events(engine, release.id)
    t = release.release_at
    stale = _stale(events, release)
    first_stale = (stale[0].at - t).total_seconds() if stale else None
    sent = [e.data for e in events if e.kind == kinds.ALERT_SENT]
    notices = [e for e in events if e.kind == kinds.NOTICE_PUBLISHED and e.at >= t]
    held = [e for e in events if e.kind == kinds.GATE_HELD]
    released = [e for e in events if e.kind == kinds.GATE_RELEASED]
    first_live = [e.at for e in events if e.kind == kinds.VERIFY_ALL_LIVE]
    result.claims.update(
        {
            f"the edge was reported stale within {STALE_WITHIN_S:.0f} s of 09:30": (
                first_stale is not None and first_stale <= STALE_WITHIN_S
            ),
            "the diagnosis named the cache": bool(stale) and stale[0].data.get("layer") == "cache",
            "an alert e-mail reached the statistician": any(
                "jane.smith@example.org" in to for to in box.recipients()
            ),
            "the Head of Profession was alerted when no one acknowledged": any(
                a.get("role") == "head_of_profession" for a in sent
            ),
            "the notice to users was posted": bool(notices),
            "the officials' briefing was held until live": bool(held)
            and bool(released)
            and bool(first_live)
            and released[0].at >= first_live[0],
            "the release went live": live,
        }
    )


async def _record_people(engine: AsyncEngine, release: Release, config: Config) -> None:
    """What people did that morning and found after it, as the seed tells it (the notice and the
    held briefing were onthedot's own this time)."""
    from onthedot.calendar.timeutil import local_to_utc

    timeline = Timeline(engine)
    day = seed.RELEASE_AT.date()
    for step in [s for s in seed.MORNING if not s.by_hand] + seed.INQUIRY:
        hour, minute = (int(part) for part in step.at.split(":"))
        at = local_to_utc(dt.datetime.combine(day, dt.time(hour, minute)), config.zone)
        data = event_data(step.kind, step.by, step.role, step.text, "")
        await timeline.append(
            release.id, PEOPLE_KINDS[step.kind], data, actor=step.by, source="cli", at=at
        )


async def _write_evidence(
    engine: AsyncEngine, release: Release, config: Config, folder: Path
) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a = await assess(engine, release, policy=config.policy)
    drafted = build(a, today=REPORT_DAY, zone=config.zone)
    files = {
        "report": folder / "breach-report.docx",
        "report (HTML)": folder / "breach-report.html",
        "statement": folder / "statement.html",
    }
    files["report"].write_bytes(render(drafted, "docx"))
    files["report (HTML)"].write_bytes(render(drafted, "html"))
    files["statement"].write_text(
        statement_html(a, config.zone, config.statement), encoding="utf-8"
    )
    return files


async def _show_timeline(engine: AsyncEngine, release: Release, stage: Stage) -> None:
    from onthedot.record.narrative import describe, label, who

    rows = [
        (clock_time(e), who(e), label(e.kind), _incident(e) or describe(e, release))
        for e in await _events(engine, release.id)
        if e.kind not in QUIET and e.kind != kinds.VERIFY_RESULT
    ]
    stage.table("The timeline (hash-chained)", ("When", "Who", "What", ""), rows)


# --- act 2 ------------------------------------------------------------------------------------


async def act_two(demo: Demo, site: Website, stage: Stage) -> ActResult:
    """With onthedot from the start: preflight, the purger, live on the dot."""
    stage.heading('Act 2: "with onthedot from the start"')
    site.fill({seed.PATH: seed.OLD, seed.PAGE: seed.PAGE_OLD})
    folder = demo.folder / "releases" / "act2"
    config = demo.config()
    result = ActResult("act 2")
    start = seed.RELEASE_AT - dt.timedelta(seconds=AHEAD_S)
    clock = ShiftedClock(start)
    path = _prevented(folder, site, demo, purge=False)
    warned = await _preflight(load_release(path, config), config, clock, stage)
    result.claims["preflight warned that the cache would hide the update"] = not warned.ok
    stage.say("The fix is taken: the cache's purger is configured for the release.", "bold")
    path = _prevented(folder, site, demo, purge=True)
    release = load_release(path, config)
    cleared = await _preflight(release, config, clock, stage)
    result.claims["preflight passed once the purger was configured"] = cleared.ok
    engine = await demo.store()
    try:
        await ReleaseRepository(engine).sync(release, actor="demo")
        follower = Follower(engine, release, demo.box, stage)
        following = asyncio.create_task(follower.follow())
        try:
            async with publisher_for(
                engine, release, clock, plan=WatchPlan(), settings=config.verify
            ) as publisher:
                countdown = asyncio.create_task(stage.countdown(clock, release.release_at))
                outcome = await publisher.publish(release)
                await countdown
            await follower.catch_up()
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        lag = await _edge_lag(engine, release)
        result.claims["the release went live"] = outcome.live
        result.claims[f"the edge was live within {LIVE_WITHIN_S:.0f} s of 09:30"] = (
            lag is not None and lag <= LIVE_WITHIN_S
        )
        if lag is not None:
            stage.say(f"Edge lag: the public got the new files {lag:.2f} s after 09:30.", "bold")
    finally:
        await engine.dispose()
    return result


def _prevented(folder: Path, site: Website, demo: Demo, *, purge: bool) -> Path:
    return seed.write_release(
        folder,
        site.addresses(purge=purge),
        release_id=PREVENTED_ID,
        with_page=True,
        extra=demo.briefing(),
    )


async def _preflight(
    release: Release, config: Config, clock: Clock, stage: Stage
) -> PreflightReport:
    left = (release.release_at - clock.now()).total_seconds()
    stage.say(
        f"Preflight, {left:.0f} s before 09:30: what would the public get at the release time?"
    )
    async with prober_for(release, config.verify) as prober:
        report = await preflight(
            release,
            prober,
            now=clock.now(),
            product_defaults=config.verify.caches.models(),
            tolerance_s=config.policy.late_after_s,
        )
    rows = [
        (item["risk"], urlsplit(item["url"]).path, item["reason"], item["fix"] or "")
        for item in report.as_dict()["results"]
    ]
    stage.table("Preflight", ("Risk", "URL", "Reason", "Fix"), rows)
    return report


async def _edge_lag(engine: AsyncEngine, release: Release) -> float | None:
    """Seconds from the release time until every address was live at the edge."""
    live = await _events(engine, release.id, kinds.VERIFY_ALL_LIVE)
    return (live[0].at - release.release_at).total_seconds() if live else None


async def run_acts(demo: Demo, sites: Sequence[Website], stage: Stage) -> list[ActResult]:
    """Both acts, one after the other, each on its own website."""
    demo.write_config()
    return [await act_one(demo, sites[0], stage), await act_two(demo, sites[1], stage)]
