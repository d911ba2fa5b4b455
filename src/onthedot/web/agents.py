"""Remote probe agents: they pull the URLs to probe now and post back what they saw.

An agent authenticates with ``Authorization: Bearer TOKEN``; the token names the agent
(``agent_tokens``: token → name) and is checked before any byte of a body is read
(``web.bodies``); every result it posts is recorded under the vantage point ``agent:<name>``,
whatever the agent says. It is given only the releases assigned to it — their site's ``agents``
names it — from ``agents_before_s`` before their release time until ``agents_after_s`` after
(``access.agent_assigned``): each artefact's public URL with what the new version is. It may post
results only for those releases and URLs, and for the files (.xlsx, .ods, .csv, .pdf, ...) on the
site that it found linked from one of the release's pages (``linked_from``), each checked within
``agent_clock_skew_s`` of the server's clock. Anything else is refused whole, and logged.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header

from onthedot import logs
from onthedot.errors import AccessError, AgentTokenError, ConfigError, InputError
from onthedot.model import CheckResult, Release
from onthedot.settings import AGENT_NAME, AGENT_RULE, AGENT_TOKEN_CHARS, WebSettings
from onthedot.verify.judgement import linked_file
from onthedot.verify.verifier import release_urls
from onthedot.web.access import agent_assigned
from onthedot.web.context import Ctx
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
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 408, 413, 422, 429)
}
log = logs.get_logger("onthedot.agents")


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


def agent_for(tokens: Mapping[str, str], authorization: str | None) -> str:
    """The agent named by the bearer token in ``authorization`` (compared in constant time)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AgentTokenError(
            "No agent token was sent: give the agent its token from the server's [web] agents."
        )
    found = None
    for known, name in tokens.items():
        if hmac.compare_digest(known.encode(), token.strip().encode()):
            found = name
    if found is None:
        raise AgentTokenError(
            "The server does not know this agent token: check the agent's token against the "
            "server's [web] agents."
        )
    return found


def agent_name(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> str:
    """The agent's name from its bearer token, paced by its allowance of requests."""
    found = agent_for(ctx.agent_tokens, authorization)
    ctx.agent_limiter.take(found)
    return found


Agent = Annotated[str, Depends(agent_name)]


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


@router.get("/assignments", response_model=AssignmentsOut, responses=REFUSALS)
async def assignments(ctx: Ctx, agent: Agent) -> AssignmentsOut:
    """The URLs this agent should probe now: of the releases assigned to it, in their window."""
    now = ctx.clock.now()
    releases = await ctx.shelf.all()
    return AssignmentsOut(
        agent=agent,
        vantage=f"agent:{agent}",
        server_time=now,
        interval_s=ctx.settings.agent_interval_s,
        assignments=[
            assignment(r)
            for r in releases
            if r.artefact and agent_assigned(agent, r, now, ctx.settings)
        ],
    )


@router.post("/results", response_model=AgentResultsOut, responses=REFUSALS)
async def post_results(body: AgentResultsIn, ctx: Ctx, agent: Agent) -> AgentResultsOut:
    """Record what the agent saw, under the vantage point ``agent:<name>``."""
    vantage = f"agent:{agent}"
    now = ctx.clock.now()
    known: dict[str, _Known] = {}
    by_release: dict[str, list[CheckResult]] = {}
    for item in body.results:
        if item.release not in known:
            release = await ctx.release(item.release)
            _refuse_unassigned(agent, release, now, ctx.settings)
            known[item.release] = _Known(release)
        _check(agent, item, known[item.release], now, ctx.settings.agent_clock_skew_s)
        by_release.setdefault(item.release, []).append(_result(item, vantage))
    for release_id, results in by_release.items():
        await ctx.recorder.record(release_id, results)
    ctx.metrics.agent_posted(agent, len(body.results))
    return AgentResultsOut(recorded=len(body.results), vantage=vantage)


def _refuse_unassigned(agent: str, release: Release, now: dt.datetime, web: WebSettings) -> None:
    if agent_assigned(agent, release, now, web, grace_s=web.agent_clock_skew_s):
        return  # a probe made at the end of the window may arrive a little after it
    named = release.site is not None and agent in release.site.agents
    log.warning(
        "agent.refused", agent=agent, release=release.id, why="window" if named else "not assigned"
    )
    if not named:
        raise AccessError(
            f"Release {release.id!r} is not assigned to agent {agent!r}: name the agent in the "
            "release's [site] agents to have it probe this release."
        )
    raise AccessError(
        f"Agent {agent!r} may post results for release {release.id!r} only from "
        f"{web.agents_before_s:g} s before its release time until {web.agents_after_s:g} s "
        "after: post only what /api/agent/assignments gives."
    )


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


def _check(agent: str, item: AgentResultIn, known: _Known, now: dt.datetime, skew_s: float) -> None:
    if not known.allows(item):
        log.warning("agent.refused", agent=agent, release=item.release, why="not its url")
        raise InputError(
            f"{item.url} is not one of the URLs of release {item.release!r}: post results only "
            "for the URLs in /api/agent/assignments and the files on the site their pages link "
            "to (with linked_from)."
        )
    if abs((item.checked_at - now).total_seconds()) > skew_s:
        log.warning("agent.refused", agent=agent, release=item.release, why="clock")
        raise InputError(
            f"A result for {item.url} says it was checked at {item.checked_at.isoformat()}, "
            f"more than {skew_s:g} s from the server's time: correct the agent's clock."
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
