"""A sweep's requests are built before T (``prepare``) and reused: the sweep at T starts at once."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from onthedot.clock import JumpingClock, ShiftedClock
from onthedot.model import Artefact, Release, Site, Status
from onthedot.verify import verifier as verifier_module
from onthedot.verify.probe import (
    MockProbeTransport,
    Prober,
    ProbeRequest,
    ProbeResponse,
    mock_response,
)
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


def _site() -> MockProbeTransport:
    def answer(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, body=NEW)

    return MockProbeTransport(answer)


async def test_prepared_requests_are_the_ones_sent_at_t_and_again() -> None:
    site = _site()
    release = _release(["/a.csv", "/b.csv"])
    clock = JumpingClock(T - dt.timedelta(seconds=3))  # when the publisher prepares
    verifier = Verifier(Prober(transport=site), clock=clock)
    await verifier.prepare(release)
    assert site.requests == []  # preparing fetches nothing
    (plan,) = verifier._plans.values()
    clock.jump(4)
    first = await verifier.check(release)
    second = await verifier.check(release)
    assert [r.status for r in first.results + second.results] == [Status.LIVE] * 4
    assert [r.url for r in first.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/b.csv"]
    assert all(a is b for a, b in zip(site.requests, plan.requests * 2, strict=True))


async def test_a_changed_release_is_not_swept_with_the_old_requests() -> None:
    site = _site()
    verifier = Verifier(Prober(transport=site), clock=AFTER_T)
    await verifier.prepare(_release(["/a.csv"]))
    report = await verifier.check(_release(["/a.csv", "/c.csv"]))  # same id, one more file
    assert [r.url for r in report.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/c.csv"]
    assert [r.url for r in site.requests] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/c.csv"]


async def test_only_some_urls_leaves_the_prepared_sweep_whole() -> None:
    site = _site()
    release = _release(["/a.csv", "/b.csv"])
    verifier = Verifier(Prober(transport=site), clock=AFTER_T)
    await verifier.prepare(release)
    some = await verifier.check(release, only=[f"{PUBLIC}/b.csv"])
    assert [r.url for r in some.results] == [f"{PUBLIC}/b.csv"]
    every = await verifier.check(release)
    assert [r.url for r in every.results] == [f"{PUBLIC}/a.csv", f"{PUBLIC}/b.csv"]


async def test_a_url_listed_twice_is_fetched_for_each_listing_and_judged_once_each() -> None:
    site = _site()
    release = _release(["/a.csv", "/a.csv"])
    verifier = Verifier(Prober(transport=site), clock=AFTER_T)
    report = await verifier.check(release)
    assert len(site.requests) == 2
    assert [r.status for r in report.results] == [Status.LIVE, Status.LIVE]


async def test_a_site_with_several_edges_is_swept_again_and_again_in_their_order() -> None:
    site = _site()
    release = _release(["/a.csv", "/b.csv"]).model_copy(
        update={
            "site": Site(
                public=PUBLIC, origin="http://127.0.0.1:8081", edges=("127.0.0.3", "127.0.0.2")
            )
        }
    )
    verifier = Verifier(Prober(transport=site), clock=AFTER_T)  # vantages resolved each time
    await verifier.prepare(release)
    reports = [await verifier.check(release) for _ in range(3)]
    for report in reports:
        assert [(r.url.rsplit("/", 1)[1], r.vantage) for r in report.results] == [
            (name, f"edge 127.0.0.{n}") for name in ("a.csv", "b.csv") for n in (1, 2, 3)
        ]
        assert all(r.status is Status.LIVE for r in report.results)
    assert len(site.requests) == 3 * 6


async def test_the_sweep_right_after_prepare_uses_the_addresses_it_resolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolved: list[str] = []

    async def counting(release: Release) -> list[Vantage]:
        resolved.append(release.id)
        return [DEFAULT]

    monkeypatch.setattr(verifier_module, "default_vantages", counting)
    before_t = ShiftedClock(T - dt.timedelta(seconds=3))  # when the publisher prepares
    verifier = Verifier(Prober(transport=_site()), clock=before_t)
    release = _release(["/a.csv"])
    await verifier.prepare(release)
    await verifier.check(release)  # the sweep at T: sends at once, resolves nothing
    assert len(resolved) == 1
    await verifier.check(release)  # later sweeps resolve again (edges can change)
    assert len(resolved) == 2


async def test_prepare_builds_nothing_right_before_t() -> None:
    site = _site()
    release = _release(["/a.csv"])
    almost_t = ShiftedClock(T - dt.timedelta(seconds=0.2))
    verifier = Verifier(Prober(transport=site), clock=almost_t)
    await verifier.prepare(release)
    assert verifier._plans == {}  # the event loop is the flip's now
