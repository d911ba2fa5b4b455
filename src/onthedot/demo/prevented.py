"""Act 2, "with onthedot from the start": a week before, a rehearsal on the live website with a
test file finds that the cache holds a change back; preflight, before the release time, warns that
the cache would hide the update and says the fix; the purger is configured; the release goes live
on the dot, and the edge lag is told."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock, ShiftedClock
from onthedot.config import Config, load_release
from onthedot.demo import seed
from onthedot.demo.folder import Demo
from onthedot.demo.replayed import AHEAD_S
from onthedot.demo.stage import ActResult, Follower, Stage, events_of
from onthedot.demo.website import Website
from onthedot.model import Release
from onthedot.morning import rehearsal
from onthedot.morning.watch import WatchPlan
from onthedot.record import kinds
from onthedot.runtime import prober_for, publisher_for, rehearse
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.preflight import PreflightReport, preflight

LIVE_WITHIN_S = 2.0
REHEARSAL_LIMIT_S = 4.0  # (the cache keeps the old file for an hour: no need to wait longer)
PREVENTED_ID = "fatal-injuries-2019-apr-sep-with-onthedot"


async def act_two(demo: Demo, site: Website, stage: Stage) -> ActResult:
    """With onthedot from the start: preflight, the purger, live on the dot."""
    stage.heading('Act 2: "with onthedot from the start"')
    site.fill({seed.PATH: seed.OLD, seed.PAGE: seed.PAGE_OLD})
    folder = demo.folder / "releases" / "act2"
    config = demo.config()
    result = ActResult("act 2")
    rehearsed = await _rehearse(demo, site, folder, config, stage)
    result.claims["a rehearsal a week before found the cache holding a change back"] = (
        not rehearsed.ok and "cache" in rehearsed.causes
    )
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


async def _rehearse(
    demo: Demo, site: Website, folder: Path, config: Config, stage: Stage
) -> rehearsal.Rehearsal:
    """The morning rehearsed on the act's website a week before, as it is set up then (no cache
    clearing): a test file changed there does not reach the public."""
    release = load_release(_prevented(folder, site, demo, purge=False), config)
    clock = ShiftedClock(seed.RELEASE_AT - dt.timedelta(days=7) + dt.timedelta(minutes=30))
    stage.say(
        "A week before: a rehearsal on the live website, with a test file put in place the way "
        "the release will go."
    )
    done = await rehearse(release, clock, config.verify, limit_s=REHEARSAL_LIMIT_S)
    for sentence in done.sentences():
        stage.say(sentence, "" if done.ok else "bold")
    return done


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
    live = await events_of(engine, release.id, kinds.VERIFY_ALL_LIVE)
    return (live[0].at - release.release_at).total_seconds() if live else None
