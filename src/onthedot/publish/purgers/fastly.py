"""``fastly://SERVICE_ID``: Fastly's purge API (https://api.fastly.com), API token as secret ``key``.

* URLs: ``POST /purge/{host}/{path}`` (Purge a URL) — one call per URL;
* tags: ``POST /service/{service_id}/purge`` with JSON ``{"surrogate_keys": [...]}`` (up to 256
  per call; Purge multiple surrogate key tags).

Both carry ``Fastly-Key: <token>`` and ``Accept: application/json``; ``?soft=1`` adds
``Fastly-Soft-Purge: 1`` (mark stale instead of removing). Fastly cannot purge by prefix: tag the
pages with a Surrogate-Key instead.

``?endpoint=`` (onthedot.toml only) points at another API base, e.g. a local fake in the tests,
as the service cannot be reached from here: https, or http to this machine only; its secrets then
come only from the URL or ``?<field>_env=``, never the ones named after the URL's host.
"""

from __future__ import annotations

from typing import ClassVar

from onthedot.publish.purgers.base import Outcome, PurgeRequest
from onthedot.publish.purgers.http import HTTPPurger

BATCH = 256


class FastlyPurger(HTTPPurger):
    """fastly://SERVICE_ID?key_env=FASTLY_API_TOKEN"""

    scheme: ClassVar[str] = "fastly"
    title: ClassVar[str] = "Fastly"
    docs: ClassVar[str] = "https://www.fastly.com/documentation/reference/api/purging/"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("key",)
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "tags"})
    default_endpoint = "https://api.fastly.com"

    def _headers(self) -> dict[str, str]:
        headers = {"Fastly-Key": self.secret("key") or "", "Accept": "application/json"}
        if self.parsed.query.get("soft") in ("1", "true", "yes"):
            headers["Fastly-Soft-Purge"] = "1"
        return headers

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        found = [self._purge_url(url) for url in urls]
        found += [self._tags(tags[i : i + BATCH]) for i in range(0, len(tags), BATCH)]
        return found

    def _purge_url(self, url: str) -> PurgeRequest:
        target = f"{self.endpoint}/purge/{url.split('://', 1)[-1]}"

        async def send() -> Outcome:
            return await self.simple("POST", target, headers=self._headers())

        return PurgeRequest(f"POST {target}", send, target)

    def _tags(self, tags: list[str]) -> PurgeRequest:
        target = f"{self.endpoint}/service/{self.parsed.host}/purge"

        async def send() -> Outcome:
            return await self.simple(
                "POST", target, headers=self._headers(), json={"surrogate_keys": tags}
            )

        return PurgeRequest(f"POST {target} surrogate_keys={' '.join(tags)}", send, target)
