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

import httpx
import pytest
import typer
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner

from onthedot.agent import (
    ARGV_WARNING,
    TOKEN_ENV,
    AgentOptions,
    agent_token,
    curl_transports,
    probe,
    run_agent,
)
from onthedot.cli import agent_cmds
from onthedot.config import Config
from onthedot.errors import AgentError, AgentTokenError
from onthedot.model import Artefact, Release, Site, utcnow
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.web.app import create_app
from onthedot.web.schemas import AssignedURL, Assignment
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
    assert warnings == [f"The token file {private} can be read by other users: chmod 600 {private}."]
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
