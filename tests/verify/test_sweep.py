"""``Verifier.sweep`` hands out a look's results in batches as they are judged (``onthedot verify``
stores each while the rest are fetched); its report is then the one ``check`` gives."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from onthedot.clock import ShiftedClock
from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.verifier import Verifier

T = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
NEW, OLD = b"new figures\n", b"old figures\n"
PUBLIC, ORIGIN = "http://127.0.0.1:8080", "http://127.0.0.1:8081"
PATHS = [f"/{name}.csv" for name in "abcdefg"]
STALE = f"{PUBLIC}/c.csv"  # the edge still serves the old file; the origin has the new one


def _release() -> Release:
    digest = hashlib.sha256(NEW).hexdigest()
    return Release(
        id="sweep",
        title="Sweep",
        producer="Test",
        release_at=T,
        site=Site(public=PUBLIC, origin=ORIGIN),
        artefact=tuple(Artefact(path=p, sha256=digest, size=len(NEW)) for p in PATHS),
    )


def _verifier() -> Verifier:
    def answer(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, body=OLD if request.url == STALE else NEW)

    return Verifier(
        Prober(MockProbeTransport(answer)), clock=ShiftedClock(T + dt.timedelta(seconds=5))
    )


async def test_batches_come_as_judged_and_the_report_is_the_checks() -> None:
    release = _release()
    sweep = _verifier().sweep(release, batch=2)
    with pytest.raises(RuntimeError):
        sweep.report  # noqa: B018 (not whole before every batch is out)
    batches: list[list[CheckResult]] = [batch async for batch in sweep.batches()]

    assert [len(b) for b in batches] == [2, 2, 2, 1]  # the stale one, diagnosed last
    assert batches[-1][0].url == STALE and batches[-1][0].status is Status.STALE
    handed_out = [id(r) for b in batches for r in b]
    assert sorted(handed_out) == sorted(id(r) for r in sweep.report.results)  # each once
    checked = await _verifier().check(release)
    seen = [(r.url, r.status, r.layer) for r in sweep.report.results]
    assert seen == [(r.url, r.status, r.layer) for r in checked.results]
    assert [url for url, _, _ in seen] == [PUBLIC + p for p in PATHS]  # the release's order


async def test_the_last_batches_are_smaller_so_little_is_left_to_store_after_the_sweep() -> None:
    """Once no more than a batch of results is left to hand out, a quarter of a batch at a time: what
    the caller stores after the last batch is what ``onthedot verify`` waits for at the end."""
    many = [f"/{number}.csv" for number in range(20)]
    release = _release().model_copy(
        update={
            "artefact": tuple(
                Artefact(path=p, sha256=hashlib.sha256(NEW).hexdigest(), size=len(NEW))
                for p in many
            )
        }
    )
    sweep = _verifier().sweep(release, batch=8)
    batches = [batch async for batch in sweep.batches()]

    assert [len(b) for b in batches] == [8, 8, 2, 2]  # (not 8, 8, 4)
    assert [r.url for b in batches for r in b] == [PUBLIC + p for p in many]


async def test_only_what_an_edge_did_not_serve_new_is_looked_at_behind_the_cache() -> None:
    """A good morning costs one request per URL: a file served with its SHA-256 and a page served
    with its text are not fetched again from the origin or past the cache; a stale file and a page
    without its text are (both, to say which layer is old)."""
    asked: list[str] = []
    pages = {"/live.html": b"<h1>Fatal injuries 2026</h1>", "/old.html": b"<h1>Fatal injuries</h1>"}

    def answer(request: ProbeRequest) -> ProbeResponse:
        asked.append(request.url)
        path = request.url.removeprefix(PUBLIC).removeprefix(ORIGIN).split("?")[0]
        return mock_response(request, body=pages.get(path, OLD if request.url == STALE else NEW))

    release = _release().model_copy(
        update={
            "artefact": (
                *_release().artefact,
                Artefact(path="/live.html", expect_text="Fatal injuries 2026"),
                Artefact(path="/old.html", expect_text="Fatal injuries 2026"),
            )
        }
    )
    verifier = Verifier(
        Prober(MockProbeTransport(answer)), clock=ShiftedClock(T + dt.timedelta(seconds=5))
    )
    report = await verifier.check(release)
    behind = sorted(u.split("?")[0] for u in asked if u.startswith(ORIGIN) or "?" in u)
    assert behind == sorted([f"{ORIGIN}/c.csv", STALE, f"{ORIGIN}/old.html", f"{PUBLIC}/old.html"])
    assert len(asked) == len(PATHS) + 2 + len(behind)
    statuses = {r.url.removeprefix(PUBLIC): r.status for r in report.results}
    assert statuses["/live.html"] is Status.LIVE and statuses["/old.html"] is Status.STALE
