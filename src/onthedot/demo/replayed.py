"""Act 1, "18 December 2019, as it happened": the seed's release goes up by FTP at 09:30 with no
purger; the watch finds the cache serving last quarter's files and says why, the responder alerts
and escalates by e-mail, posts the notice to users and holds the briefing for officials; at 10:35
IT purges the cache (the replay's clock makes the hour pass in seconds); the release is live, the
briefing goes; the people's steps are recorded and the breach report (DOCX, HTML) and the
statement are written."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock
from onthedot.config import Config, load_release
from onthedot.demo import seed
from onthedot.demo.folder import Demo
from onthedot.demo.replay import RacingClock, watch_plan
from onthedot.demo.stage import (
    QUIET,
    ActResult,
    Follower,
    Stage,
    clock_time,
    events_of,
    incident_line,
    wait_for,
)
from onthedot.demo.website import Website
from onthedot.model import Release
from onthedot.record import kinds
from onthedot.record.people import PEOPLE_KINDS, event_data
from onthedot.record.report import assess, build, render
from onthedot.record.statement import statement_html
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.responder import Responder
from onthedot.runtime import publisher_for
from onthedot.store.releases import ReleaseRepository

AHEAD_S = 8.0
"""How far ahead of the start the replay's 09:30 is: the countdown."""
STALE_WITHIN_S = 2.0
REPORT_DAY = dt.date(2019, 12, 19)


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
        await wait_for(lambda: clock.now() >= seed.utc(9, 30, 5) and demo.box.messages, 15)
        await wait_for(lambda: clock.now() >= seed.utc(9, 30, 8), 10)
        await _say_stale(engine, release, stage)
        stage.say("... the replay's clock now runs 240 times faster until IT purges the cache.")
        clock.race()
        await _hour_passing(engine, release, clock, stage)

    try:
        plan = watch_plan(config.publish.watch_until_live_s)
        async with publisher_for(
            engine, release, clock, plan=plan, settings=config.verify
        ) as publisher:
            countdown = asyncio.create_task(stage.countdown(clock, release.release_at))
            racing = asyncio.create_task(the_hour_passes())
            outcome = await publisher.publish(release)
            await asyncio.gather(countdown, racing)
        released = lambda: events_of(engine, release.id, kinds.GATE_RELEASED)  # noqa: E731
        await wait_for(released, 20)
        await wait_for(lambda: events_of(engine, release.id, kinds.NOTICE_REPLACED), 10)
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
    while not await events_of(engine, release.id, kinds.VERIFY_ALL_LIVE):
        now = clock.now()
        if now - told >= dt.timedelta(minutes=10):
            told = now
            late = int((now - release.release_at).total_seconds() // 60)
            notice = await events_of(engine, release.id, kinds.NOTICE_PUBLISHED)
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
    stale = _stale(await events_of(engine, release.id, kinds.VERIFY_RESULT), release)
    if stale:
        after = (stale[0].at - release.release_at).total_seconds()
        said = str(stale[0].data.get("diagnosis") or "")
        stage.say(f"The edge was stale {after:.1f} s after 09:30. {said}", "bold red")


async def _judge_morning(
    engine: AsyncEngine, release: Release, demo: Demo, result: ActResult, live: bool
) -> None:
    box = demo.box
    events = await events_of(engine, release.id)
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
        (clock_time(e), who(e), label(e.kind), incident_line(e) or describe(e, release))
        for e in await events_of(engine, release.id)
        if e.kind not in QUIET and e.kind != kinds.VERIFY_RESULT
    ]
    stage.table("The timeline (hash-chained)", ("When", "Who", "What", ""), rows)
