"""A sweep's requests are built before T (``prepare``) and reused: the sweep at T starts at once."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from onthedot.clock import JumpingClock, ShiftedClock
from onthedot.model import Artefact, Release, Site, Status
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify import verifier as verifier_module
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.vantage import DEFAULT, Vantage
from onthedot.verify.verifier import Verifier

T = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
NEW = b"new figures\n"
PUBLIC = "http://127.0.0.1:8080"
AFTER_T = ShiftedClock(T + dt.timedelta(seconds=1))


def _release(paths: list[str]) -> Release:
    return Release(
        id="plan",
        title="Plan",
        producer="Test",
        release_at=T,
        site=Site(public=PUBLIC, origin="http://127.0.0.1:8081"),
        artefact=tuple(
            Artefact(path=p, sha256=hashlib.sha256(NEW).hexdigest(), size=len(NEW)) for p in paths
        ),
    )


def _with_edges(release: Release, *edges: str) -> Release:
    site = Site(public=PUBLIC, origin="http://127.0.0.1:8081", edges=edges)
    return release.model_copy(update={"site": site})


def _site() -> MockProbeTransport:
    def answer(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, body=NEW)

    return MockProbeTransport(answer)


async def test_prepared_requests_are_the_ones_sent_at_t_and_again() -> None:
    site = _site()
    release = _release(["/a.csv", "/b.csv"])
    clock = JumpingClock(T - dt.timedelta(seconds=3))  # when the publisher prepares
    verifier = Verifier(Prober(site), clock=clock)
    await verifier.prepare(release)
    assert site.requests == []  # preparing fetches nothing
    (plan,) = verifier._plans.values()
    clock.jump(4)
    first = await verifier.check(release)
    second = await verifier.check(release)
    assert [r.status for r in first.results + second.results] == [Status.LIVE] * 4
    assert [r.url for r in first.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/b.csv"]
    assert all(a is b for a, b in zip(site.requests, plan.requests * 2, strict=True))


def _prepared_at_t_minus_3() -> JumpingClock:
    return JumpingClock(T - dt.timedelta(seconds=3))  # when the publisher prepares


async def test_a_changed_release_is_not_swept_with_the_old_requests() -> None:
    site = _site()
    clock = _prepared_at_t_minus_3()
    verifier = Verifier(Prober(site), clock=clock)
    await verifier.prepare(_release(["/a.csv"]))
    assert len(verifier._plans) == 1
    clock.jump(4)
    report = await verifier.check(_release(["/a.csv", "/c.csv"]))  # same id, one more file
    assert [r.url for r in report.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/c.csv"]
    assert [r.url for r in site.requests] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/c.csv"]


async def test_a_changed_release_is_swept_through_its_own_edges() -> None:
    site = _site()
    clock = _prepared_at_t_minus_3()
    verifier = Verifier(Prober(site), clock=clock)
    await verifier.prepare(_with_edges(_release(["/a.csv"]), "127.0.0.2", "127.0.0.3"))
    clock.jump(4)  # within PREPARED_FOR_S, but the release changed: its addresses are its own
    report = await verifier.check(_with_edges(_release(["/a.csv"]), "127.0.0.7", "127.0.0.8"))
    assert [r.vantage for r in report.results] == [
        "edge 127.0.0.1",
        "edge 127.0.0.7",
        "edge 127.0.0.8",
    ]


async def test_only_some_urls_leaves_the_prepared_sweep_whole() -> None:
    site = _site()
    release = _release(["/a.csv", "/b.csv"])
    clock = _prepared_at_t_minus_3()
    verifier = Verifier(Prober(site), clock=clock)
    await verifier.prepare(release)
    (prepared,) = verifier._plans.values()
    clock.jump(4)
    some = await verifier.check(release, only=[f"{PUBLIC}/b.csv"])
    assert [r.url for r in some.results] == [f"{PUBLIC}/b.csv"]
    every = await verifier.check(release)
    assert [r.url for r in every.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/b.csv"]
    assert site.requests[1:] == prepared.requests  # the whole sweep was the prepared one
    assert all(a is b for a, b in zip(site.requests[1:], prepared.requests, strict=True))


async def test_a_url_listed_twice_is_fetched_for_each_listing_and_judged_once_each() -> None:
    site = _site()
    once = _release(["/a.csv"])  # (a release file lists a path once; a page may link it again)
    release = once.model_copy(update={"artefact": once.artefact * 2})
    verifier = Verifier(Prober(site), clock=AFTER_T)
    report = await verifier.check(release)
    assert len(site.requests) == 2
    assert [r.status for r in report.results] == [Status.LIVE, Status.LIVE]


async def test_a_site_with_several_edges_is_swept_again_and_again_in_their_order() -> None:
    site = _site()
    release = _with_edges(_release(["/a.csv", "/b.csv"]), "127.0.0.3", "127.0.0.2")
    verifier = Verifier(Prober(site), clock=AFTER_T)  # vantages resolved each time
    await verifier.prepare(release)
    reports = [await verifier.check(release) for _ in range(3)]
    for report in reports:
        assert [(r.url.rsplit("/", 1)[1], r.vantage) for r in report.results] == [
            (name, f"edge 127.0.0.{n}") for name in ("a.csv", "b.csv") for n in (1, 2, 3)
        ]
        assert all(r.status is Status.LIVE for r in report.results)
    assert len(site.requests) == 3 * 6


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each resolution of a release's addresses (by id), all answering the default vantage."""
    seen: list[str] = []

    async def counting(release: Release) -> list[Vantage]:
        seen.append(release.id)
        return [DEFAULT]

    monkeypatch.setattr(verifier_module, "default_vantages", counting)
    return seen


async def test_the_sweep_right_after_prepare_uses_the_addresses_it_resolved(
    resolved: list[str],
) -> None:
    before_t = ShiftedClock(T - dt.timedelta(seconds=3))  # when the publisher prepares
    verifier = Verifier(Prober(_site()), clock=before_t)
    release = _release(["/a.csv"])
    await verifier.prepare(release)
    await verifier.check(release)  # the sweep at T: sends at once, resolves nothing
    assert len(resolved) == 1
    await verifier.check(release)  # nor another sweep right after (a chunk of it)
    assert len(resolved) == 1


async def test_every_sweep_soon_after_prepare_uses_its_addresses_and_later_ones_resolve_again(
    resolved: list[str],
) -> None:
    """At T a release's sweep comes in chunks: the site is resolved once, before T, not per chunk
    (each asking the resolver queued behind the others); later than ``PREPARED_FOR_S`` after
    ``prepare``, every sweep resolves again (edges can change)."""
    release = _release(["/a.csv", "/b.csv", "/c.csv"])
    clock = _prepared_at_t_minus_3()
    verifier = Verifier(Prober(_site()), clock=clock)
    await verifier.prepare(release)
    clock.jump(4)
    for path in ("/a.csv", "/b.csv", "/c.csv"):
        await verifier.check(release, only=[f"{PUBLIC}{path}"])
    assert resolved == ["plan"]
    clock.jump(verifier_module.PREPARED_FOR_S)
    await verifier.check(release)
    await verifier.check(release)
    assert resolved == ["plan"] * 3


async def test_prepare_right_before_t_keeps_the_addresses_and_builds_nothing(
    resolved: list[str],
) -> None:
    site = _site()
    release = _release(["/a.csv"])
    clock = JumpingClock(T - dt.timedelta(seconds=0.2))  # a slow DNS answered just now
    verifier = Verifier(Prober(site), clock=clock)
    await verifier.prepare(release)
    assert verifier._plans == {}  # the event loop is the flip's now
    clock.jump(0.3)
    report = await verifier.check(release)
    assert len(resolved) == 1 and [r.status for r in report.results] == [Status.LIVE]
