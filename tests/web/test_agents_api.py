"""Remote agents' endpoints: bearer tokens, the assignment window, results under agent:<name>."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from onthedot.config import Config
from onthedot.errors import ConfigError, TooManyRequestsError
from onthedot.settings import WebSettings
from onthedot.web.agents import agent_tokens
from onthedot.web.app import create_app
from onthedot.web.context import AGENT_BURST, AgentLimiter
from tests.web.conftest import FATAL, NEW, NOW, OLD, PAGE, PUBLIC, TOKENS, XLSX, FixedClock

EDINBURGH = {"Authorization": "Bearer tok-edinburgh-7f3a"}
CARDIFF = {"Authorization": "Bearer tok-cardiff-91bc"}


def posted(url: str = XLSX, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "release": FATAL.id,
        "url": url,
        "status": "stale",
        "served_sha256": OLD,
        "expected_sha256": NEW,
        "diagnosis": "The cache (Varnish) served the old file (Age 3,500 s of max-age 3,600 s): "
        "purge /statistics/fatalquarterly.xlsx or wait 100 s.",
        "checked_at": (NOW - dt.timedelta(seconds=2)).isoformat(),
        "http_status": 200,
        "layer": "cache",
    }
    return item | extra


async def test_a_missing_or_unknown_token_is_401_with_one_sentence(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/agent/assignments")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"].startswith("No agent token was sent: give the agent its token")
    response = await client.get(
        "/api/agent/assignments", headers={"Authorization": "Bearer guessed"}
    )
    assert response.status_code == 401
    assert "does not know this agent token" in response.json()["error"]
    response = await client.post(
        "/api/agent/results", json={"results": [posted()]}, headers={"Authorization": "Basic x"}
    )
    assert response.status_code == 401


async def test_assignments_cover_releases_from_15_min_before_to_30_min_after_t(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    body = (await client.get("/api/agent/assignments", headers=EDINBURGH)).json()
    assert body["agent"] == "edinburgh" and body["vantage"] == "agent:edinburgh"
    assert body["server_time"] == "2019-12-18T09:41:00Z"
    (only,) = body["assignments"]
    assert only["release"] == FATAL.id and only["site"] == "https://www.hse.gov.uk"
    assert only["urls"] == [
        {"url": XLSX, "expected_sha256": NEW, "expect_text": None},
        {"url": PAGE, "expected_sha256": None, "expect_text": "April to September 2019"},
    ]
    expected = {-16: [], -14: [FATAL.id], 29: [FATAL.id], 31: []}
    seen = {}
    for minutes in expected:
        clock.at = FATAL.release_at + dt.timedelta(minutes=minutes)
        reply = (await client.get("/api/agent/assignments", headers=EDINBURGH)).json()
        seen[minutes] = [a["release"] for a in reply["assignments"]]
    assert seen == expected


async def test_results_are_recorded_under_the_tokens_agent(
    client: httpx.AsyncClient, scraper: dict[str, str]
) -> None:
    response = await client.post(
        "/api/agent/results", json={"results": [posted()]}, headers=EDINBURGH
    )
    assert response.status_code == 200
    assert response.json() == {"recorded": 1, "vantage": "agent:edinburgh"}
    detail = (await client.get(f"/api/releases/{FATAL.id}")).json()
    mine = [r for r in detail["results"] if r["vantage"] == "agent:edinburgh"]
    assert [(r["url"], r["status"]) for r in mine] == [(XLSX, "stale")]
    metrics = (await client.get("/metrics", headers=scraper)).text
    assert 'onthedot_agent_results_total{agent="edinburgh"} 1.0' in metrics


async def test_an_agent_cannot_choose_its_vantage_or_post_foreign_urls(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/agent/results", json={"results": [posted(vantage="default")]}, headers=EDINBURGH
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("The request is not valid (results.0.vantage")
    response = await client.post(
        "/api/agent/results",
        json={"results": [posted(), posted(url="http://169.254.169.254/latest/meta-data")]},
        headers=EDINBURGH,
    )
    assert response.status_code == 422
    assert "is not one of the URLs of release" in response.json()["error"]
    detail = (await client.get(f"/api/releases/{FATAL.id}")).json()
    assert all(not r["vantage"].startswith("agent:") for r in detail["results"])  # none recorded


async def test_results_with_a_bad_status_or_far_off_clock_are_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/agent/results", json={"results": [posted(status="fine")]}, headers=EDINBURGH
    )
    assert response.status_code == 422 and "results.0.status" in response.json()["error"]
    skewed = posted(checked_at=(NOW + dt.timedelta(hours=3)).isoformat())
    response = await client.post(
        "/api/agent/results", json={"results": [skewed]}, headers=EDINBURGH
    )
    assert response.status_code == 422 and "correct the agent's clock" in response.json()["error"]
    response = await client.post(
        "/api/agent/results",
        json={"results": [posted(release="no-such-release")]},
        headers=EDINBURGH,
    )
    assert response.status_code == 404


def test_agent_tokens_from_config_and_environment_map_token_to_name() -> None:
    web = WebSettings.model_validate({"agents": {"edinburgh": "0123456789abcdef0123"}})
    environ = {"ONTHEDOT_AGENT_TOKENS": "cardiff:fedcba9876543210fedc, belfast:aaaabbbbccccdddd"}
    assert agent_tokens(web, environ) == {
        "0123456789abcdef0123": "edinburgh",
        "fedcba9876543210fedc": "cardiff",
        "aaaabbbbccccdddd": "belfast",
    }
    with pytest.raises(ConfigError, match=r"Agent 'cardiff' in ONTHEDOT_AGENT_TOKENS: .* 16 char"):
        agent_tokens(WebSettings(), {"ONTHEDOT_AGENT_TOKENS": "cardiff"})


async def test_files_linked_from_the_releases_pages_are_taken_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    linked = f"{PUBLIC}/statistics/tables/fatal-tables.xlsx"
    taken = await client.post(
        "/api/agent/results",
        json={"results": [posted(linked, linked_from=PAGE)]},
        headers=EDINBURGH,
    )
    assert taken.status_code == 200 and taken.json()["recorded"] == 1
    refused = [
        posted(linked),  # not assigned, and no page named
        posted(linked, linked_from=XLSX),  # a spreadsheet is not a page
        posted("http://elsewhere.example/fatal-tables.xlsx", linked_from=PAGE),  # not the site
        posted(f"{PUBLIC}/statistics/other.htm", linked_from=PAGE),  # a page, not a file
    ]
    for item in refused:
        answer = await client.post(
            "/api/agent/results", json={"results": [item]}, headers=EDINBURGH
        )
        assert answer.status_code == 422, item
        assert "the files on the site their pages link to" in answer.json()["error"]


async def test_an_agent_asking_too_fast_is_told_when_to_ask_again(
    store: AsyncEngine, clock: FixedClock
) -> None:
    app = create_app(
        store,
        config=Config(web=WebSettings(agent_min_interval_s=60)),
        clock=clock,
        agent_tokens=TOKENS,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        answers = [
            await c.get("/api/agent/assignments", headers=EDINBURGH) for _ in range(AGENT_BURST + 1)
        ]
        other = await c.get("/api/agent/assignments", headers=CARDIFF)
    assert [a.status_code for a in answers[:-1]] == [200] * AGENT_BURST
    assert answers[-1].status_code == 429
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert (
        answers[-1]
        .json()["error"]
        .startswith("Agent 'edinburgh' is asking faster than one request every 60 s: wait")
    )
    assert other.status_code == 200  # each agent has its own allowance


def test_the_limiter_gives_back_one_request_per_interval() -> None:
    limiter = AgentLimiter(0.5, burst=2)
    limiter.take("a", now=0.0)
    limiter.take("a", now=0.0)
    with pytest.raises(TooManyRequestsError) as caught:
        limiter.take("a", now=0.1)
    assert caught.value.retry_after_s == pytest.approx(0.4)  # 0.2 of a request back by 0.1 s
    limiter.take("a", now=0.5)  # one back after 0.5 s
    with pytest.raises(TooManyRequestsError):
        limiter.take("a", now=0.6)
    AgentLimiter(0).take("a", now=0.0)  # 0: no limit


async def test_an_agent_gets_and_posts_only_the_releases_assigned_to_it(
    client: httpx.AsyncClient, statistician: dict[str, str]
) -> None:
    """The release names edinburgh only: cardiff is given nothing and may post nothing for it."""
    body = (await client.get("/api/agent/assignments", headers=CARDIFF)).json()
    assert body["agent"] == "cardiff" and body["assignments"] == []
    with capture_logs() as logs:
        refused = await client.post(
            "/api/agent/results", json={"results": [posted()]}, headers=CARDIFF
        )
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        f"Release {FATAL.id!r} is not assigned to agent 'cardiff': name the agent in the "
        "release's [site] agents to have it probe this release."
    )
    assert {"agent": "cardiff", "release": FATAL.id, "log_level": "warning"}.items() <= logs[
        0
    ].items()
    detail = (await client.get(f"/api/releases/{FATAL.id}", headers=statistician)).json()
    assert all(r["vantage"] != "agent:cardiff" for r in detail["results"])


async def test_an_agent_posts_only_inside_the_releases_window(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.at = FATAL.release_at + dt.timedelta(minutes=30, seconds=20)  # in flight: taken
    edge = posted(checked_at=(clock.at - dt.timedelta(seconds=21)).isoformat())
    taken = await client.post("/api/agent/results", json={"results": [edge]}, headers=EDINBURGH)
    assert taken.status_code == 200
    clock.at = FATAL.release_at + dt.timedelta(minutes=31)
    late = posted(checked_at=(clock.at - dt.timedelta(seconds=1)).isoformat())
    with capture_logs() as logs:
        refused = await client.post(
            "/api/agent/results", json={"results": [late]}, headers=EDINBURGH
        )
    assert refused.status_code == 403
    assert refused.json()["error"].startswith(
        f"Agent 'edinburgh' may post results for release {FATAL.id!r} only from 900 s before its "
        "release time until 1800 s after"
    )
    assert logs[0]["agent"] == "edinburgh" and logs[0]["release"] == FATAL.id
    clock.at = FATAL.release_at - dt.timedelta(days=30)  # months before T: nothing at all
    early = posted(checked_at=clock.at.isoformat())
    refused = await client.post("/api/agent/results", json={"results": [early]}, headers=EDINBURGH)
    assert refused.status_code == 403


async def test_checked_at_must_be_within_the_allowed_skew(
    client: httpx.AsyncClient, scraper: dict[str, str]
) -> None:
    def at(seconds: int) -> dict[str, Any]:
        return {"results": [posted(checked_at=(NOW + dt.timedelta(seconds=seconds)).isoformat())]}

    with capture_logs() as logs:
        answers = {
            s: await client.post("/api/agent/results", json=at(s), headers=EDINBURGH)
            for s in (-29, 29, -31, 31, 3000)
        }
    assert {s: a.status_code for s, a in answers.items()} == {
        -29: 200,
        29: 200,
        -31: 422,
        31: 422,
        3000: 422,
    }
    assert "more than 30 s from the server's time: correct the agent's clock" in answers[31].text
    refused = [(e["agent"], e["why"]) for e in logs if e["event"] == "agent.refused"]
    assert refused == [("edinburgh", "clock")] * 3  # each refusal logged
    metrics = (await client.get("/metrics", headers=scraper)).text
    assert 'onthedot_agent_results_total{agent="edinburgh"} 2.0' in metrics  # none recorded


async def test_a_posted_results_cache_facts_are_bounded(client: httpx.AsyncClient) -> None:
    deep: dict[str, Any] = {"a": {"b": {"c": {"d": 1}}}}
    wide = {"headers": {f"x-{i}": "v" for i in range(300)}}
    for cache in (deep, wide, {"note": "x" * 9000}):
        answer = await client.post(
            "/api/agent/results", json={"results": [posted(cache=cache)]}, headers=EDINBURGH
        )
        assert answer.status_code == 422 and "results.0.cache" in answer.json()["error"]


async def test_a_body_nested_too_deep_to_parse_is_refused_in_one_sentence(
    client: httpx.AsyncClient,
) -> None:
    """Python's JSON parser recurses: nesting deeper than its limit is a bad body, not a crash."""
    for body in (
        b"[" * 200_000 + b"]" * 200_000,
        b'{"results": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ):
        answer = await client.post(
            "/api/agent/results",
            content=body,
            headers={**EDINBURGH, "content-type": "application/json"},
        )
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "There was an error parsing the body: see /api/openapi.json."
        }
    assert (await client.get("/api/health")).status_code == 200
