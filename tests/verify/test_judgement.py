"""One judgement: the server's sweep and a remote agent, given the same responses, say the same.

The agents API hands the agent its assignment; the agent and the verifier then fetch the same
site (one in-memory transport answering both) and must agree, URL by URL, on the status, the
versions, the layer and the sentence — linked files included. Then the rule for a linked file's
reference, case by case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest

from onthedot.agent import AgentOptions, probe
from onthedot.clock import ShiftedClock
from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.judgement import judge, reference_sha256
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.vantage import DEFAULT
from onthedot.verify.verifier import Verifier
from onthedot.web.agents import assignment
from onthedot.web.schemas import AgentResultIn

T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
NOW = T + dt.timedelta(seconds=90)
PUBLIC = "https://www.hse.gov.uk"
NEW = b"Fatal injuries, April to September 2019: 69 workers\n"
OLD = b"Fatal injuries, April to September 2018: 71 workers\n"
VARNISH = (("Via", "1.1 varnish"), ("X-Varnish", "32770 3"), ("Cache-Control", "max-age=3600"))
PAGE = (
    b"<html><body><h1>Fatal injuries, April to September 2019</h1>"
    b'<a href="tables/old.xlsx">Tables</a> <a href="tables/new.csv">CSV</a>'
    b'<a href="tables/gone.ods">ODS</a> <a href="tables/unvouched.pdf">PDF</a>'
    b'<a href="/statistics/listed.csv">Listed</a></body></html>'
)
Answer = tuple[int, bytes, tuple[tuple[str, str], ...]]
SITE: dict[str, tuple[Answer, Answer]] = {
    # path: (what the public address serves, what its cache-busted copy serves)
    "/statistics/index.html": ((200, PAGE, ()), (200, PAGE, ())),
    "/statistics/listed.csv": ((200, NEW, ()), (200, NEW, ())),
    "/statistics/tables/old.xlsx": ((200, OLD, (*VARNISH, ("Age", "2940"))), (200, NEW, ())),
    "/statistics/tables/new.csv": ((200, NEW, (*VARNISH, ("Age", "12"))), (200, NEW, ())),
    "/statistics/tables/gone.ods": ((404, b"Not Found", VARNISH), (200, NEW, ())),
    "/statistics/tables/unvouched.pdf": ((200, OLD, ()), (503, b"Busy", ())),
}


def _site() -> MockProbeTransport:
    def answer(request: ProbeRequest) -> ProbeResponse:
        path, _, query = request.url.removeprefix(PUBLIC).partition("?")
        edge, busted = SITE[path]
        status, body, headers = busted if query.startswith("onthedot=") else edge
        return mock_response(request, status=status, body=body, headers=headers)

    return MockProbeTransport(answer)


def _release() -> Release:
    return Release(
        id="fatal-injuries-2019-apr-sep",
        title="Fatal injuries arising from accidents at work in Great Britain",
        producer="Health and Safety Executive",
        release_at=T,
        site=Site(public=PUBLIC),
        artefact=(
            Artefact(path="/statistics/index.html", expect_text="April to September 2019"),
            Artefact(path="/statistics/listed.csv", sha256=hashlib.sha256(NEW).hexdigest()),
        ),
    )


def _seen(result: CheckResult | AgentResultIn) -> tuple[Any, ...]:
    cache = json.loads(json.dumps(result.cache, default=str))
    return (
        result.status,
        result.served_sha256,
        result.expected_sha256,
        result.layer,
        result.http_status,
        result.diagnosis,
        cache,
    )


async def test_the_agent_and_the_server_judge_the_same_responses_alike() -> None:
    release = _release()
    clock = ShiftedClock(NOW, rate=0)  # time stands still: both judge at NOW
    verifier = Verifier(Prober(_site()), clock=clock, vantages=[DEFAULT])
    server = {r.url: _seen(r) for r in (await verifier.check(release)).results}
    said: list[str] = []
    options = AgentOptions(server="https://onthedot.example", token="t")
    posted = await probe(assignment(release), lambda: NOW, options, said.append, _site)
    agent = {r.url: _seen(r) for r in posted}
    assert agent == server
    statuses = {url.rsplit("/", 1)[1]: seen[0] for url, seen in server.items()}
    assert statuses == {
        "index.html": Status.LIVE,
        "listed.csv": Status.LIVE,
        "old.xlsx": Status.STALE,
        "new.csv": Status.LIVE,
        "gone.ods": Status.MISSING,
    }  # the PDF has no reference (its cache-busted copy answered 503): judged by neither
    assert said == [
        f"Skipped {PUBLIC}/statistics/tables/unvouched.pdf (linked from {PUBLIC}/statistics/"
        "index.html): its cache-busted copy answered 503."
    ]
    stale = server[f"{PUBLIC}/statistics/tables/old.xlsx"]
    assert stale[2] == hashlib.sha256(NEW).hexdigest() and stale[3] == "cache"


def _response(url: str, status: int = 200, body: bytes = NEW, **kw: Any) -> ProbeResponse:
    return mock_response(ProbeRequest(url), status=status, body=body, **kw)


FILE = f"{PUBLIC}/statistics/tables/old.xlsx"
ORIGIN = "http://origin.hse.internal/statistics/tables/old.xlsx"
BUSTED = f"{FILE}?onthedot=5f2b"
REFUSED: dict[str, Any] = {"status": None, "failure": "connect", "message": "Refused."}
REFERENCE_CASES = {
    # name: (origin, busted, the reference it gives)
    "the origin's copy first": (_response(ORIGIN), _response(BUSTED, body=OLD), NEW),
    "the busted copy without an origin": (None, _response(BUSTED), NEW),
    "the busted copy when the origin fails": (_response(ORIGIN, **REFUSED), _response(BUSTED), NEW),
    "the busted copy when the origin lacks it": (_response(ORIGIN, 404), _response(BUSTED), NEW),
    "none when neither answers 2xx": (_response(ORIGIN, 404), _response(BUSTED, 503), None),
    "none when nothing was fetched": (None, None, None),
}


@pytest.mark.parametrize("case", list(REFERENCE_CASES))
def test_a_linked_files_reference(case: str) -> None:
    origin, busted, body = REFERENCE_CASES[case]
    expected = hashlib.sha256(body).hexdigest() if body is not None else None
    assert reference_sha256(origin, busted) == expected


def _judge_linked(
    edge: ProbeResponse, origin: ProbeResponse | None, busted: ProbeResponse | None
) -> CheckResult | None:
    return judge(
        edge,
        origin=origin,
        busted=busted,
        expected_sha256=None,
        expect_text=None,
        release_at=T,
        now=NOW,
        vantage="default",
    )


def test_a_cache_that_ignores_the_query_cannot_make_a_stale_linked_file_live() -> None:
    """The edge and the cache-busted URL both give the cached old copy (the CDN leaves the query
    out of its key); the origin has the new file, so the file is stale and the cache at fault."""
    edge = _response(FILE, body=OLD, headers=(*VARNISH, ("Age", "2940")))
    result = _judge_linked(edge, _response(ORIGIN), _response(BUSTED, body=OLD))
    assert result is not None
    assert (result.status, result.layer) == (Status.STALE, "cache")
    assert result.expected_sha256 == hashlib.sha256(NEW).hexdigest()
    assert "purge /statistics/tables/old.xlsx" in result.diagnosis
    assert _judge_linked(edge, None, _response(BUSTED, 503)) is None  # nobody vouches for it
