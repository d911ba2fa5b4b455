"""``cloudflare://ZONE_ID``: Cloudflare's purge API, an API token (Zone.Cache Purge) as ``token``.

``POST /client/v4/zones/{zone_id}/purge_cache`` with ``Authorization: Bearer <token>`` and JSON
``{"files": [...]}`` (30 URLs per call), ``{"tags": [...]}`` or ``{"prefixes": [...]}`` (30 per
call; prefixes are written without the scheme: ``www.example.org/statistics/``). Success is HTTP
200 with ``{"success": true}``.

``?endpoint=`` (onthedot.toml only) points at another API base, e.g. a local fake in the tests,
as the service cannot be reached from here: https, or http to this machine only; its secrets then
come only from the URL or ``?<field>_env=``, never the ones named after the URL's host.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import aiohttp

from onthedot.publish.purgers.base import Outcome, PurgeRequest, classify
from onthedot.publish.purgers.http import HTTPPurger

BATCH = 30


class CloudflarePurger(HTTPPurger):
    """cloudflare://ZONE_ID?token_env=CLOUDFLARE_API_TOKEN"""

    scheme: ClassVar[str] = "cloudflare"
    title: ClassVar[str] = "Cloudflare"
    docs: ClassVar[str] = "https://developers.cloudflare.com/api/resources/cache/methods/purge/"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "prefixes", "tags"})
    default_endpoint = "https://api.cloudflare.com"

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        bare = [p.split("://", 1)[-1] for p in prefixes]
        found: list[PurgeRequest] = []
        for field, items in (("files", urls), ("prefixes", bare), ("tags", tags)):
            found += [self._call(field, items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
        return found

    def _call(self, field: str, items: list[str]) -> PurgeRequest:
        target = f"{self.endpoint}/client/v4/zones/{self.parsed.host}/purge_cache"

        async def send() -> Outcome:
            headers = {"Authorization": f"Bearer {self.secret('token')}"}
            try:
                status, text = await self.http("POST", target, headers=headers, json={field: items})
            except aiohttp.ClientError as exc:
                return Outcome(None, False, f"no answer ({type(exc).__name__})", retry=True)
            return _judge(status, text)

        return PurgeRequest(f"POST {target} {field}={' '.join(items)[:200]}", send, target)


def _judge(status: int, text: str) -> Outcome:
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError:
        body = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    said = "; ".join(  # (a reply of another shape, ``"errors": 5``, says nothing more)
        f"{e.get('code')} {e.get('message')}"
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict)
    )
    outcome = classify(status, f"{status} {said or 'ok'}")
    if outcome.ok and not (isinstance(body, dict) and body.get("success") is True):
        return Outcome(status, False, f"{status} but success is not true ({said or text[:100]})")
    return outcome
