"""Who may see what: every route of the app, asked anonymously and with a token, before and after
the release time of a release whose embargoed facts are known (tests/web/conftest.py: GDP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Mount

from onthedot.cli.token_cmds import ROLES
from onthedot.store.tokens import AccessTokens
from onthedot.web.access import ROUTES, Role, undeclared
from tests.web.conftest import (
    EMBARGOED_STRINGS,
    GDP,
    GDP_STAGED,
    NOW,
    PUBLIC,
    FixedClock,
    token,
)
from tests.web.forms import csrf, post, sign_in

EDINBURGH = {"Authorization": "Bearer tok-edinburgh-7f3a"}


def requests_for(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, URL, httpx options) for every route and method of the app, about GDP."""
    asked: list[tuple[str, str, dict[str, Any]]] = []
    for route in iter_route_contexts(app.routes):
        assert route.path is not None
        if isinstance(route.original_route, Mount):
            asked.append(("GET", route.path + "/onthedot.js", {}))
            continue
        url = route.path.replace("{release_id}", GDP.id)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            options: dict[str, Any] = {}
            if url == "/api/agent/results":
                options["json"] = {"results": []}
            if url == "/sign-in" and method == "POST":
                options["data"] = {"token": "odt_not-a-token"}
            asked.append((method, url, options))
    return asked


async def everything(
    client: httpx.AsyncClient, app: FastAPI, headers: dict[str, str] | None = None
) -> dict[str, httpx.Response]:
    answers = {}
    for method, url, options in requests_for(app):
        answers[f"{method} {url}"] = await client.request(
            method, url, headers=headers, follow_redirects=False, **options
        )
    return answers


def found(answers: dict[str, httpx.Response]) -> dict[str, list[str]]:
    """Each embargoed string → the requests whose answer contains it."""
    return {
        s: [asked for asked, r in answers.items() if s in r.text + str(r.headers)]
        for s in EMBARGOED_STRINGS
    }


def test_every_route_is_declared_in_the_access_table(app: FastAPI) -> None:
    assert undeclared(app.routes) == []
    assert len(requests_for(app)) >= len(ROUTES)


async def test_a_route_not_declared_is_refused_and_named(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/api/releases/{release_id}/secret")
    async def secret(release_id: str) -> dict[str, str]:
        return {"sha256": "embargoed"}

    assert undeclared(app.routes) == ["/api/releases/{release_id}/secret"]
    answer = await client.get(f"/api/releases/{GDP.id}/secret")
    assert answer.status_code == 403 and "embargoed" not in answer.text


async def test_anonymous_before_t_sees_no_embargoed_fact_on_any_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    answers = await everything(client, app)
    assert [a for a, r in answers.items() if r.status_code >= 500] == []
    assert found(answers) == {s: [] for s in EMBARGOED_STRINGS}
    detail = answers[f"GET /api/releases/{GDP.id}"].json()
    assert detail["title"] == GDP.title and detail["withheld"] is True
    assert detail["release_at_utc"] == "2019-12-19T09:30:00Z"
    assert detail["artefacts"] is None and detail["results"] is None
    timeline = answers[f"GET /api/releases/{GDP.id}/timeline"]
    assert timeline.status_code == 403
    assert timeline.json()["error"] == (
        f"The timeline of {GDP.id!r} is not public until its release time "
        "(Thursday 19 December 2019 09:30 GMT): sign in, or send a token whose role may see it."
    )
    page = answers[f"GET /releases/{GDP.id}"]
    assert page.status_code == 200 and GDP.title in page.text
    assert answers["GET /metrics"].status_code == 401
    assert answers["POST /api/agent/results"].status_code == 401


async def test_a_role_that_needs_it_sees_every_embargoed_fact_before_t(
    app: FastAPI, client: httpx.AsyncClient, store: AsyncEngine, statistician: dict[str, str]
) -> None:
    seen = found(await everything(client, app, statistician))
    assert all(seen.values()), seen
    assert f"GET /api/releases/{GDP.id}/timeline" in seen[str(318_877)]  # the staged manifest


async def test_a_metrics_token_sees_the_calendar_only(
    app: FastAPI, client: httpx.AsyncClient, scraper: dict[str, str]
) -> None:
    answers = await everything(client, app, scraper)
    assert found(answers) == {s: [] for s in EMBARGOED_STRINGS}
    assert answers["GET /metrics"].status_code == 200


async def test_after_t_everyone_sees_everything(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.at = GDP.release_at + dt.timedelta(minutes=1)
    seen = found(await everything(client, app))
    assert seen.pop(GDP_STAGED) == []  # (a staged copy's name: only to those who saw it before)
    assert all(seen.values()), seen


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_sees_what_the_table_says(
    role: Role, store: AsyncEngine, client: httpx.AsyncClient
) -> None:
    headers = await token(store, f"someone-{role}", role)
    detail = (await client.get(f"/api/releases/{GDP.id}", headers=headers)).json()
    metrics = await client.get("/metrics", headers=headers)
    sees = (not detail["withheld"], metrics.status_code == 200)
    assert (
        sees
        == {
            Role.STATISTICIAN: (True, False),
            Role.HEAD_OF_PROFESSION: (True, False),
            Role.PUBLISHING: (True, False),
            Role.IT: (True, True),
            Role.READ: (True, False),
            Role.METRICS: (False, True),
            Role.ADMIN: (True, True),
        }[role]
    )
    if not sees[1]:
        assert metrics.status_code == 403
        assert "may not read /metrics: scrape it with a token of role" in metrics.json()["error"]


def test_the_cli_offers_the_roles_the_rule_knows() -> None:
    assert ROLES == tuple(Role)


async def test_revoked_expired_and_unknown_tokens_are_refused_with_one_sentence(
    store: AsyncEngine, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tokens = AccessTokens(store)
    revoked = await tokens.add("leaver", "statistician", NOW - dt.timedelta(days=9))
    await tokens.revoke("leaver", NOW - dt.timedelta(days=1))
    expiring = await tokens.add("temp", "read", NOW, expires_at=NOW + dt.timedelta(hours=1))
    url = f"/api/releases/{GDP.id}"
    ok = await client.get(url, headers={"Authorization": f"Bearer {expiring}"})
    assert ok.status_code == 200 and ok.json()["withheld"] is False
    clock.at = NOW + dt.timedelta(hours=1)
    answers = {
        t: await client.get(url, headers={"Authorization": f"Bearer {t}"})
        for t in (revoked, expiring, "odt_guessed")
    }
    assert {a.status_code for a in answers.values()} == {401}
    assert [a.json()["error"] for a in answers.values()] == [
        "The token of 'leaver' was revoked: ask the service's administrator for a new one "
        "(`onthedot token add`).",
        "The token of 'temp' has expired: ask the service's administrator for a new one "
        "(`onthedot token add`).",
        "The server does not know this token: ask the service's administrator for one "
        "(`onthedot token add NAME --role ROLE`).",
    ]
    assert all(s not in a.text for a in answers.values() for s in EMBARGOED_STRINGS)


async def test_tokens_are_kept_only_as_their_hash(store: AsyncEngine) -> None:
    made = await AccessTokens(store).add("jane", "statistician", NOW)
    async with store.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT * FROM access_tokens")).all()
    assert made.startswith("odt_") and len(made) > 40
    assert all(made not in str(tuple(row)) for row in rows)


# -- people sign in on the dashboard ---------------------------------------------------------


async def test_a_person_signs_in_sees_the_detail_and_signs_out(
    store: AsyncEngine, app: FastAPI
) -> None:
    headers = await token(store, "jane", "statistician")
    secret = headers["Authorization"].removeprefix("Bearer ")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        form = await c.get("/sign-in")
        assert form.status_code == 200 and 'name="token" type="password"' in form.text
        signed = await sign_in(c, token=secret)
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = signed.headers.get_list("set-cookie")[0].lower()
        assert cookie.startswith("onthedot_session=") and secret.lower() not in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http: the browser would not send it back
        page = await c.get(f"/releases/{GDP.id}")
        assert "Signed in: jane" in page.text
        assert all(s in page.text for s in ("gdp-itl-regions.xlsx", "early"))
        out = await post(c, "/sign-out", {})
        assert out.status_code == 303
        page = await c.get(f"/releases/{GDP.id}")
    assert "gdp-itl-regions.xlsx" not in page.text and "Sign in" in page.text


async def test_the_cookie_is_secure_over_https_and_a_bad_token_is_told(
    store: AsyncEngine, app: FastAPI
) -> None:
    headers = await token(store, "jane", "statistician")
    secret = headers["Authorization"].removeprefix("Bearer ")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://onthedot.test") as c:
        signed = await sign_in(c, token=secret)
        assert "secure" in signed.headers.get_list("set-cookie")[0].lower()
        wrong = await sign_in(c, token="odt_wrong")
    assert wrong.status_code == 401 and "onthedot_session" not in str(wrong.headers)
    assert "The server does not know this token" in wrong.text


async def test_a_sign_in_form_posted_from_another_site_is_refused(
    store: AsyncEngine, client: httpx.AsyncClient
) -> None:
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    form = await csrf(client)
    for header in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        fields = {"token": secret, "csrf_token": form}
        answer = await client.post("/sign-in", data=fields, headers=header)
        assert answer.status_code == 403 and "set-cookie" not in answer.headers
        assert "sent from another site" in answer.text


async def test_a_revoked_persons_cookie_shows_the_calendar_only(
    store: AsyncEngine, client: httpx.AsyncClient
) -> None:
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    await sign_in(client, token=secret)
    assert "gdp-itl" in (await client.get(f"/releases/{GDP.id}")).text
    await AccessTokens(store).revoke("jane", NOW)
    page = await client.get(f"/releases/{GDP.id}")
    assert page.status_code == 200 and "gdp-itl" not in page.text


async def test_an_agent_sees_only_its_releases_in_their_window(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """GDP names edinburgh but is a day away: its URLs are not handed out yet."""
    body = (await client.get("/api/agent/assignments", headers=EDINBURGH)).text
    assert all(s not in body for s in EMBARGOED_STRINGS)
    clock.at = GDP.release_at - dt.timedelta(minutes=5)
    body = (await client.get("/api/agent/assignments", headers=EDINBURGH)).text
    assert f"{PUBLIC}/statistics/gdp-itl-regions.xlsx" in body


def test_incidents_are_for_the_four_roles_alerts_go_to_and_admin() -> None:
    from onthedot.settings import NOTIFY_ROLES
    from onthedot.web.access import POWERS, Power

    shown = {role.value for role, powers in POWERS.items() if Power.INCIDENTS in powers}
    assert shown == {*NOTIFY_ROLES, "admin"}
