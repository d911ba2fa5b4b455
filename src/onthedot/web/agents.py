"""Remote probe agents: they pull the URLs to probe now and post back what they saw.

An agent authenticates with ``Authorization: Bearer TOKEN``; the token names the agent
(``agent_tokens``: token → name) and every result it posts is recorded under the vantage point
``agent:<name>``, whatever the agent says. It is given, for each release whose release time is
within [now − agents_after_s, now + agents_before_s], each artefact's public URL with what the new
version is; it may post results only for those URLs, and for the files (.xlsx, .ods, .csv, .pdf,
...) on the site that it found linked from one of the release's pages (``linked_from``).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header

from onthedot.errors import AgentTokenError, ConfigError, InputError
from onthedot.model import CheckResult, Release
from onthedot.settings import AGENT_NAME, AGENT_RULE, AGENT_TOKEN_CHARS, WebSettings
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.judgement import linked_file
from onthedot.verify.verifier import release_urls
from onthedot.web.context import Ctx, WebContext
from onthedot.web.schemas import (
    AgentResultIn,
    AgentResultsIn,
    AgentResultsOut,
    AssignedURL,
    Assignment,
    AssignmentsOut,
    ErrorOut,
)

TOKENS_ENV = "ONTHEDOT_AGENT_TOKENS"
router = APIRouter(prefix="/api/agent", tags=["agents"])
UNAUTHORISED: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 422: {"model": ErrorOut}}
MAX_CLOCK_SKEW = dt.timedelta(hours=1)


def agent_tokens(web: WebSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """token → agent name, for ``create_app``, from ``[web] agents = {edinburgh = "TOKEN"}`` in
    onthedot.toml (checked when it was loaded) and ``ONTHEDOT_AGENT_TOKENS=edinburgh:TOKEN,...``."""
    tokens = {token.get_secret_value(): name for name, token in web.agents.items()}
    for item in filter(None, (i.strip() for i in environ.get(TOKENS_ENV, "").split(","))):
        name, _, token = (part.strip() for part in item.partition(":"))
        if not AGENT_NAME.fullmatch(name) or len(token) < AGENT_TOKEN_CHARS:
            raise ConfigError(f"Agent {name!r} in {TOKENS_ENV}: {AGENT_RULE}.")
        tokens[token] = name
    return tokens


def agent_name(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> str:
    """The agent's name from its bearer token (compared in constant time)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AgentTokenError(
            "No agent token was sent: run the agent with --token TOKEN (a token from the "
            "server's agent_tokens)."
        )
    found = None
    for known, name in ctx.agent_tokens.items():
        if hmac.compare_digest(known.encode(), token.strip().encode()):
            found = name
    if found is None:
        raise AgentTokenError(
            "The server does not know this agent token: check --token against the server's "
            "agent_tokens."
        )
    ctx.agent_limiter.take(found)
    return found


Agent = Annotated[str, Depends(agent_name)]


def in_window(ctx: WebContext, release: Release, now: dt.datetime) -> bool:
    start = release.release_at - dt.timedelta(seconds=ctx.settings.agents_before_s)
    end = release.release_at + dt.timedelta(seconds=ctx.settings.agents_after_s)
    return start <= now <= end and release.site is not None


def assignment(release: Release) -> Assignment:
    assert release.site is not None
    return Assignment(
        release=release.id,
        release_at_utc=release.release_at,
        site=release.site.public,
        urls=[
            AssignedURL(
                url=t.public_url, expected_sha256=t.expected_sha256, expect_text=t.expect_text
            )
            for t in release_urls(release)
        ],
    )


@router.get("/assignments", response_model=AssignmentsOut, responses=UNAUTHORISED)
async def assignments(ctx: Ctx, agent: Agent) -> AssignmentsOut:
    """The URLs this agent should probe now."""
    now = ctx.clock.now()
    releases = await ReleaseRepository(ctx.engine).all()
    return AssignmentsOut(
        agent=agent,
        vantage=f"agent:{agent}",
        server_time=now,
        interval_s=ctx.settings.agent_interval_s,
        assignments=[assignment(r) for r in releases if in_window(ctx, r, now) and r.artefact],
    )


@router.post("/results", response_model=AgentResultsOut, responses=UNAUTHORISED)
async def post_results(body: AgentResultsIn, ctx: Ctx, agent: Agent) -> AgentResultsOut:
    """Record what the agent saw, under the vantage point ``agent:<name>``."""
    vantage = f"agent:{agent}"
    now = ctx.clock.now()
    known: dict[str, _Known] = {}
    by_release: dict[str, list[CheckResult]] = {}
    for item in body.results:
        if item.release not in known:
            known[item.release] = _Known(await ctx.release(item.release))
        _check(item, known[item.release], now)
        by_release.setdefault(item.release, []).append(_result(item, vantage))
    for release_id, results in by_release.items():
        await ctx.recorder.record(release_id, results)
    ctx.metrics.agent_posted(agent, len(body.results))
    return AgentResultsOut(recorded=len(body.results), vantage=vantage)


class _Known:
    """What an agent may post results for, for one release: its URLs, and files on its site
    linked from its pages."""

    def __init__(self, release: Release) -> None:
        items = release_urls(release)
        self.urls = {i.public_url for i in items}
        self.pages = {i.public_url for i in items if i.expect_text}
        self.public = release.site.public if release.site else None

    def allows(self, item: AgentResultIn) -> bool:
        if item.url in self.urls:
            return True
        return (
            item.linked_from in self.pages
            and self.public is not None
            and linked_file(item.url, self.public)
        )


def _check(item: AgentResultIn, known: _Known, now: dt.datetime) -> None:
    if not known.allows(item):
        raise InputError(
            f"{item.url} is not one of the URLs of release {item.release!r}: post results only "
            "for the URLs in /api/agent/assignments and the files on the site their pages link "
            "to (with linked_from)."
        )
    if abs(item.checked_at - now) > MAX_CLOCK_SKEW:
        raise InputError(
            f"A result for {item.url} says it was checked at {item.checked_at.isoformat()}, "
            "more than an hour from the server's time: correct the agent's clock."
        )


def _result(item: AgentResultIn, vantage: str) -> CheckResult:
    return CheckResult(
        url=item.url,
        status=item.status,
        served_sha256=item.served_sha256,
        expected_sha256=item.expected_sha256,
        diagnosis=item.diagnosis,
        cache=item.cache,
        vantage=vantage,
        checked_at=item.checked_at.astimezone(dt.UTC),
        http_status=item.http_status,
        layer=item.layer,
        timings=item.timings,
    )
