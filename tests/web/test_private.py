"""What a cache may keep (``web.private``): no page or API answer, which differ by viewer, is kept
by a cache in front of the dashboard or by a browser; the static files keep their own headers;
a pre-release link's refusals send no referrer either. And who may see the settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.web.assets import STATIC_URL
from tests.web.conftest import FATAL, GDP, token
from tests.web.forms import sign_in


def kept_by_no_one(answer: httpx.Response) -> bool:
    varied = {v.strip().lower() for v in answer.headers.get("vary", "").split(",")}
    private = answer.headers.get("cache-control") == "no-store, private"
    return private and {"cookie", "authorization"} <= varied


async def test_pages_and_api_answers_are_kept_by_no_cache(
    client: httpx.AsyncClient, statistician: dict[str, str]
) -> None:
    signed = [
        await client.get(url, headers=statistician)
        for url in (
            f"/releases/{GDP.id}",  # its detail, before its release time
            f"/api/releases/{GDP.id}",
            "/api/releases",
            f"/api/releases/{GDP.id}/timeline",
            f"/api/releases/{GDP.id}/artefacts",
            "/",
            "/register",
            "/incidents",
        )
    ]
    public = [await client.get(url) for url in ("/", f"/releases/{GDP.id}", "/calendar")]
    refused = [
        await client.get(f"/api/releases/{GDP.id}/timeline"),
        await client.get("/releases/no-such-release"),
    ]
    for answer in signed + public:
        assert answer.status_code == 200, answer.url
        assert kept_by_no_one(answer), (answer.url, answer.headers)
    assert [a.status_code for a in refused] == [403, 404]
    assert all(kept_by_no_one(a) for a in refused)


async def test_a_page_given_again_and_a_signed_in_session_are_kept_by_no_cache(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    await sign_in(client, token=secret)
    first, again = [await client.get(f"/releases/{GDP.id}") for _ in range(2)]  # (kept, given)
    assert "gdp-itl" in first.text and "gdp-itl" in again.text  # the detail, before T
    assert kept_by_no_one(first) and kept_by_no_one(again)


async def test_static_files_and_the_live_stream_keep_their_own_cache_headers(
    client: httpx.AsyncClient,
) -> None:
    css = await client.get(f"{STATIC_URL}/onthedot.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
    assert "cookie" not in css.headers.get("vary", "").lower()
    live = await client.get(f"/releases/{FATAL.id}/live")
    assert live.headers["cache-control"] == "no-store"  # its own, kept
    assert "Cookie" in live.headers["vary"]


async def test_an_answer_to_a_request_that_failed_unexpectedly_is_kept_by_no_cache(
    app: FastAPI, statistician: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that fails (a bug) is answered outside every middleware: it is marked all the
    same, so a cache in front does not keep the failure for everyone."""

    async def failing(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("onthedot.web.release.card_for", failing)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for headers in ({}, statistician):
            failed = await c.get(f"/releases/{GDP.id}", headers=headers)
            assert failed.status_code == 500, failed.text
            assert kept_by_no_one(failed), failed.headers
            assert "a bug" not in failed.text and "RuntimeError" not in failed.text
            assert "fault in the service" in failed.text  # (in words for whoever reads it)


async def test_a_refused_pre_release_link_sends_no_referrer_and_is_not_kept(
    client: httpx.AsyncClient,
) -> None:
    for url in (f"/pre-release/{GDP.id}/not-a-link", f"/pre-release/{GDP.id}/not-a-link/a.xlsx"):
        refused = await client.get(url)
        assert refused.status_code == 403, refused.text
        assert kept_by_no_one(refused)
        assert refused.headers["referrer-policy"] == "no-referrer"
        assert "noindex" in refused.headers["x-robots-tag"]


async def test_only_administrators_and_it_see_the_settings(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    for role in ("metrics", "statistician", "read"):
        headers = await token(store, f"a-{role}", role)
        page = await client.get("/settings", headers=headers)
        api = await client.get("/api/settings", headers=headers)
        assert (page.status_code, api.status_code) == (403, 403), role
        assert "administrators and IT" in page.text
        assert "administrators and IT" in api.json()["error"]
        assert 'href="/settings"' not in (await client.get("/", headers=headers)).text
    for role in ("admin", "it"):
        allowed = await token(store, f"an-{role}", role)
        for url in ("/settings", "/api/settings"):
            shown = await client.get(url, headers=allowed)
            assert shown.status_code == 200 and "live_s" in shown.text and kept_by_no_one(shown)
        assert 'href="/settings"' in (await client.get("/", headers=allowed)).text
    anonymous = await client.get("/settings")
    assert anonymous.status_code == 200 and "sign in" in anonymous.text
    assert 'href="/settings"' in anonymous.text


async def test_a_signature_or_form_token_in_letters_beyond_ascii_is_refused_not_a_failure(
    client: httpx.AsyncClient,
) -> None:
    """A link's signature, an alert's acknowledgement signature or a form's token may arrive in
    any letters: each is refused as forged (it was a failure of the service, 500, and the whole
    link went to the service's log)."""
    forged = "é" * 43
    link = await client.get(f"/pre-release/{GDP.id}/{'0' * 16}.9999999999.{forged}/a.xlsx")
    ack = await client.get(
        "/incidents/1/ack-link", params={"role": "it", "expires": "9999999999", "sig": forged}
    )
    await client.get("/sign-in")  # (the form's cookie)
    form = await client.post("/sign-in", data={"csrf_token": forged, "token": "x"})
    assert [link.status_code, ack.status_code, form.status_code] == [403, 403, 403]


def test_the_log_keeps_no_pre_release_links_own_part() -> None:
    """A pre-release link is its own credential: a failure answering one logs which release,
    never the link (the service's log goes to whoever reads the machine's journal)."""
    from starlette.requests import Request

    from onthedot.web.errors import logged_path

    def request(path: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": path, "headers": []})

    link = f"/pre-release/{GDP.id}/{'0' * 16}.1797000000.{'s' * 43}/statistics/a.xlsx"
    assert logged_path(request(link)) == f"/pre-release/{GDP.id}/(link)"
    assert logged_path(request(f"/releases/{GDP.id}")) == f"/releases/{GDP.id}"
