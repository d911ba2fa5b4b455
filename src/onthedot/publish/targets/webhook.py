"""``webhook+https://cms.example.org/onthedot``: ask a CMS to stage and publish, by signed JSON POSTs.

Every request is ``POST <url>`` with a JSON body and two headers:

* ``X-Onthedot-Timestamp: <unix seconds>`` (also in the body as ``"timestamp"``, so it is signed);
* ``X-Onthedot-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the shared secret>``.

Bodies (``action`` says which):

* ``{"action": "stage", "path", "location", "sha256", "size", "content_base64"}`` — keep
  the bytes hidden; answer 2xx.
* ``{"action": "publish", "path", "location", "sha256"}`` — make the staged bytes live at ``path``
  atomically; answer 2xx, or 404 when nothing is staged under ``location``.
* ``{"action": "discard", "path", "location"}`` — forget the staged copy (2xx, also if none).
* ``{"action": "status", "path"}`` — answer ``{"sha256": "<hex>"}`` or ``{"sha256": null}``.

The CMS should reject a bad signature with 401, a timestamp more than 5 minutes off, and refusals
with 403; 413/507 mean no room. The secret is ``?secret_env=NAME`` or any other secret source.
``webhook+http://`` exists for local testing only. Option: ``?timeout=30`` seconds per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from onthedot.adapters import AdapterURL
from onthedot.errors import (
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.targets.base import Staged, StagedMissing, Target

SIGNATURE_HEADER = "X-Onthedot-Signature"
TIMESTAMP_HEADER = "X-Onthedot-Timestamp"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for a raw body: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTarget(Target):
    """webhook+https://cms.example.org/onthedot?secret_env=CMS_WEBHOOK_SECRET"""

    scheme: ClassVar[str] = "webhook+https"
    title: ClassVar[str] = "CMS webhook"
    docs: ClassVar[str] = "https://www.rfc-editor.org/rfc/rfc2104"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        parsed = self.parsed
        base = parsed.scheme.split("+", 1)[1]
        port = f":{parsed.port}" if parsed.port else ""
        self.endpoint = f"{base}://{parsed.host}{port}{parsed.path or '/'}"
        self.timeout = self.seconds("timeout", 30.0)
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _post(self, doing: str, **fields: Any) -> tuple[int, Any]:
        secret = self.secret("secret") or ""
        now = str(int(time.time()))
        body = json.dumps({**fields, "timestamp": int(now)}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: now,
            SIGNATURE_HEADER: sign(secret, body),
        }
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._http.post(self.endpoint, data=body, headers=headers) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TargetUnreachable(
                f"The CMS at {self.url()} could not be reached while {doing} "
                f"({self.scrub(str(exc)) or type(exc).__name__}): check the URL and that the CMS "
                "is up; nothing was published."
            ) from exc
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = None
        return status, data if data is not None else text

    def _check(self, status: int, data: Any, doing: str) -> None:
        if 200 <= status < 300:
            return
        said = self.scrub(str(data))[:200]
        if status == 401:
            raise TargetAuthError(
                f"The CMS at {self.url()} rejected the signature while {doing} (401 {said}): "
                "check that both sides use the same webhook secret and the clocks agree."
            )
        if status == 403:
            raise TargetPermissionError(f"The CMS at {self.url()} refused {doing} (403 {said}).")
        if status in (413, 507):
            raise TargetSpaceError(
                f"The CMS at {self.url()} has no room for {doing} ({status} {said})."
            )
        raise TargetError(f"The CMS at {self.url()} failed while {doing} ({status} {said}).")

    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location, size = staged.location, staged.size
        content = base64.b64encode(local_file.read_bytes()).decode()
        status, data = await self._post(
            f"staging {location}",
            action="stage",
            path=staged.path,
            location=location,
            sha256=staged.sha256,
            size=size,
            content_base64=content,
        )
        self._check(status, data, f"staging {location}")

    async def _move(self, location: str, path: str) -> None:
        status, data = await self._post(
            f"publishing {path}", action="publish", path=path, location=location
        )
        if status == 404:
            raise StagedMissing(location)
        self._check(status, data, f"publishing {path}")

    async def _remove(self, location: str) -> None:
        status, data = await self._post(
            f"discarding {location}", action="discard", location=location
        )
        if status != 404:
            self._check(status, data, f"discarding {location}")

    async def _read_sha256(self, path: str) -> str | None:
        status, data = await self._post(f"asking about {path}", action="status", path=path)
        self._check(status, data, f"asking about {path}")
        if not isinstance(data, dict):
            raise TargetError(
                f"The CMS at {self.url()} answered the status of {path} without JSON."
            )
        value = data.get("sha256")
        return str(value) if value else None


class PlainWebhookTarget(WebhookTarget):
    """webhook+http://127.0.0.1:8080/onthedot?secret_env=CMS_WEBHOOK_SECRET"""

    scheme: ClassVar[str] = "webhook+http"
