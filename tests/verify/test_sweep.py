"""``Verifier.sweep`` hands out a look's results in batches as they are judged (``onthedot verify``
stores each while the rest are fetched); its report is then the one ``check`` gives."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import pytest

from onthedot.clock import ShiftedClock
from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.judgement import judge
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


ODD = f"{PUBLIC}/d.csv"  # an answer the judging cannot read


async def test_an_answer_that_cannot_be_judged_is_that_urls_error_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One odd answer among thousands must not stop a sweep: the URL whose judging fails is an
    ERROR saying, in words a statistician can forward, to check that address by hand; IT finds
    what went wrong in the log; every other URL is judged as ever, in the release's order."""

    def judge_or_fail(edge: ProbeResponse, **kwargs: Any) -> CheckResult | None:
        if edge.request.url == ODD:
            raise ValueError("invalid literal for int() with base 10: '²'")
        return judge(edge, **kwargs)

    monkeypatch.setattr("onthedot.verify.verifier.judge", judge_or_fail)
    sweep = _verifier().sweep(_release(), batch=2)
    with caplog.at_level(logging.ERROR, logger="onthedot.verify"):
        handed_out = [r async for batch in sweep.batches() for r in batch]

    results = sweep.report.results
    assert [r.url for r in results] == [PUBLIC + p for p in PATHS]
    assert sorted(map(id, handed_out)) == sorted(map(id, results))
    statuses = {r.url: r.status for r in results}
    assert statuses.pop(ODD) is Status.ERROR and statuses.pop(STALE) is Status.STALE
    assert set(statuses.values()) == {Status.LIVE}
    odd = next(r for r in results if r.url == ODD)
    assert (odd.vantage, odd.http_status, odd.layer) == ("default", 200, None)
    assert odd.checked_at == results[0].checked_at  # (the sweep's moment, as every result's)
    assert odd.diagnosis.startswith("The answer from this address could not be read")
    assert "check the address by hand" in odd.diagnosis
    assert "ValueError" not in odd.diagnosis and "int()" not in odd.diagnosis
    assert odd.diagnosis.count(". ") == 0 and odd.diagnosis.endswith(".")  # one sentence
    logged = [r for r in caplog.records if r.exc_info is not None]
    assert len(logged) == 1 and ODD in logged[0].getMessage()
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is ValueError
    assert not sweep.report.ok


async def test_numbers_and_dates_no_server_should_send_are_judged_as_not_given() -> None:
    """Headers are read as latin-1: an Age of "²" or an Expires after the year 9999 once in UTC
    is read as not given (as garbage is), and the file is judged on what it is."""
    odd = [
        ("Age", "²"),
        ("X-Cache-Hits", "²"),
        ("X-Accel-Expires", "²"),
        ("Expires", "Fri, 31 Dec 9999 23:59:59 -0100"),
        ("X-Varnish", "5 6"),
    ]

    def answer(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, body=OLD if request.url == STALE else NEW, headers=odd)

    verifier = Verifier(
        Prober(MockProbeTransport(answer)), clock=ShiftedClock(T + dt.timedelta(seconds=5))
    )
    report = await verifier.check(_release())
    statuses = {r.url: r.status for r in report.results}
    assert statuses.pop(STALE) is Status.STALE and set(statuses.values()) == {Status.LIVE}
    cache = report.results[0].cache
    assert (cache["product"], cache["age"], cache["hits"], cache["expires"]) == (
        "varnish",
        None,
        None,
        None,
    )
