"""The publish sequence on in-memory parts: never early, idempotent steps, crash and resume, leases.

The "edge" here is a mock probe transport serving whatever the memory target holds at the path,
so what the verifier sees is exactly what the target published.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import SYSTEM_CLOCK, JumpingClock, ShiftedClock
from onthedot.config import load_release
from onthedot.errors import LeaseHeldError, ProbeError, StoreError, TargetUnreachable
from onthedot.model import Release
from onthedot.morning.publisher import ClockCheck, Publisher
from onthedot.morning.watch import Watcher, WatchPlan
from onthedot.publish.lease import Lease
from onthedot.publish.purgers.base import PurgeAttempt
from onthedot.publish.purgers.memory import MemoryPurger
from onthedot.publish.steps import StepLog
from onthedot.publish.targets.memory import MemoryTarget
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Event, Timeline
from onthedot.runtime import publisher_for
from onthedot.store.db import open_store
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify import verifier as verifier_module
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.vantage import DEFAULT, Vantage
from onthedot.verify.verifier import Verifier, VerifyReport
from tests.servers.ports import free_port

NEW = b"new spreadsheet"
PATH = "/statistics/x.xlsx"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    yield eng
    await eng.dispose()


def release_file(tmp_path: Path, release_at: dt.datetime, name: str) -> Release:
    (tmp_path / "x.xlsx").write_bytes(NEW)
    local = release_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    path = tmp_path / "r.toml"
    path.write_text(
        f'id = "r"\ntitle = "T"\nproducer = "P"\nrelease_at = {local}+00:00\n'
        f'[site]\npublic = "http://www.example.org"\ntarget = "memory://{name}"\n'
        f'purge = ["memory://{name}"]\n'
        f'[[artefact]]\nfile = "x.xlsx"\npath = "{PATH}"\n',
        encoding="utf-8",
    )
    return load_release(path)


def edge_from(
    name: str, clock: ShiftedClock, seen: list[tuple[dt.datetime, bytes | None]]
) -> Prober:
    def handler(request: ProbeRequest) -> ProbeResponse:
        path = urlsplit(request.url).path
        hidden = "/.onthedot-" in path  # a site that refuses dot-files, staged copies among them
        body = None if hidden else MemoryTarget.store(name).files.get(path)
        seen.append((clock.now(), body))
        if body is None:
            return mock_response(request, status=404, body=b"not found")
        return mock_response(request, body=body, headers=[("Cache-Control", "max-age=60")])

    return Prober(MockProbeTransport(handler))


def publisher(
    engine: AsyncEngine,
    name: str,
    clock: ShiftedClock,
    seen: list[tuple[dt.datetime, bytes | None]],
    *,
    wait_for_lease: bool = True,
    leak_probes: bool = True,
    verifier_type: type[Verifier] = Verifier,
    target: MemoryTarget | None = None,
    purger: MemoryPurger | None = None,
    prober: Prober | None = None,
    clock_check: ClockCheck | None = None,
) -> Publisher:
    edge = prober or edge_from(name, clock, seen)
    verifier = verifier_type(edge, clock=clock, bust_cache=False)
    watcher = Watcher(
        verifier, CheckRecorder(engine), clock, WatchPlan(leak_every_s=0.2, dense=((0.1, 1.0),))
    )
    return Publisher(
        engine,
        target=target or MemoryTarget(f"memory://{name}"),
        purgers=[purger or MemoryPurger(f"memory://{name}")],
        watcher=watcher,
        clock=clock,
        wait_for_lease=wait_for_lease,
        leak_probes=leak_probes,
        clock_check=clock_check,
    )


async def test_goes_live_at_t_never_before_even_if_the_clock_steps_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    clock = JumpingClock(dt.datetime(2019, 12, 18, 9, 29, 57, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    pub = publisher(engine, name, clock, seen)
    task = asyncio.create_task(pub.publish(release))
    await asyncio.sleep(2.5)
    clock.jump(-1.0)  # an NTP step backwards while waiting: T is now 1.5 s away again
    outcome = await task
    assert outcome.live and outcome.flipped_at is not None
    assert outcome.flipped_at >= release.release_at
    assert all(at >= release.release_at for at, body in seen if body == NEW)
    assert any(body is None and at < release.release_at for at, body in seen)  # leak probes ran
    kinds_seen = [e.kind for e in await Timeline(engine).events("r")]
    for kind in (
        kinds.PUBLISH_STAGED,
        kinds.PUBLISH_WAITING,
        kinds.PUBLISH_FLIPPED,
        kinds.PURGE_ATTEMPT,
        kinds.VERIFY_FIRST_LIVE,
        kinds.VERIFY_ALL_LIVE,
        kinds.PUBLISH_DONE,
    ):
        assert kind in kinds_seen, kind
    assert MemoryPurger.log(name) == [f"url http://www.example.org{PATH}"]
    assert (await Timeline(engine).verify("r")).ok


async def test_crash_before_flip_resumes_without_restaging(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 5, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    failing = MemoryTarget(f"memory://{name}")
    failing.fail["flip"] = TargetUnreachable("The FTP server did not answer.")
    first = publisher(engine, name, clock, seen, target=failing)
    with pytest.raises(TargetUnreachable):
        await first.publish(release)
    assert set(await StepLog(engine, "r").done()) == {"staging", "staged"}
    outcome = await publisher(engine, name, clock, seen).publish(release)
    assert outcome.live and outcome.resumed == ("staged",)
    calls = [method for method, _ in MemoryTarget.store(name).calls]
    assert calls.count("stage") == 1  # never uploaded twice
    assert outcome.late_s >= 5.0  # T had passed: published at once, recorded as late
    events = await Timeline(engine).events("r")
    assert [e.kind for e in events].count(kinds.PUBLISH_FAILED) == 1
    assert [e.kind for e in events].count(kinds.PUBLISH_FLIPPED) == 1


async def test_completed_release_is_not_published_twice(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 1, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    await publisher(engine, name, clock, seen).publish(release)
    before = list(MemoryTarget.store(name).calls)
    again = await publisher(engine, name, clock, seen).publish(release)
    assert again.resumed == ("staged", "flipped", "purged", "verified")
    assert [
        c for c in MemoryTarget.store(name).calls[len(before) :] if c[0] in ("stage", "flip")
    ] == []


async def test_second_publisher_refuses_or_waits(engine: AsyncEngine, tmp_path: Path) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 59, 500000, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    running = asyncio.create_task(
        publisher(engine, name, clock, seen, leak_probes=False).publish(release)
    )
    await asyncio.sleep(0.2)
    with pytest.raises(LeaseHeldError):
        await publisher(engine, name, clock, seen, wait_for_lease=False).publish(release)
    waiting = asyncio.create_task(publisher(engine, name, clock, seen).publish(release))
    first, second = await asyncio.gather(running, waiting)
    assert first.live and second.resumed == ("staged", "flipped", "purged", "verified")
    flips = [c for c in MemoryTarget.store(name).calls if c[0] == "flip"]
    assert len(flips) == 1


async def test_changed_release_is_restaged_before_t(engine: AsyncEngine, tmp_path: Path) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 59, 700000, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    pub = publisher(engine, name, clock, seen, leak_probes=False)
    steps = StepLog(engine, "r")
    from onthedot.publish.manifest import Manifest

    await pub.staging.stage(release, Manifest.of(release), steps)
    (tmp_path / "x.xlsx").write_bytes(NEW + b" corrected")
    changed = load_release(tmp_path / "r.toml")
    outcome = await pub.publish(changed)
    assert outcome.live
    assert MemoryTarget.store(name).files[PATH] == NEW + b" corrected"
    assert (
        hashlib.sha256(MemoryTarget.store(name).files[PATH]).hexdigest()
        == changed.artefact[0].sha256
    )
    kinds_seen = [e.kind for e in await Timeline(engine).events("r")]
    assert kinds_seen.count(kinds.PUBLISH_STAGED) == 2 and kinds.PUBLISH_DISCARDED in kinds_seen
    assert not [k for k in MemoryTarget.store(name).files if ".onthedot-" in k]


async def test_publishing_now_before_t_is_an_early_breach(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    from onthedot.record.report import assess

    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 0, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    outcome = await publisher(engine, name, clock, seen).publish(release, immediately=True)
    assert outcome.early_s == pytest.approx(1800, abs=5)
    found = {b.kind: b for b in (await assess(engine, release)).breaches}
    assert "early" in found and found["early"].cause == "scheduling"
    assert found["early"].urls == (f"http://www.example.org{PATH}",)


async def test_leak_probe_right_after_staging(engine: AsyncEngine, tmp_path: Path) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 8, 30, tzinfo=dt.UTC))  # an hour before T
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    task = asyncio.create_task(publisher(engine, name, clock, seen).publish(release))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    results = await Timeline(engine).events("r", kinds.VERIFY_RESULT)
    assert [r.data["status"] for r in results] == ["embargoed"]  # probed at once, then waiting


async def test_a_run_killed_mid_staging_leaves_no_hidden_copies(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    (tmp_path / "a.csv").write_bytes(b"a")
    (tmp_path / "b.csv").write_bytes(b"b")
    path = tmp_path / "two.toml"
    path.write_text(
        'id = "r"\ntitle = "T"\nproducer = "P"\nrelease_at = 2019-12-18T09:30:00+00:00\n'
        f'[site]\npublic = "http://www.example.org"\ntarget = "memory://{name}"\n'
        '[[artefact]]\nfile = "a.csv"\npath = "/a.csv"\n[[artefact]]\nfile = "b.csv"\npath = "/b.csv"\n',
        encoding="utf-8",
    )
    release = load_release(path)
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 1, tzinfo=dt.UTC))
    seen: list[tuple[dt.datetime, bytes | None]] = []
    first = publisher(engine, name, clock, seen)
    store = MemoryTarget.store(name)
    original_upload = MemoryTarget._upload
    uploads = 0

    async def upload_then_die(self: MemoryTarget, staged, local_file):  # type: ignore[no-untyped-def]
        nonlocal uploads
        uploads += 1
        if uploads == 2:
            raise TargetUnreachable("The connection dropped.")  # killed half-way through staging
        await original_upload(self, staged, local_file)

    MemoryTarget._upload = upload_then_die  # type: ignore[method-assign]
    try:
        with pytest.raises(TargetUnreachable):
            await first.publish(release)
    finally:
        MemoryTarget._upload = original_upload  # type: ignore[method-assign]
    assert [m for m, _ in store.calls if m == "stage"]  # one hidden copy went up before the drop
    assert not [k for k in store.files if ".onthedot-" in k]  # ...and was removed after it
    outcome = await publisher(engine, name, clock, seen).publish(release)
    assert outcome.live
    assert sorted(store.files) == ["/a.csv", "/b.csv"]  # the same hidden names were reused


class _BrokenEdge(Verifier):
    """A verifier that cannot look at all (the host was killed right after the flip)."""

    async def check(self, release: Release, *, only: Sequence[str] | None = None) -> VerifyReport:
        raise ProbeError("The edge cannot be reached.")


async def test_a_resumed_publish_keeps_how_early_the_flip_was(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 0, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    first = publisher(engine, name, clock, [], verifier_type=_BrokenEdge)
    with pytest.raises(ProbeError):
        await first.publish(release, immediately=True)  # flipped half an hour early, then died
    outcome = await publisher(engine, name, clock, []).publish(release)
    assert outcome.resumed[:2] == ("staged", "flipped")
    assert outcome.early_s == pytest.approx(1800, abs=5) and outcome.late_s == 0.0
    assert outcome.as_json()["early_s"] == pytest.approx(1800, abs=5)


class _SlowPurger(MemoryPurger):
    """A purger that takes half a second (a CDN's API)."""

    async def purge(
        self, urls: Sequence[str], *, prefixes: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> list[PurgeAttempt]:
        await asyncio.sleep(0.5)
        return await super().purge(urls, prefixes=prefixes, tags=tags)


async def test_the_purge_at_t_is_finished_even_when_recording_the_flip_fails(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 1, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    append = Timeline.append

    async def failing_flip(self: Timeline, release_id: str, kind: str, *a: Any, **k: Any) -> Event:
        if kind == kinds.PUBLISH_FLIPPED:
            raise StoreError("The database stopped answering: check it is running.")
        return await append(self, release_id, kind, *a, **k)

    monkeypatch.setattr(Timeline, "append", failing_flip)
    pub = publisher(engine, name, clock, [], purger=_SlowPurger(f"memory://{name}"))
    with pytest.raises(StoreError):
        await pub.publish(release)
    assert MemoryPurger.log(name) == [f"url http://www.example.org{PATH}"]  # the files are live
    assert await Timeline(engine).events("r", kinds.PURGE_DONE)
    assert "purged" in await StepLog(engine, "r").done()


async def test_the_sweep_at_t_fetches_while_the_flip_is_recorded_and_records_after_it(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At T the record of 200 flips waited seconds for a busy loop, and every sweep waited for
    it: the sweep now fetches meanwhile, and its results go on the timeline after the flip."""
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 1, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    append = Timeline.append
    recorded: list[dt.datetime] = []

    async def slow_flip(self: Timeline, release_id: str, kind: str, *a: Any, **k: Any) -> Event:
        if kind == kinds.PUBLISH_FLIPPED:
            await asyncio.sleep(0.5)  # (the store's writer busy with other releases)
            event = await append(self, release_id, kind, *a, **k)
            recorded.append(clock.now())
            return event
        return await append(self, release_id, kind, *a, **k)

    monkeypatch.setattr(Timeline, "append", slow_flip)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    outcome = await publisher(engine, name, clock, seen, leak_probes=False).publish(release)
    assert outcome.live
    (flip_recorded,) = recorded
    assert seen and seen[0][0] < flip_recorded  # fetched before the flip was recorded
    events = await Timeline(engine).events("r")
    order = [e.kind for e in events]
    assert order.index(kinds.PUBLISH_FLIPPED) < order.index(kinds.VERIFY_RESULT)


class _StuckPreparing(Verifier):
    """A verifier whose preparation never finishes (a DNS server that does not answer)."""

    prepared = 0

    async def prepare(self, release: Release) -> None:
        type(self).prepared += 1
        await asyncio.sleep(3600)


async def test_the_flip_never_waits_for_the_sweep_to_be_ready(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 58, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    pub = publisher(engine, name, clock, seen, leak_probes=False, verifier_type=_StuckPreparing)
    outcome = await pub.publish(release)
    assert _StuckPreparing.prepared == 1  # it was asked (at once: T was less than 3 s away)
    assert outcome.live and outcome.late_s < 0.1  # flipped at T all the same, then swept


async def test_the_flip_at_t_waits_for_no_store(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 200 releases due at once the store is queued at T: the fence (does this instance
    still hold the release?) is checked a second before T, so a slow store cannot make the flip
    late (checked at T it made 200 releases flip up to 2.4 s late)."""
    checked = Lease.check

    async def slowly(self: Lease) -> None:
        await asyncio.sleep(0.8)
        await checked(self)

    monkeypatch.setattr(Lease, "check", slowly)
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 56, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    outcome = await publisher(engine, name, clock, [], leak_probes=False).publish(release)
    assert outcome.live and outcome.late_s < 0.1


async def test_the_sweep_at_t_uses_what_was_prepared_before_it(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[dt.datetime] = []
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 56, tzinfo=dt.UTC))

    async def counting(release: Release) -> list[Vantage]:
        resolved.append(clock.now())
        return [DEFAULT]

    monkeypatch.setattr(verifier_module, "default_vantages", counting)
    name = uuid.uuid4().hex
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    outcome = await publisher(engine, name, clock, [], leak_probes=False).publish(release)
    assert outcome.live and outcome.late_s < 0.1
    assert len(resolved) == 1  # 3 s before T, by the preparation; the sweep at T used it
    assert release.release_at - resolved[0] >= dt.timedelta(seconds=2.9)


class _SlowEdge(MockProbeTransport):
    """An edge that takes ``seconds`` for every sweep (a large release, a slow network)."""

    def __init__(self, seconds: float) -> None:
        async def slowly(request: ProbeRequest) -> ProbeResponse:
            await asyncio.sleep(seconds)
            return mock_response(request, status=404, body=b"not found")

        super().__init__(slowly)


async def test_no_leak_probe_is_started_that_would_run_into_t(engine: AsyncEngine) -> None:
    t = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    clock = ShiftedClock(t - dt.timedelta(seconds=2.6))
    release = Release(
        id="slow",
        title="T",
        producer="P",
        release_at=t,
        site={"public": "http://www.example.org"},
        artefact=[{"path": PATH, "sha256": hashlib.sha256(NEW).hexdigest(), "size": len(NEW)}],
    )
    verifier = Verifier(Prober(_SlowEdge(1.2)), clock=clock, bust_cache=False)
    watcher = Watcher(verifier, CheckRecorder(engine), clock, WatchPlan(leak_every_s=0.1))
    await watcher.leak_probes(release)  # one sweep (1.2 s); a second would end at about T
    assert clock.now() < t - dt.timedelta(seconds=1)


async def test_the_service_hears_of_every_sweep(engine: AsyncEngine) -> None:
    """``publisher_for(on_sweep=...)`` is how ``onthedot run`` fills its sweep-duration gauge."""
    release = Release(
        id="gauge",
        title="T",
        producer="P",
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        site={"public": f"http://127.0.0.1:{free_port()}"},  # nothing listens: never live
        artefact=[{"path": PATH, "sha256": hashlib.sha256(NEW).hexdigest(), "size": len(NEW)}],
    )
    swept: list[tuple[str, float]] = []
    async with publisher_for(
        engine,
        release,
        SYSTEM_CLOCK,
        plan=WatchPlan.for_seconds(0.3),
        leak_probes=False,
        on_sweep=lambda release_id, seconds: swept.append((release_id, seconds)),
    ) as pub:
        outcome = await pub.publish(release)
    assert not outcome.live
    assert len(swept) >= 2 and {release_id for release_id, _ in swept} == {"gauge"}
    assert all(seconds > 0 for _, seconds in swept)


@pytest.mark.parametrize(
    ("offsets", "wait_s"),
    [
        ((1.2, 1.2), 1.1),  # ahead when staged, and still just before T: waits 1.2 − 0.1 s
        ((1.2, 0.0), 0.0),  # set right by the time synchronisation since: flips at T
    ],
)
async def test_a_clock_found_ahead_of_the_reference_never_flips_early(
    engine: AsyncEngine, tmp_path: Path, offsets: tuple[float, float], wait_s: float
) -> None:
    """A host whose clock is ahead would flip before the real T: the flip waits for T by the
    reference (what the clock is surely ahead by: its offset less the measure's uncertainty), as
    measured again just before T."""
    from onthedot.verify.clockcheck import ClockOffset

    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 56, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    measures = iter(offsets)

    async def clock_check(_: Release) -> ClockOffset:
        return ClockOffset("the reference", next(measures), 0.1)

    outcome = await publisher(engine, name, clock, seen, clock_check=clock_check).publish(release)
    assert outcome.live and outcome.flipped_at is not None
    waited = (outcome.flipped_at - release.release_at).total_seconds()
    assert wait_s <= waited < wait_s + 0.5
    assert all((at - release.release_at).total_seconds() >= wait_s for at, b in seen if b == NEW)
    events = await Timeline(engine).events("r")
    (flipped,) = [e for e in events if e.kind == kinds.PUBLISH_FLIPPED]
    assert flipped.data.get("waited_for_clock_s", 0.0) == pytest.approx(wait_s)
    offsets_recorded = [e.data["offset_s"] for e in events if e.kind == kinds.CLOCK_OFFSET]
    assert offsets_recorded == list(offsets)
    assert (await Timeline(engine).verify("r")).ok


async def test_a_site_that_stops_answering_before_t_does_not_hold_the_flip(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The last leak sweep before T meets a site that no longer answers (each request would take
    its whole timeout): the sweep is given up 1 s before T, and the files go live at T."""
    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 29, 57, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    answering = edge_from(name, clock, seen).transport

    async def hanging_before_t(request: ProbeRequest) -> ProbeResponse:
        if clock.now() < release.release_at:
            await asyncio.sleep(30)  # (a request's whole timeout, and more)
        return await anext(aiter(answering.stream([request], None)))

    hanging = Prober(MockProbeTransport(hanging_before_t))
    pub = publisher(engine, name, clock, seen, prober=hanging)
    outcome = await asyncio.wait_for(pub.publish(release), 20)
    assert outcome.live and outcome.flipped_at is not None
    assert 0 <= (outcome.flipped_at - release.release_at).total_seconds() < 0.5


@pytest.mark.parametrize("changed", [False, True])
async def test_files_found_live_with_no_record_of_their_flip_are_said_on_the_timeline(
    engine: AsyncEngine, tmp_path: Path, changed: bool
) -> None:
    """A run stopped between putting the files in place at T and recording it: the next run
    finds them live. The timeline says they went out before it flips them again (the same
    version) or replaces them (the release changed since); it said nothing of them."""
    from onthedot.publish.manifest import Manifest
    from onthedot.store.db import publishing

    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 30, 2, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    first = publisher(engine, name, clock, seen, leak_probes=False)
    steps = StepLog(publishing(engine), release.id)
    staged = await first.staging.ensure(release, Manifest.of(release), steps, {})
    await first.staging.flip(staged)  # (then the stop: the flip is never recorded)
    if changed:
        (tmp_path / "x.xlsx").write_bytes(b"corrected spreadsheet")
        release = load_release(tmp_path / "r.toml")
    outcome = await publisher(engine, name, clock, seen, leak_probes=False).publish(release)
    assert outcome.live
    events = await Timeline(engine).events("r")
    (note,) = [e for e in events if e.kind == kinds.NOTE]
    assert note.data["text"].startswith(
        "The files staged for the release time were found already published"
    )
    said = "new version is published over them" if changed else "recorded as put in place now"
    assert said in note.data["text"]
    assert [e.kind for e in events].index(kinds.NOTE) < [e.kind for e in events].index(
        kinds.PUBLISH_FLIPPED
    )
    live = MemoryTarget.store(name).files[PATH]
    assert live == (b"corrected spreadsheet" if changed else NEW)


async def test_a_run_whose_staging_mark_another_run_made_first_stops_uploading_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Between a run's fence and its mark of staging, another run marked it (an old leader
    waking late): it went on and uploaded its copies under a token no run knows, never removed
    nor looked at before T. It now stops there."""
    from onthedot.publish.manifest import Manifest
    from onthedot.store.db import publishing

    name = uuid.uuid4().hex
    clock = ShiftedClock(dt.datetime(2019, 12, 18, 9, 0, tzinfo=dt.UTC))
    release = release_file(tmp_path, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC), name)
    steps = StepLog(publishing(engine), release.id)
    other = {"digest": Manifest.of(release).digest, "token": "f" * 32, "manifest": []}
    assert await steps.mark("staging", clock.now(), other)  # (the other run's)
    late = publisher(engine, name, clock, [], leak_probes=False)
    with pytest.raises(LeaseHeldError, match="Another run began staging r first"):
        await late.staging.stage(release, Manifest.of(release), steps, None)
    assert [m for m, _ in MemoryTarget.store(name).calls if m == "stage"] == []
    assert (await steps.done())["staging"]["token"] == "f" * 32


async def test_an_event_whose_step_another_run_recorded_first_is_not_stored(
    engine: AsyncEngine,
) -> None:
    """An old leader waking late after its fence was checked recorded a second
    ``publish.flipped`` (the step's mark was left as it was, the event stored all the same),
    read as a flip made late. Its event is refused with its mark now, and the other releases'
    events written with it in one batch are stored."""
    from onthedot.errors import StepTaken
    from onthedot.store.db import publishing

    now = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    taken, free = StepLog(publishing(engine), "taken"), StepLog(publishing(engine), "free")
    assert await taken.mark("flipped", now, {"at": "the other run's"})
    timeline = Timeline(engine)
    late, other = await asyncio.gather(
        timeline.append("taken", kinds.PUBLISH_FLIPPED, {}, with_=taken.marker("flipped", now, {})),
        timeline.append("free", kinds.PUBLISH_FLIPPED, {}, with_=free.marker("flipped", now, {})),
        return_exceptions=True,
    )
    assert isinstance(late, StepTaken) and "Another run recorded the step 'flipped'" in str(late)
    assert isinstance(other, Event)
    assert await timeline.events("taken", kinds.PUBLISH_FLIPPED) == []
    assert len(await timeline.events("free", kinds.PUBLISH_FLIPPED)) == 1
    assert (await taken.done())["flipped"] == {"at": "the other run's"}
