"""Request bodies: bounded in size and in time, and an agent's token checked before any byte.

``Bodies`` wraps the app as plain ASGI, so it acts before FastAPI reads anything:

- a ``Content-Length`` over ``max_bytes`` is answered 413 at once, the body never read;
- ``/api/agent/...`` without a known agent token is answered 401 at once, the body never read;
- while the app reads a body: more than ``max_bytes`` actually sent (chunked included) is
  answered 413, and a body that has not all arrived ``timeout_s`` after it began is answered 408.

Every refusal closes the connection (``Connection: close``), so the rest is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NoReturn

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onthedot.errors import OnthedotError
from onthedot.web.errors import status_code

AGENT_PATHS = "/api/agent/"


class _Refused(Exception):
    """The body was refused and answered; the app's own answer is dropped."""


class Bodies:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        timeout_s: float,
        check_agent: Callable[[str | None], object],
    ) -> None:
        """``check_agent(authorization header)`` raises an ``OnthedotError`` for a bad token."""
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.check_agent = check_agent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._before_reading(scope)
        if refusal is not None:
            await answer(send, scope, *refusal)
            return
        await _Reading(self, scope, receive, send).run()

    def _before_reading(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        if scope["path"].startswith(AGENT_PATHS):
            try:
                self.check_agent(headers.get("authorization"))
            except OnthedotError as exc:
                return status_code(exc), str(exc)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return 413, self.too_large()
        return None

    def too_large(self) -> str:
        return (
            f"The request body is larger than the {self.max_bytes:,} bytes this server takes: "
            "send less at a time, or raise [web] max_body_bytes."
        )


class _Reading:
    """One request whose body is counted and timed as the app reads it."""

    def __init__(self, limits: Bodies, scope: Scope, receive: Receive, send: Send) -> None:
        self.limits, self.scope, self._receive, self._send = limits, scope, receive, send
        self.read = 0
        self.complete = False
        self.started = False
        self.answered = False
        self.deadline: float | None = None

    async def run(self) -> None:
        try:
            await self.limits.app(self.scope, self.receive, self.send)
        except _Refused:
            pass

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.limits.timeout_s
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            await self.refuse(
                408,
                f"The request body did not arrive within {self.limits.timeout_s:g} s: send it "
                "at once, over a faster connection.",
            )
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.read > self.limits.max_bytes:
                await self.refuse(413, self.limits.too_large())
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self, status: int, sentence: str) -> NoReturn:
        if not self.started:
            await answer(self._send, self.scope, status, sentence)
        self.answered = True
        raise _Refused(sentence)


async def answer(send: Send, scope: Scope, status: int, sentence: str) -> None:
    """The API's ``{"error": ...}`` (plain text for pages), and the connection closed."""
    api = scope["path"].startswith("/api/") or scope["path"] == "/metrics"
    body = orjson.dumps({"error": sentence}) if api else sentence.encode("utf-8") + b"\n"
    headers = [
        (b"content-type", b"application/json" if api else b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
