"""``akamai://HOST``: Akamai Fast Purge (CCU v3), signed with EdgeGrid (EG1-HMAC-SHA256).

HOST is the API client's host (``akab-....purge.akamaiapis.net``); the three credentials are
secrets ``client_secret``, ``access_token`` and ``client_token``. Calls:

* URLs: ``POST /ccu/v3/invalidate/url/{network}`` with JSON ``{"objects": ["https://..."]}``;
* tags: ``POST /ccu/v3/invalidate/tag/{network}`` with JSON ``{"objects": ["tag", ...]}``.

``network`` is ``?network=production`` (default) or ``staging``. Success is ``201`` with
``{"httpStatus": 201, "purgeId": ..., "estimatedSeconds": ...}``. Prefixes are not supported by
Fast Purge (use cache tags).

``?endpoint=`` (onthedot.toml only) points at another API base, e.g. a local fake in the tests,
as the service cannot be reached from here: https, or http to this machine only; its secrets then
come only from the URL or ``?<field>_env=``, never the ones named after the URL's host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import ClassVar
from urllib.parse import urlsplit

from onthedot.publish.purgers.base import Outcome, PurgeRequest
from onthedot.publish.purgers.http import HTTPPurger

BATCH = 200
MAX_BODY = 131072


def _hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def edgegrid_authorization(
    method: str,
    url: str,
    body: bytes,
    *,
    client_token: str,
    client_secret: str,
    access_token: str,
    timestamp: str | None = None,
    nonce: str | None = None,
    max_body: int = MAX_BODY,
) -> str:
    """The ``Authorization`` header value for one request (Akamai EdgeGrid, no signed headers)."""
    timestamp = timestamp or time.strftime("%Y%m%dT%H:%M:%S+0000", time.gmtime())
    nonce = nonce or str(uuid.uuid4())
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    content_hash = ""
    if method.upper() == "POST" and body:
        content_hash = base64.b64encode(hashlib.sha256(body[:max_body]).digest()).decode()
    header = (
        f"EG1-HMAC-SHA256 client_token={client_token};access_token={access_token};"
        f"timestamp={timestamp};nonce={nonce};"
    )
    data = "\t".join([method.upper(), parts.scheme, parts.netloc, path, "", content_hash, header])
    signing_key = _hmac_b64(client_secret, timestamp)
    return header + "signature=" + _hmac_b64(signing_key, data)


class AkamaiPurger(HTTPPurger):
    """akamai://akab-xxxx.purge.akamaiapis.net?client_secret_env=AKAMAI_SECRET&access_token_env=AKAMAI_ACCESS&client_token_env=AKAMAI_CLIENT"""

    scheme: ClassVar[str] = "akamai"
    title: ClassVar[str] = "Akamai Fast Purge"
    docs: ClassVar[str] = "https://techdocs.akamai.com/purge-cache/reference/api"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret", "access_token", "client_token")
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "tags"})

    @property
    def base(self) -> str:
        return self.endpoint or f"https://{self.parsed.host}"

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        network = self.parsed.query.get("network", "production")
        found: list[PurgeRequest] = []
        for kind, items in (("url", urls), ("tag", tags)):
            path = f"/ccu/v3/invalidate/{kind}/{network}"
            found += [self._call(path, items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
        return found

    def _call(self, path: str, objects: list[str]) -> PurgeRequest:
        target = self.base + path

        async def send() -> Outcome:
            body = json.dumps({"objects": objects}).encode()
            auth = edgegrid_authorization(
                "POST",
                target,
                body,
                client_token=self.secret("client_token") or "",
                client_secret=self.secret("client_secret") or "",
                access_token=self.secret("access_token") or "",
            )
            headers = {
                "Authorization": auth,
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            outcome = await self.simple("POST", target, headers=headers, data=body)
            return outcome

        return PurgeRequest(f"POST {target} objects={' '.join(objects)[:200]}", send, target)
