"""Test doubles for onthedot's seams, for tests only: onthedot itself never imports this module
(an import contract in pyproject.toml keeps it so).

``MockProbeTransport`` stands in for the probe engine, like httpx's ``MockTransport``: every
request is answered by a function, with responses built by ``mock_response`` as the real engine
would build them.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

from onthedot.verify.probe import ProbeRequest, ProbeResponse, ProbeTransport

MockHandler = Callable[[ProbeRequest], "ProbeResponse | Awaitable[ProbeResponse]"]


class MockProbeTransport(ProbeTransport):
    """Answers every request with ``handler(request)`` (sync or async), like httpx's MockTransport.

    Build answers with ``mock_response``; ``requests`` records every request seen. It follows no
    redirects, so the allowed hosts the prober passes on do not matter to it.
    """

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler
        self.requests: list[ProbeRequest] = []

    async def stream(
        self, requests: Sequence[ProbeRequest], allowed_hosts: frozenset[str] | None
    ) -> AsyncGenerator[ProbeResponse, None]:
        for request in requests:
            self.requests.append(request)
            answer = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
            assert isinstance(answer, ProbeResponse)
            yield answer if answer.request is request else replace(answer, request=request)


def mock_response(
    request: ProbeRequest,
    *,
    status: int | None = 200,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    failure: str | None = None,
    message: str = "",
    remote_ip: str | None = "127.0.0.1",
) -> ProbeResponse:
    """A response as the real transport would build it for ``body`` (cap, text, kept bytes)."""
    if request.max_bytes is not None and len(body) > request.max_bytes and failure is None:
        failure = "too-large"
        message = f"{request.url} is larger than the limit of {request.max_bytes:,} bytes."
    needle = request.expect_text.encode() if request.expect_text else None
    now = time.time()
    return ProbeResponse(
        request=request,
        http_status=None if failure in ("dns", "connect", "tls") else status,
        headers=tuple(headers),
        sha256=None if failure else hashlib.sha256(body).hexdigest(),
        size=len(body),
        text_found=None if needle is None or failure else needle in body,
        body=body[: request.keep_body],
        failure=failure,
        message=message,
        effective_url=request.url,
        redirects=0,
        remote_ip=remote_ip,
        timings={"dns": 0.0, "connect": 0.0, "tls": 0.0, "first_byte": 0.0, "total": 0.0},
        started_at=now,
        finished_at=now,
        http_version="1.1",
    )
