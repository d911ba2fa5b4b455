"""Remote probe agents end to end: the app served by uvicorn, nginx serving the artefacts, the
``agent`` command run once; plus the agent's retries, token errors and SSRF guard."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner

import onthedot
from onthedot.agent import (
    ARGV_WARNING,
    POST_BYTES,
    POST_RESULTS,
    TOKEN_ENV,
    AgentOptions,
    ServerClient,
    Transports,
    _posted,
    agent_token,
    curl_transports,
    probe,
    run_agent,
)
from onthedot.cli import agent_cmds
from onthedot.config import Config
from onthedot.errors import AgentError, AgentTokenError
from onthedot.model import Artefact, CheckResult, Release, Site, Status, utcnow
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tables import checks
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.judgement import judge as real_judge
from onthedot.verify.probe import ProbeRequest, ProbeResponse, ProbeTransport
from onthedot.verify.verifier import UNREADABLE
from onthedot.web.app import create_app
from onthedot.web.schemas import AgentResultIn, AgentResultsOut, AssignedURL, Assignment
from tests.servers.nginx import Nginx
from tests.servers.varnish import Varnish
from tests.web.serve import serve

NEW = b"Fatal injuries, April to September 2019: 69 workers\n"
OLD = b"Fatal injuries, April to September 2018: 71 workers\n"
TOKENS = {"tok-edinburgh-7f3a": "edinburgh"}
RELEASE_ID = "fatal-injuries-2019-apr-sep"


def the_release(public: str, release_at: dt.datetime) -> Release:
    return Release(
        id=RELEASE_ID,
        title="Fatal injuries arising from accidents at work in Great Britain",
        producer="Health and Safety Executive",
        release_at=release_at,
        site=Site(public=public, agents=("edinburgh",)),
        artefact=(
            Artefact(
                path="/statistics/fatalquarterly.xlsx", sha256=hashlib.sha256(NEW).hexdigest()
            ),
            Artefact(path="/statistics/fatals.csv", sha256=hashlib.sha256(NEW).hexdigest()),
        ),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite:///{tmp_path / 'onthedot.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def app_with(store: AsyncEngine, public: str) -> FastAPI:
    await ReleaseRepository(store).sync(the_release(public, utcnow() - dt.timedelta(minutes=1)))
    return create_app(store, config=Config(), agent_tokens=TOKENS)


@pytest.mark.services
async def test_agent_once_posts_results_seen_under_its_own_vantage(
    store: AsyncEngine, origin: Nginx, webroot: Path, tmp_path: Path
) -> None:
    (webroot / "statistics").mkdir()
    (webroot / "statistics" / "fatalquarterly.xlsx").write_bytes(NEW)
    (webroot / "statistics" / "fatals.csv").write_bytes(OLD)  # the upload did not happen
    app = await app_with(store, origin.url)
    async with serve(app) as base:
        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "onthedot.cli.agent_cmds",
            "--server", base, "--name", "edinburgh", "--once", "--json",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "ONTHEDOT_AGENT_TOKEN": "tok-edinburgh-7f3a"},
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(agent.communicate(), 60)
        async with httpx.AsyncClient(base_url=base) as client:
            detail = (await client.get(f"/api/releases/{RELEASE_ID}")).json()
    assert agent.returncode == 1, stderr.decode()  # a stale URL is a breach
    report = json.loads(stdout)
    assert report["vantage"] == "agent:edinburgh" and report["recorded"] == 2
    seen = {(r["url"].rsplit("/", 1)[1], r["vantage"]): r for r in detail["results"]}
    assert set(seen) == {
        ("fatalquarterly.xlsx", "agent:edinburgh"),
        ("fatals.csv", "agent:edinburgh"),
    }
    assert seen[("fatalquarterly.xlsx", "agent:edinburgh")]["status"] == "live"
    stale = seen[("fatals.csv", "agent:edinburgh")]
    assert stale["status"] == "stale"
    assert stale["served_sha256"] == hashlib.sha256(OLD).hexdigest()
    assert "check that the upload reached the web server" in stale["diagnosis"]
    assert [f["vantage"] for f in detail["first_live"]] == ["agent:edinburgh"]


PAGE = (
    b"<html><body><h1>Fatal injuries, April to September 2019</h1>"
    b'<a href="tables/fatal-tables.xlsx">Tables</a> <a href="/statistics/fatals.csv">CSV</a>'
    b'<a href="https://elsewhere.example/leak.xlsx">Elsewhere</a></body></html>'
)


@pytest.mark.services
async def test_the_agent_checks_the_files_a_page_links_to(
    store: AsyncEngine, varnish: Varnish, webroot: Path
) -> None:
    """A page's linked spreadsheet, still old in the cache while the site has the new one behind
    it, is stale from the agent's vantage point too; the server records it (linked_from)."""
    tables = webroot / "statistics" / "tables"
    tables.mkdir(parents=True)
    (tables / "fatal-tables.xlsx").write_bytes(OLD)
    async with httpx.AsyncClient() as client:  # the edge caches last year's tables
        cached = await client.get(f"{varnish.url}/statistics/tables/fatal-tables.xlsx")
    assert cached.content == OLD
    (tables / "fatal-tables.xlsx").write_bytes(NEW)  # the upload reached the origin
    (webroot / "statistics" / "index.html").write_bytes(PAGE)
    (webroot / "statistics" / "fatals.csv").write_bytes(NEW)
    release = Release(
        id=RELEASE_ID,
        title="Fatal injuries arising from accidents at work in Great Britain",
        producer="Health and Safety Executive",
        release_at=utcnow() - dt.timedelta(minutes=1),
        site=Site(public=varnish.url, agents=("edinburgh",)),
        artefact=(
            Artefact(path="/statistics/index.html", expect_text="April to September 2019"),
            Artefact(path="/statistics/fatals.csv", sha256=hashlib.sha256(NEW).hexdigest()),
        ),
    )
    await ReleaseRepository(store).sync(release)
    app = create_app(store, config=Config(), agent_tokens=TOKENS)
    said: list[str] = []
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", timeout_s=5)
        cycle = await run_agent(options, once=True, say=said.append)
        async with httpx.AsyncClient(base_url=base) as client:
            detail = (await client.get(f"/api/releases/{RELEASE_ID}")).json()
    by_url = {r.url.rsplit("/", 1)[1]: r for r in cycle.results}
    assert set(by_url) == {"index.html", "fatals.csv", "fatal-tables.xlsx"}  # linked CSV: once
    linked = by_url["fatal-tables.xlsx"]
    assert linked.linked_from == f"{varnish.url}/statistics/index.html"
    assert linked.status.value == "stale" and linked.layer == "cache"
    assert linked.served_sha256 == hashlib.sha256(OLD).hexdigest()
    assert linked.expected_sha256 == hashlib.sha256(NEW).hexdigest()
    assert "purge /statistics/tables/fatal-tables.xlsx" in linked.diagnosis
    assert cycle.recorded == 3
    recorded = {(r["url"].rsplit("/", 1)[1], r["status"]) for r in detail["results"]}
    assert ("fatal-tables.xlsx", "stale") in recorded
    assert said == []


async def test_an_unreachable_server_is_retried_then_one_sentence(tmp_path: Path) -> None:
    waits: list[float] = []
    said: list[str] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    options = AgentOptions(server="http://127.0.0.1:9", token="t", timeout_s=2)
    with pytest.raises(AgentError) as caught:
        await run_agent(options, once=True, say=said.append, sleep=sleep)
    assert waits == [0.5, 1.0, 2.0]
    assert str(caught.value) == (
        "Cannot reach the onthedot server at http://127.0.0.1:9 (connection refused): "
        "check --server and that onthedot runs there."
    )
    assert said[0].endswith("(connection refused): trying again in 0.5 s.")


class Flaky:
    """Answers ``status`` (503) to the first ``failures`` requests, then passes them on."""

    def __init__(
        self,
        app: ASGIApp,
        failures: int,
        status: int = 503,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.app, self.failures, self.status, self.headers = app, failures, status, list(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.failures > 0:
            self.failures -= 1
            start = {"type": "http.response.start", "status": self.status, "headers": self.headers}
            await send(start)
            await send({"type": "http.response.body", "body": b"busy"})
            return
        await self.app(scope, receive, send)


async def test_told_to_slow_down_the_agent_waits_as_long_as_the_server_says(
    store: AsyncEngine,
) -> None:
    app = await app_with(store, "http://127.0.0.1:9")
    app.add_middleware(Flaky, failures=1, status=429, headers=((b"retry-after", b"7"),))
    waits: list[float] = []
    said: list[str] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", timeout_s=2)
        cycle = await run_agent(options, once=True, say=said.append, sleep=sleep)
    assert waits[0] == 7.0 and said[0].endswith("answered 429: trying again in 7 s.")
    assert cycle.recorded == 2


async def test_a_busy_server_is_retried_and_a_bad_token_is_not(store: AsyncEngine) -> None:
    app = await app_with(store, "http://127.0.0.1:9")  # nothing to fetch: refused connections
    app.add_middleware(Flaky, failures=2)
    said: list[str] = []

    async def sleep(seconds: float) -> None:
        return None

    async with serve(app) as base:
        good = AgentOptions(server=base, token="tok-edinburgh-7f3a", name="glasgow", timeout_s=2)
        cycle = await run_agent(good, once=True, say=said.append, sleep=sleep)
        with pytest.raises(AgentTokenError) as caught:
            await run_agent(AgentOptions(server=base, token="nope"), once=True, sleep=sleep)
    assert said[0].endswith("answered 503: trying again in 0.5 s.")
    assert said[1].endswith("answered 503: trying again in 1 s.")
    assert said[2].startswith("The server knows this token as 'edinburgh', not 'glasgow'")
    assert cycle.vantage == "agent:edinburgh" and cycle.recorded == 2
    assert {r.status.value for r in cycle.results} == {"error"}  # nothing listens on port 9
    assert "does not know this agent token" in str(caught.value)


async def test_the_agent_fetches_only_its_sites_host() -> None:
    said: list[str] = []
    assignment = Assignment(
        release=RELEASE_ID,
        release_at_utc=utcnow(),
        site="http://127.0.0.1:9",
        urls=[AssignedURL(url="http://169.254.169.254/latest/meta-data", expect_text="x")],
    )
    options = AgentOptions(server="http://x", token="t")
    results = await probe(assignment, utcnow, options, said.append, curl_transports(options))
    assert results == []
    assert said[0].startswith("Refused an assigned URL: http://169.254.169.254/latest/meta-data")


def test_the_agent_command_is_registered_with_its_options() -> None:
    app = typer.Typer()
    agent_cmds.register(app)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(o in result.output for o in ("--server", "--token-file", "--name", "--once"))
    # a token in argv is visible to every user (ps): the help offers only the file and $ONTHEDOT_AGENT_TOKEN
    assert "--token " not in result.output
    result = CliRunner().invoke(app, ["--server", "ftp://x", "--token", "t", "--once"])
    assert result.exit_code == 2
    assert "is not an http:// or https:// address" in result.output


def test_a_token_on_the_command_line_is_taken_with_a_warning_and_none_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = typer.Typer()
    agent_cmds.register(app)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    result = CliRunner().invoke(app, ["--server", "ftp://x", "--token", "t", "--once"])
    assert "can be read by every user of this machine" in result.output
    result = CliRunner().invoke(app, ["--server", "http://127.0.0.1:9", "--once"])
    assert result.exit_code == 2
    assert f"The agent has no token: set {TOKEN_ENV}, or give --token-file" in result.output


def test_the_token_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    private = tmp_path / "agent.token"
    private.write_text("tok-from-file-0001\n", encoding="utf-8")
    private.chmod(0o600)
    assert agent_token(private, None, {}) == ("tok-from-file-0001", [])
    assert agent_token(None, None, {TOKEN_ENV: "tok-env"}) == ("tok-env", [])
    assert agent_token(None, "tok-argv", {}) == ("tok-argv", [ARGV_WARNING])
    private.chmod(0o644)
    _, warnings = agent_token(private, None, {})
    assert warnings == [
        f"The token file {private} can be read by other users: chmod 600 {private}."
    ]
    with pytest.raises(AgentTokenError, match="cannot be read"):
        agent_token(tmp_path / "missing", None, {})
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(AgentTokenError, match="on one line"):
        agent_token(tmp_path / "empty", None, {})


class Stop(Exception):
    pass


class CountingClock:
    """The real time, but ``sleep`` returns at once and stops the loop after ``rounds`` rounds."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.slept: list[float] = []

    def now(self) -> dt.datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) >= self.rounds:
            raise Stop


async def test_the_loop_goes_round_every_interval_saying_what_it_did(store: AsyncEngine) -> None:
    app = await app_with(store, "http://127.0.0.1:9")
    said: list[str] = []
    clock = CountingClock(rounds=2)
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", interval_s=2.0)
        with pytest.raises(Stop):
            await run_agent(options, clock=clock, say=said.append)
    assert clock.slept == [2.0, 2.0]
    assert said == ["Posted 2 result(s) for 1 release(s) as agent:edinburgh (error 2)."] * 2


# -- a result the server cannot take, and a round with thousands of results ------------------

SITE = "http://statistics.example"
LONG_CSV = f"{SITE}/statistics/fatals.csv?edition=" + "x" * 2060  # over the 2,000 the server takes
LINKS_PAGE = (
    b"<html><body><h1>Fatal injuries, April to September 2019</h1>"
    b'<a href="' + LONG_CSV.encode() + b'">CSV</a> <a href="tables/fatal-tables.xlsx">Tables</a>'
    b"</body></html>"
)
LONG_VIA = "1.1 edge-" + "v" * 9000  # a cache header longer than the 8,000 characters taken


def site_answering(
    pages: dict[str, bytes], headers: tuple[tuple[str, str], ...] = ()
) -> Transports:
    """An in-memory site: ``pages`` by path, any other path the new file, every answer with
    ``headers``; each prober gets a transport of its own."""

    def answer(request: ProbeRequest) -> ProbeResponse:
        body = pages.get(urlsplit(request.url).path, NEW)
        return mock_response(request, body=body, headers=headers)

    return lambda: MockProbeTransport(answer)


async def app_for_site(store: AsyncEngine, artefacts: tuple[Artefact, ...]) -> FastAPI:
    release = Release(
        id=RELEASE_ID,
        title="Fatal injuries arising from accidents at work in Great Britain",
        producer="Health and Safety Executive",
        release_at=utcnow() - dt.timedelta(minutes=1),
        site=Site(public=SITE, agents=("edinburgh",)),
        artefact=artefacts,
    )
    await ReleaseRepository(store).sync(release)
    return create_app(store, config=Config(), agent_tokens=TOKENS)


async def test_a_page_linking_an_address_too_long_to_post_does_not_stop_the_agent(
    store: AsyncEngine,
) -> None:
    """The 2,100-character link is left out, said once; the rest is posted every round."""
    assert len(LONG_CSV) > 2000
    app = await app_for_site(
        store,
        (
            Artefact(path="/statistics/index.html", expect_text="April to September 2019"),
            Artefact(path="/statistics/fatals.csv", sha256=hashlib.sha256(NEW).hexdigest()),
        ),
    )
    said: list[str] = []
    clock = CountingClock(rounds=3)
    transports = site_answering({"/statistics/index.html": LINKS_PAGE})
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", interval_s=2.0)
        with pytest.raises(Stop):
            await run_agent(options, clock=clock, say=said.append, transports=transports)
        cycle = await run_agent(options, once=True, say=said.append, transports=transports)
        async with httpx.AsyncClient(base_url=base) as client:
            detail = (await client.get(f"/api/releases/{RELEASE_ID}")).json()
    left_out = [s for s in said if s.startswith("Left out")]
    assert len(left_out) == 2, said  # once by the loop, once by the single round
    assert LONG_CSV[:60] in left_out[0] and LONG_CSV not in left_out[0]
    assert "linked from http://statistics.example/statistics/index.html" in left_out[0]
    assert "longer than the 2,000 characters" in left_out[0]
    posted = [s for s in said if s.startswith("Posted")]
    assert posted == ["Posted 3 result(s) for 1 release(s) as agent:edinburgh (live 3)."] * 3
    assert cycle.recorded == 3 and LONG_CSV not in {r.url for r in cycle.results}
    recorded = {r["url"].rsplit("/", 1)[1] for r in detail["results"]}
    assert recorded == {"index.html", "fatals.csv", "fatal-tables.xlsx"}


async def test_an_over_long_cache_header_is_shortened_and_the_result_recorded(
    store: AsyncEngine,
) -> None:
    app = await app_for_site(
        store, (Artefact(path="/statistics/fatals.csv", sha256=hashlib.sha256(NEW).hexdigest()),)
    )
    said: list[str] = []
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a")
        cycle = await run_agent(
            options,
            once=True,
            say=said.append,
            transports=site_answering({}, headers=(("Via", LONG_VIA),)),
        )
    assert cycle.recorded == 1 and said == []
    via = cycle.results[0].cache["headers"]["via"]
    assert len(via) == 8000 and via.startswith("1.1 edge-vvv") and via.endswith("…")


class BreaksOnce:
    """Makes probers' transports (libcurl), but the first one asked for after ``arm()`` breaks."""

    def __init__(self) -> None:
        self.armed = True

    def arm(self) -> None:
        self.armed = True

    def __call__(self) -> ProbeTransport:
        if self.armed:
            self.armed = False
            raise RuntimeError("the transport broke")
        return curl_transports(AgentOptions(server="http://x", token="t"))()


async def test_a_round_that_fails_unexpectedly_is_said_and_the_next_round_goes_on(
    store: AsyncEngine,
) -> None:
    app = await app_with(store, "http://127.0.0.1:9")
    transports = BreaksOnce()
    said: list[str] = []
    clock = CountingClock(rounds=2)
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", interval_s=2.0)
        with pytest.raises(Stop):
            await run_agent(options, clock=clock, say=said.append, transports=transports)
        transports.arm()
        with pytest.raises(AgentError) as caught:  # one round: the command exits with it
            await run_agent(options, once=True, say=said.append, transports=transports)
    assert clock.slept == [2.0, 2.0]
    assert said[0] == (
        "This round went wrong unexpectedly (RuntimeError: the transport broke): trying again "
        "in 2 s; if it keeps happening, report it with the agent's version "
        f"({onthedot.__version__})."
    )
    assert said[1] == "Posted 2 result(s) for 1 release(s) as agent:edinburgh (error 2)."
    assert str(caught.value) == (
        "This round went wrong unexpectedly (RuntimeError: the transport broke): run the agent "
        "again, and if it keeps happening, report it with the agent's version "
        f"({onthedot.__version__})."
    )


class PostSizes:
    """Notes the size of every result post on its way to the app."""

    def __init__(self, app: ASGIApp, sizes: list[int]) -> None:
        self.app, self.sizes = app, sizes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/agent/results":
            self.sizes.append(int(dict(scope["headers"]).get(b"content-length", b"0")))
        await self.app(scope, receive, send)


MANY = 12_000


async def test_twelve_thousand_results_are_posted_in_several_requests_and_all_recorded(
    store: AsyncEngine,
) -> None:
    """12,000 results (about 14 MB of JSON) are more than one request may carry (8 MiB)."""
    sha = hashlib.sha256(NEW).hexdigest()
    app = await app_for_site(
        store, tuple(Artefact(path=f"/data/table-{i:05}.csv", sha256=sha) for i in range(MANY))
    )
    sizes: list[int] = []
    app.add_middleware(PostSizes, sizes=sizes)
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a", timeout_s=30)
        cycle = await run_agent(options, once=True, transports=site_answering({}))
    assert cycle.recorded == MANY and cycle.counts == {"live": MANY}
    assert len(sizes) > 1 and max(sizes) <= Config().web.max_body_bytes // 4
    async with store.connect() as conn:
        agents = checks.c.vantage == "agent:edinburgh"
        stored = await conn.scalar(sa.select(sa.func.count()).select_from(checks).where(agents))
    assert stored == MANY


def a_result(i: int, *, url: str | None = None, diagnosis: str = "Live.") -> CheckResult:
    return CheckResult(
        url=url or f"{SITE}/data/table-{i:05}.csv",
        status=Status.LIVE,
        served_sha256=hashlib.sha256(NEW).hexdigest(),
        expected_sha256=hashlib.sha256(NEW).hexdigest(),
        diagnosis=diagnosis,
        cache={"headers": {"via": "1.1 edge"}},
        checked_at=utcnow(),
        http_status=200,
        timings={"total": 0.01},
    )


ASSIGNMENT = Assignment(release=RELEASE_ID, release_at_utc=utcnow(), site=SITE, urls=[])


def fake_server(refuse_post: int | None = None) -> tuple[FastAPI, list[tuple[int, int]]]:
    """Records (results, bytes) of each post and answers it recorded; refuses post number
    ``refuse_post`` (from 1) with 422."""
    app = FastAPI()
    posts: list[tuple[int, int]] = []

    @app.post("/api/agent/results")
    async def results(request: Request) -> JSONResponse:
        body = await request.body()
        count = len(json.loads(body)["results"])
        posts.append((count, len(body)))
        if len(posts) == refuse_post:
            return JSONResponse({"error": "Refused for the test."}, status_code=422)
        return JSONResponse({"recorded": count, "vantage": "agent:edinburgh"})

    return app, posts


async def post_through(base: str, results: list[AgentResultIn]) -> AgentResultsOut:
    async with aiohttp.ClientSession() as session:
        options = AgentOptions(server=base, token="t")
        return await ServerClient(session, options, say=print, attempts=1).post(results)


async def test_results_are_posted_in_batches_bounded_by_count_and_bytes() -> None:
    small = [_posted(ASSIGNMENT, a_result(i), None, print) for i in range(MANY)]
    long = "w" * 1900
    wordy = [_posted(ASSIGNMENT, a_result(i, diagnosis=long), None, print) for i in range(900)]
    app, posts = fake_server()
    async with serve(app) as base:
        many = await post_through(base, [r for r in small if r is not None])
        sent_many = list(posts)
        posts.clear()
        large = await post_through(base, [r for r in wordy if r is not None])
    assert many.recorded == MANY and many.vantage == "agent:edinburgh"
    assert sum(n for n, _ in sent_many) == MANY and len(sent_many) == -(-MANY // POST_RESULTS)
    assert large.recorded == 900 and len(posts) > 1  # 900 × 2 KB: more than one request's bytes
    assert all(n <= POST_RESULTS and size <= POST_BYTES for n, size in sent_many + posts)


async def test_a_refused_batch_says_how_many_were_recorded_before_it() -> None:
    results = [_posted(ASSIGNMENT, a_result(i), None, print) for i in range(MANY)]
    app, posts = fake_server(refuse_post=3)
    async with serve(app) as base:
        with pytest.raises(AgentError) as caught:
            await post_through(base, [r for r in results if r is not None])
    assert len(posts) == 3
    before = posts[0][0] + posts[1][0]
    assert "Refused for the test." in str(caught.value)
    assert caught.value.__notes__ == [
        f"{before:,} of the round's {MANY:,} results were recorded before that."
    ]


def test_a_result_is_shortened_to_what_the_server_takes_or_left_out_once() -> None:
    said: list[str] = []
    wordy = _posted(ASSIGNMENT, a_result(1, diagnosis="d" * 2500), None, said.append)
    assert wordy is not None and len(wordy.diagnosis) == 2000 and wordy.diagnosis.endswith("…")
    page = f"{SITE}/statistics/index.html"
    assert _posted(ASSIGNMENT, a_result(2, url=LONG_CSV), page, said.append) is None
    assert said == [
        f"Left out the result for {LONG_CSV[:80]}… (linked from {page}): its address is "
        f"{len(LONG_CSV):,} characters long, longer than the 2,000 characters the server takes, "
        "so give the file a shorter address to have it checked."
    ]


TABLES_PAGE = (
    b"<html><body><h1>Fatal injuries, April to September 2019</h1>"
    b'<a href="tables/fatal-tables.xlsx">Tables</a></body></html>'
)


@pytest.mark.parametrize("breaks", ["fatals.csv", "fatal-tables.xlsx"], ids=["assigned", "linked"])
async def test_an_answer_that_cannot_be_judged_is_an_error_and_the_rest_are_posted(
    store: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    breaks: str,
) -> None:
    """Judging one answer fails in a way nobody foresaw: that URL is posted as an error (the
    failure logged for IT), the others as ever, and the round goes on."""
    app = await app_for_site(
        store,
        (
            Artefact(path="/statistics/index.html", expect_text="April to September 2019"),
            Artefact(path="/statistics/fatals.csv", sha256=hashlib.sha256(NEW).hexdigest()),
        ),
    )

    def judge(edge: ProbeResponse, **kwargs: Any) -> CheckResult | None:
        if edge.request.url.endswith("/" + breaks):
            raise RuntimeError("an answer nobody foresaw")
        return real_judge(edge, **kwargs)

    monkeypatch.setattr("onthedot.agent.judge", judge)
    said: list[str] = []
    transports = site_answering({"/statistics/index.html": TABLES_PAGE})
    async with serve(app) as base:
        options = AgentOptions(server=base, token="tok-edinburgh-7f3a")
        cycle = await run_agent(options, once=True, say=said.append, transports=transports)
        async with httpx.AsyncClient(base_url=base) as client:
            detail = (await client.get(f"/api/releases/{RELEASE_ID}")).json()
    statuses = {r.url.rsplit("/", 1)[1]: r.status for r in cycle.results}
    assert statuses == {
        name: Status.ERROR if name == breaks else Status.LIVE
        for name in ("index.html", "fatals.csv", "fatal-tables.xlsx")
    }
    (broken,) = [r for r in cycle.results if r.status == Status.ERROR]
    assert broken.diagnosis == UNREADABLE and broken.http_status == 200
    assert broken.linked_from == (f"{SITE}/statistics/index.html" if "tables" in breaks else None)
    assert cycle.recorded == 3 and said == []
    recorded = {(r["url"].rsplit("/", 1)[1], r["status"]) for r in detail["results"]}
    assert (breaks, "error") in recorded and len(recorded) == 3
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError
    assert breaks in logged.getMessage()
