"""Sending the dashboard's forms as a browser does: with the CSRF token of the page they are on."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf(client: httpx.AsyncClient, page: str = "/sign-in") -> str:
    """The CSRF token of ``page``'s forms (the client keeps the cookie it goes with)."""
    found = CSRF.search((await client.get(page)).text)
    assert found is not None, f"{page} has no form"
    return found[1]


async def post(
    client: httpx.AsyncClient, url: str, data: dict[str, str], page: str = "/sign-in"
) -> httpx.Response:
    """Post ``data`` to ``url`` from a form of ``page``."""
    return await client.post(url, data={**data, "csrf_token": await csrf(client, page)})


async def sign_in(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Sign in with ``name`` and ``password``, or ``token``; the client keeps the session."""
    answer = await post(client, "/sign-in", fields)
    assert answer.status_code in (303, 401, 429), answer.text
    return answer
