"""A release GOV.UK publishes an hour early, or three minutes late, on 12 March 2026 at 09:30 (an
injected clock that runs faster than real time): the morning's leak probes and watch see it at
the right moment, the breach runs from and to the right times, and the report says what GOV.UK did
and when. A real nginx plays the CMS; its publishing is part of the clock (the first reading at or
after the moment publishes), so where it falls does not depend on how busy the machine is."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from onthedot.cli import app
from onthedot.clock import ShiftedClock
from onthedot.config import load_config, load_release
from onthedot.morning.watch import WatchPlan
from onthedot.record import kinds
from onthedot.record.breaches import read_result
from onthedot.record.timeline import Event, Timeline
from onthedot.runtime import publisher_for
from onthedot.store.db import open_store
from tests.e2e.cms import LANDING, Cms, write_external_release
from tests.e2e.helpers import cli, runner, write_config
from tests.servers.nginx import Nginx

pytestmark = [pytest.mark.services, pytest.mark.slow]

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)  # a Thursday; London is on GMT
RATE = 240.0  # an hour of the morning in 15 s
SLOW = (
    8.0  # around the CMS's moment and T: a leak probe or a sweep spans a few seconds, not minutes
)
SLOW_FOR = dt.timedelta(seconds=90)


class CmsClock(ShiftedClock):
    """The morning's clock from ``start``, RATE times real time, but SLOW within SLOW_FOR of the
    moment the CMS publishes and of T (so where a probe falls does not depend on how busy the
    machine is); the first reading at or after ``publish_at`` has the CMS publish before it
    returns."""

    def __init__(self, start: dt.datetime, cms: Cms, publish_at: dt.datetime) -> None:
        super().__init__(start, rate=RATE)
        self._cms, self._publish_at = cms, publish_at
        self._lock = threading.Lock()
        self.published = False
        slow = sorted((at - SLOW_FOR, at + SLOW_FOR) for at in (publish_at, T))
        self._spans = [(max(a, start), b) for a, b in slow if b > start]

    def _morning_time(self, real_s: float) -> dt.datetime:
        """The clock after ``real_s`` real seconds: through each slow span at SLOW."""
        at = self._start
        for slow_from, slow_to in self._spans:
            fast_s = max(0.0, (slow_from - at).total_seconds()) / RATE
            if real_s <= fast_s:
                return at + dt.timedelta(seconds=real_s * RATE)
            real_s -= fast_s
            at = max(at, slow_from)
            slow_s = (slow_to - at).total_seconds() / SLOW
            if real_s <= slow_s:
                return at + dt.timedelta(seconds=real_s * SLOW)
            real_s -= slow_s
            at = slow_to
        return at + dt.timedelta(seconds=real_s * RATE)

    async def sleep(self, seconds: float) -> None:
        until = self.now() + dt.timedelta(seconds=max(0.0, seconds))
        while (left := (until - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left / RATE, 0.01))

    def now(self) -> dt.datetime:
        at = self._morning_time(time.monotonic() - self._t0)
        if at >= self._publish_at and not self.published:
            with self._lock:
                if not self.published:
                    self._cms.publish()
                    self.published = True
        return at


async def morning(release_file: Path, config_path: Path, db: str, clock: CmsClock) -> None:
    config = load_config(config_path)
    release = load_release(release_file, config)
    engine = await open_store(db)
    try:
        async with publisher_for(
            engine, release, clock, plan=WatchPlan(), settings=config.verify
        ) as publisher:
            outcome = await publisher.publish(release)
        assert outcome.live, outcome.as_json()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("case", "start", "publish_at"),
    [
        ("an hour early", T - dt.timedelta(minutes=62), T - dt.timedelta(hours=1)),
        ("three minutes late", T - dt.timedelta(seconds=20), T + dt.timedelta(minutes=3)),
    ],
)
def test_gov_uk_publishing_early_or_late_is_seen_when_it_happens_and_reported(
    tmp_path: Path,
    webroot: Path,
    origin: Nginx,
    case: str,
    start: dt.datetime,
    publish_at: dt.datetime,
) -> None:
    cms = Cms(webroot)
    release_file = write_external_release(tmp_path / "rel", public=origin.url, release_at=T)
    config = write_config(tmp_path, "[policy]\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    clock = CmsClock(start, cms, publish_at)
    asyncio.run(morning(release_file, config, db, clock))

    events = asyncio.run(_events(db, "labour-market-march-2026"))
    results = [
        r for e in events if e.kind == kinds.VERIFY_RESULT if (r := read_result(e.data, e.at))
    ]
    page = [r for r in results if r.url.endswith(LANDING)]
    seen = min(r.checked_at for r in page if r.status.value in ("early", "live"))
    assert publish_at <= seen <= publish_at + dt.timedelta(seconds=75), (case, seen)
    assert [e.kind for e in events].count(kinds.PUBLISH_EXTERNAL) == 1
    assert not {kinds.PUBLISH_STAGED, kinds.PUBLISH_FLIPPED} & {e.kind for e in events}

    _, found = cli(db, "breaches", str(release_file), config=config)
    kinds_found = {b["kind"]: b for b in found["breaches"]}
    out = tmp_path / "report.md"
    done = runner.invoke(
        app,
        ["--config", str(config), "--database", db, "report", str(release_file), "--format", "md", "-o", str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.stdout
    report = out.read_text()
    if publish_at < T:
        breach = kinds_found["early"]
        assert dt.datetime.fromisoformat(breach["started_at"]) == seen
        assert breach["cause"] == "published early"
        assert "it was first seen published at 08:30, 1 hour before the release time" in report, (
            report
        )
    else:
        breach = kinds_found["late"]
        assert dt.datetime.fromisoformat(breach["started_at"]) == T
        assert dt.datetime.fromisoformat(breach["ended_at"]) >= publish_at
        assert breach["cause"] == "not published"
        assert "it was first seen published at 09:33, 3 minutes after the release time" in report, (
            report
        )
        assert "the system that publishes the release had not published it" in report
    assert "GOV.UK publishes this release" in report and "not onthedot" not in report


async def _events(db: str, release_id: str) -> list[Event]:
    engine = await open_store(db)
    try:
        return await Timeline(engine).events(release_id)
    finally:
        await engine.dispose()
