"""Bounded remediation after the release time: a real Varnish (1-hour TTL) in front of a real
nginx origin, its purges reached through a door the test opens and shuts; and the limits, the
release time and a person's close, with the in-memory target and purger."""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from hashlib import sha256
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.policy import Policy
from onthedot.clock import SYSTEM_CLOCK
from onthedot.config import load_release
from onthedot.errors import TargetUnreachable
from onthedot.model import CheckResult, Release, Status
from onthedot.morning.watch import WatchPlan
from onthedot.publish.purgers.memory import MemoryPurger
from onthedot.publish.purging import Purging
from onthedot.publish.staging import Staging
from onthedot.publish.targets.base import Staged
from onthedot.publish.targets.memory import MemoryTarget
from onthedot.record import kinds
from onthedot.record.narrative import TELLERS, Teller
from onthedot.record.report.actions import short_term
from onthedot.record.report.assess import gather
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.remediation import Fence, Remediation
from onthedot.runtime import publisher_for
from onthedot.settings import RemediateSettings
from onthedot.store.db import open_store
from onthedot.verify.verifier import VerifyReport
from tests.record.incident import at, record_2019
from tests.respond.conftest import MovedClock
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

OLD, NEW = b"old spreadsheet", b"new spreadsheet"
PATH = "/statistics/x.xlsx"
QUICK = RemediateSettings(purge_attempts=2, reflip_attempts=2, backoff_s=(0.3, 0.6))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    yield eng
    await eng.dispose()


class Door:
    """A TCP door to Varnish's purge port: shut, it drops every connection (a purge fails)."""

    def __init__(self, host: str, port: int, shut_for: int) -> None:
        self._to = (host, port)
        self.shut_for = shut_for  # connections dropped before the door opens
        self.port = free_port()

    async def __aenter__(self) -> Door:
        self._server = await asyncio.start_server(self._pass, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()

    async def _pass(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.shut_for != 0:
            self.shut_for -= 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._to)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:  # (loopback only)
        return bytes(answer.read())


def varnish_release(
    tmp_path: Path, webroot: Path, origin: Nginx, cache: Varnish, purge_port: int
) -> Release:
    (tmp_path / "x.xlsx").write_bytes(NEW)
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).replace(tzinfo=None, microsecond=0)
    path = tmp_path / "r.toml"
    path.write_text(
        f'id = "r"\ntitle = "T"\nproducer = "P"\nrelease_at = {at.isoformat()}+00:00\n'
        f'[site]\npublic = "http://{cache.host}:{cache.port}"\n'
        f'origin = "http://{origin.host}:{origin.port}"\n'
        f'target = "file://{webroot}"\n'
        f'purge = ["varnish://127.0.0.1:{purge_port}?attempts=1"]\n'
        f'[[artefact]]\nfile = "x.xlsx"\npath = "{PATH}"\n',
        encoding="utf-8",
    )
    return load_release(path)


async def publish(engine: AsyncEngine, release: Release, until_live_s: float) -> bool:
    plan = WatchPlan(leak_from_s=0.0, until_live_s=until_live_s)
    async with publisher_for(
        engine, release, SYSTEM_CLOCK, plan=plan, leak_probes=False, remediate=QUICK
    ) as publisher:
        return (await publisher.publish(release)).live


def public_old(webroot: Path, cache: Varnish) -> str:
    """The previous version in the origin and in Varnish's cache (1-hour TTL)."""
    (webroot / PATH.lstrip("/")).parent.mkdir(parents=True)
    (webroot / PATH.lstrip("/")).write_bytes(OLD)
    url = f"http://{cache.host}:{cache.port}{PATH}"
    assert fetch(url) == OLD
    return url


@pytest.mark.services
async def test_a_purge_that_failed_at_t_is_made_again_and_the_address_goes_live(
    engine: AsyncEngine, tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    url = public_old(webroot, varnish)
    async with Door(varnish.host, varnish.port, shut_for=1) as door:
        release = varnish_release(tmp_path, webroot, origin, varnish, door.port)
        live = await publish(engine, release, until_live_s=10.0)
    assert live and fetch(url) == NEW
    events = await Timeline(engine).events("r")
    remedies = [e for e in events if e.kind == kinds.REMEDY_PURGE]
    assert [(e.data["attempt"], e.data["outcome"], e.data["paths"]) for e in remedies] == [
        (1, "done", [PATH])
    ]
    assert remedies[0].at >= release.release_at + dt.timedelta(seconds=0.3)  # the backoff
    order = [e.kind for e in events]
    assert order.index(kinds.PURGE_FAILED) < order.index(kinds.REMEDY_PURGE)
    assert order.index(kinds.REMEDY_PURGE) < order.index(kinds.VERIFY_ALL_LIVE)


@pytest.mark.services
async def test_purging_that_cannot_help_stops_at_the_limit(
    engine: AsyncEngine, tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    url = public_old(webroot, varnish)
    async with Door(varnish.host, varnish.port, shut_for=-1) as door:  # never opens
        release = varnish_release(tmp_path, webroot, origin, varnish, door.port)
        live = await publish(engine, release, until_live_s=4.0)
    assert not live and fetch(url) == OLD
    events = await Timeline(engine).events("r")
    remedies = [e for e in events if e.kind == kinds.REMEDY_PURGE]
    assert [(e.data["attempt"], e.data["limit"], e.data["outcome"]) for e in remedies] == [
        (1, 2, "failed"),
        (2, 2, "failed"),
    ]
    # The pause runs from one attempt's start to the next's (an attempt is recorded once its
    # requests have answered, and the first may take longer than the second to fail), so it is
    # read from each attempt's first request, the purge attempt after the previous failure; the
    # first request leaves a few milliseconds after its attempt is due, more on a busy machine.
    after = [next(e.seq for e in events if e.kind == kinds.PURGE_FAILED), remedies[0].seq]
    starts = [
        dt.datetime.fromisoformat(
            next(e for e in events if e.kind == kinds.PURGE_ATTEMPT and e.seq > seq).data[
                "started_at"
            ]
        )
        for seq in after
    ]
    assert (starts[1] - starts[0]).total_seconds() >= 0.6 - 0.05  # the second pause
    told = Teller(release)
    said = str(TELLERS[kinds.REMEDY_PURGE](told, remedies[0]))
    assert "clearing the web cache of /statistics/x.xlsx again automatically" in said
    assert "failed (attempt 1 of 2)" in said and "onthedot" not in said
    assert not [e for e in events if e.kind == kinds.REMEDY_REFLIP]


def memory_release(name: str, at: dt.datetime) -> Release:
    return Release.model_validate(
        {
            "id": "r",
            "title": "T",
            "producer": "P",
            "release_at": at,
            "site": {"public": "http://127.0.0.1:9", "target": f"memory://{name}"},
        }
    )


def stale(release: Release, layer: str | tuple[str, ...], at: dt.datetime) -> VerifyReport:
    """A sweep at ``at`` that found the file stale at ``layer`` (or at each of several)."""
    results = [
        CheckResult(
            url=f"http://127.0.0.1:9{PATH}",
            status=Status.STALE,
            served_sha256="old",
            expected_sha256="new",
            diagnosis="The previous version.",
            checked_at=at,
            layer=one,
        )
        for one in ((layer,) if isinstance(layer, str) else layer)
    ]
    phase = "after" if at >= release.release_at else "before"
    return VerifyReport(release.id, phase, at, results)


async def _held() -> None:
    """The fence of a publisher that still holds the release: every attempt may go ahead."""


async def remedy(
    engine: AsyncEngine,
    clock: MovedClock,
    *,
    staged: Sequence[Staged] = (),
    stop: Event | None = None,
    name: str | None = None,
    t_in_s: float = 0.0,
    fence: Fence | None = None,
    target: MemoryTarget | None = None,
) -> tuple[Remediation, Release, str]:
    """The remediation of a release due ``t_in_s`` from the clock's time, through the in-memory
    target and purger ``name``; ``stop``: the person's stop or close the record holds; ``fence``:
    the publisher's hold on the release (held, unless given)."""
    name = name or uuid.uuid4().hex
    release = memory_release(name, clock.at + dt.timedelta(seconds=t_in_s))
    timeline = Timeline(engine)

    async def stop_asked(_release_id: str) -> Event | None:
        return stop

    remediation = Remediation(
        release,
        purging=Purging([MemoryPurger(f"memory://{name}")], timeline, clock),
        staging=Staging(target or MemoryTarget(f"memory://{name}"), timeline, clock),
        staged=staged,
        timeline=timeline,
        clock=clock,
        settings=QUICK,
        stop_asked=stop_asked,
        fence=fence or _held,
    )
    return remediation, release, name


async def sweeps(
    remediation: Remediation, release: Release, clock: MovedClock, layer: str | tuple[str, ...]
) -> None:
    """Ten sweeps half a second apart, each finding the file stale at this layer (or these)."""
    for _ in range(10):
        await remediation.after(stale(release, layer, clock.at))
        clock.move(0.5)


async def test_never_before_the_release_time(engine: AsyncEngine) -> None:
    clock = MovedClock(dt.datetime(2026, 3, 12, 9, 29, tzinfo=dt.UTC))
    remediation, release, name = await remedy(engine, clock, t_in_s=60.0)
    await sweeps(remediation, release, clock, "cache")
    assert MemoryPurger.log(name) == []
    assert await Timeline(engine).events("r", kinds.REMEDY_PURGE) == []


async def test_never_more_than_the_limit_and_each_attempt_recorded(engine: AsyncEngine) -> None:
    clock = MovedClock(dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC))
    remediation, release, name = await remedy(engine, clock)
    await sweeps(remediation, release, clock, "cache")
    events = await Timeline(engine).events("r", kinds.REMEDY_PURGE)
    assert [(e.data["attempt"], e.data["outcome"]) for e in events] == [(1, "done"), (2, "done")]
    assert [e.at.second + e.at.microsecond / 1e6 for e in events] == [0.5, 1.5]  # 0.3, then 0.6
    assert len(MemoryPurger.log(name)) == 2


async def test_never_once_a_person_closed_the_release(engine: AsyncEngine) -> None:
    clock = MovedClock(dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC))
    data = {"problem": "stale", "by": "Jo Bloggs", "reason": "IT purges by hand"}
    closed = Event("r", 1, clock.at, kinds.INCIDENT_CLOSED, "Jo Bloggs", "cli", data, "", "")
    remediation, release, name = await remedy(engine, clock, stop=closed)
    await sweeps(remediation, release, clock, "cache")
    assert MemoryPurger.log(name) == []
    assert await Timeline(engine).events("r", kinds.REMEDY_PURGE) == []


async def reflipped(
    engine: AsyncEngine, tmp_path: Path, fail: TargetUnreachable | None = None
) -> tuple[list[Event], Release]:
    """A staged copy never flipped, ten sweeps finding the website serving the previous version
    (``fail``: what the target's first look at what it holds raises): the re-flips recorded, once
    the new file is in place."""
    clock = MovedClock(dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC))
    local = tmp_path / "x.xlsx"
    local.write_bytes(NEW)
    name = uuid.uuid4().hex
    target = MemoryTarget(f"memory://{name}")
    copy = await target.stage(PATH, local, sha256(NEW).hexdigest(), "t" * 16)
    if fail is not None:
        target.fail["fetch_sha256"] = fail
    remediation, release, _ = await remedy(
        engine, clock, staged=[copy], name=name, target=target
    )
    await sweeps(remediation, release, clock, "origin")
    assert MemoryTarget.store(name).files.get(PATH) == NEW
    return await Timeline(engine).events("r", kinds.REMEDY_REFLIP), release


async def test_a_flip_that_did_not_take_is_made_again(engine: AsyncEngine, tmp_path: Path) -> None:
    events, release = await reflipped(engine, tmp_path)
    # (the sweeps still say the website serves the previous version after the first: the second
    # finds the new file in place, and says so rather than that it put it there again)
    assert [(e.data["attempt"], e.data["outcome"]) for e in events] == [
        (1, "done"),
        (2, "in-place"),
    ]
    assert events[1].data["in_place"] == [PATH]
    told = [TELLERS[kinds.REMEDY_REFLIP](Teller(release), e) for e in events]
    assert told == [
        "At 09:30:00 the new version of /statistics/x.xlsx was put in place again automatically, "
        "as it still showed the previous version (attempt 1 of 2).",
        "At 09:30:01 the new version of /statistics/x.xlsx was found already in place on the web "
        "server, which still showed the previous version: it was still serving its own copy of "
        "the previous version, kept by a file cache or by a network drive that had not yet seen "
        "the change (attempt 2 of 2).",
    ]


async def test_a_target_that_cannot_tell_what_it_holds_gets_the_flip_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The look at what the target holds failing (a CMS not answering its status) is no reason
    to give up the re-flip: the copy is flipped again, as before that look was made."""
    events, _ = await reflipped(engine, tmp_path, TargetUnreachable("The CMS did not answer."))
    assert [(e.data["attempt"], e.data["outcome"]) for e in events] == [
        (1, "done"),
        (2, "in-place"),
    ]


@pytest.mark.services
async def test_a_web_server_serving_a_file_it_kept_open_is_told_apart_from_a_flip_that_did_not_take(
    engine: AsyncEngine, tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    """nginx with open_file_cache keeps serving the file it had open before the rename, until
    it looks at the path again (open_file_cache_valid: 3 s here, a minute by default), and
    Varnish, purged at T, fetches that old file again and keeps it. The re-flip finds the new
    file in place and records that; once nginx serves it, the edge is purged again and the
    release goes live."""
    origin = start_server(
        Nginx(webroot, extra_server_conf="open_file_cache max=100 inactive=60s;\n"
              "open_file_cache_valid 3s;")
    )
    cache = start_server(Varnish(origin.host, origin.port, default_ttl=3600))
    url = public_old(webroot, cache)
    release = varnish_release(tmp_path, webroot, origin, cache, cache.port)
    assert await publish(engine, release, until_live_s=15.0)
    assert fetch(url) == NEW
    events = await Timeline(engine).events("r")
    reflips = [e for e in events if e.kind == kinds.REMEDY_REFLIP]
    assert reflips and {e.data["outcome"] for e in reflips} == {"in-place"}
    assert [e.kind for e in events if e.kind == kinds.PUBLISH_FLIPPED] == [kinds.PUBLISH_FLIPPED]
    purged_again = [e for e in events if e.kind == kinds.REMEDY_PURGE]
    assert purged_again and purged_again[-1].data["outcome"] == "done"
    stale_at_origin = [
        e for e in events if e.kind == kinds.VERIFY_RESULT and e.data.get("layer") == "origin"
    ]
    assert stale_at_origin and "open_file_cache" in stale_at_origin[0].data["diagnosis"]


async def test_the_reports_actions_tell_the_remedies_that_worked(engine: AsyncEngine) -> None:
    """The purge at T and a remedy's purge read as two clearings, the second "again"; a re-flip
    that worked is an action of its own, one that failed is not."""
    release = await record_2019(engine)
    timeline, rid = Timeline(engine), release.id
    paths = {"paths": ["/statistics/fatalquarterly.xlsx"]}
    await timeline.append(
        rid, kinds.PURGE_DONE, {"purger": "varnish://c", "urls": []}, at=at(9, 30)
    )
    await timeline.append(
        rid, kinds.PURGE_DONE, {"purger": "varnish://c", "urls": []}, at=at(9, 31)
    )
    for when, outcome in ((at(9, 32), "failed"), (at(9, 33), "done")):
        data = {"attempt": 1, "limit": 2, **paths, "outcome": outcome, "error": ""}
        await timeline.append(rid, kinds.REMEDY_REFLIP, data, at=when)
    evidence, _chain = await gather(engine, release, Policy())
    told = [a["what"] for a in short_term(evidence)]
    assert "At 09:30 the web cache was cleared automatically." in told
    assert "At 09:31 the web cache was cleared again automatically." in told
    again = [w for w in told if "in place again" in w]
    assert again == [
        "At 09:33 the new version of /statistics/fatalquarterly.xlsx was put in place again "
        "automatically, as it still showed the previous version (attempt 1 of 2)."
    ]
