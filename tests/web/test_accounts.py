"""Signing in with an account (in process): a new server-side session each time, ended by
signing out; a wrong password told plainly; guessing slowed per account and per address; a form
without its CSRF token refused."""

from __future__ import annotations

import datetime as dt
import html

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.accounts import Accounts
from tests.web.conftest import GDP, NOW, FixedClock
from tests.web.forms import csrf, post, sign_in

PASSWORD = "correct horse battery staple"
WRONG = "The name or the password is not right: check both and try again."


@pytest.fixture
async def jane(store: AsyncEngine) -> str:
    await Accounts(store).add("jane.smith", "statistician", PASSWORD, NOW)
    return "jane.smith"


async def sees_gdp(client: httpx.AsyncClient) -> bool:
    return "gdp-itl-regions.xlsx" in (await client.get(f"/releases/{GDP.id}")).text


async def test_signing_in_opens_a_new_session_kept_as_its_hash_and_signing_out_ends_it(
    client: httpx.AsyncClient, store: AsyncEngine, jane: str
) -> None:
    first = await sign_in(client, name=jane, password=PASSWORD)
    assert first.status_code == 303 and await sees_gdp(client)
    cookie = first.headers.get_list("set-cookie")[0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    session_id = client.cookies["onthedot_session"]
    async with store.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT * FROM sessions")).all()
        stored = (await conn.exec_driver_sql("SELECT password_hash FROM accounts")).scalar()
    assert len(rows) == 1 and session_id not in str(rows) and rows[0].name == jane
    assert str(stored).startswith("$argon2id$") and PASSWORD not in str(stored)
    await sign_in(client, name=jane, password=PASSWORD)
    assert client.cookies["onthedot_session"] != session_id  # a new id at every sign-in
    assert (await post(client, "/sign-out", {})).status_code == 303
    client.cookies.set("onthedot_session", session_id)  # an old cookie kept by someone
    assert not await sees_gdp(client)
    async with store.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM sessions")).scalar() == 0


async def test_a_wrong_password_or_name_is_told_the_same_and_opens_nothing(
    client: httpx.AsyncClient, jane: str
) -> None:
    for name, password in ((jane, "not the password"), ("nobody", PASSWORD), (jane, "")):
        answer = await sign_in(client, name=name, password=password)
        assert answer.status_code == 401 and "onthedot_session" not in str(answer.headers)
        said = WRONG if password else "Give your name and your password."
        assert said in answer.text
    assert not await sees_gdp(client)


async def test_guessing_a_password_is_stopped_until_the_minute_it_says(
    client: httpx.AsyncClient, clock: FixedClock, jane: str
) -> None:
    for _ in range(5):
        clock.at += dt.timedelta(seconds=20)
        assert (await sign_in(client, name=jane, password="guess")).status_code == 401
    stopped = await sign_in(client, name=jane, password=PASSWORD)  # even the right one
    assert stopped.status_code == 429
    assert "Too many attempts: try again at 09:57." in stopped.text  # 09:41:20 + 15 min
    clock.at = NOW + dt.timedelta(minutes=15, seconds=21)
    assert (await sign_in(client, name=jane, password=PASSWORD)).status_code == 303


async def test_guessing_many_names_from_one_address_is_stopped(
    client: httpx.AsyncClient, store: AsyncEngine, jane: str
) -> None:
    for n in range(20):
        assert (await sign_in(client, name=f"guess{n}", password="x")).status_code == 401
    stopped = await sign_in(client, name=jane, password=PASSWORD)
    assert stopped.status_code == 429 and "Too many attempts: try again at 09:56." in stopped.text


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/sign-in", {"name": "jane.smith", "password": PASSWORD}),
        ("/sign-out", {}),
        ("/releases/fatal-injuries-2019-apr-sep/report", {"impact_inside": "forged"}),
        ("/releases/fatal-injuries-2019-apr-sep/report/status", {"status": "approved"}),
    ],
)
async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, store: AsyncEngine, jane: str, url: str, fields: dict[str, str]
) -> None:
    await Accounts(store).add("hop", "head-of-profession", PASSWORD, NOW)
    await sign_in(client, name="hop", password=PASSWORD)
    token = await csrf(client)
    for sent in ({}, {"csrf_token": "0" * 64}, {"csrf_token": token[:-1] + "x"}):
        answer = await client.post(url, data=fields | sent)
        assert answer.status_code == 403, answer.text
        said = html.unescape(answer.text)
        assert "This form has expired or did not come from onthedot's own page" in said
    assert "Sign out" in (await client.get("/sign-in")).text  # still signed in: nothing done
    assert (
        "Nobody has written in the report yet."
        in (await client.get("/releases/fatal-injuries-2019-apr-sep/report")).text
    )


async def test_a_session_follows_its_account(
    client: httpx.AsyncClient, store: AsyncEngine, jane: str
) -> None:
    await sign_in(client, name=jane, password=PASSWORD)
    assert "(statistician)" in (await client.get("/sign-in")).text
    async with store.begin() as conn:
        await conn.exec_driver_sql("UPDATE accounts SET role = 'viewer' WHERE name = 'jane.smith'")
    assert "(read)" in (await client.get("/sign-in")).text  # the new role, at the next page
    await Accounts(store).disable(jane, NOW)
    assert "Sign in with a token" in (await client.get("/sign-in")).text and not await sees_gdp(
        client
    )


async def test_a_form_of_a_million_fields_is_refused_before_it_is_read_whole(
    client: httpx.AsyncClient,
) -> None:
    """Anyone may post to the sign-in form: a body of a million empty fields is refused in one
    sentence, without first being made into a million lists (a third of a second and 230 MB)."""
    body = b"a=&" * 1_000_000
    answer = await client.post(
        "/sign-in", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 422, answer.text  # (as any input refused)
    assert "The form sent has more than 64 fields" in html.unescape(answer.text)
