"""Request bodies over a real uvicorn on 127.0.0.1: a huge or trickling body is answered before it
has been sent, and an agent's token is checked before any byte of its body is read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.settings import WebSettings
from onthedot.web.app import create_app
from tests.web.conftest import TOKENS, FixedClock
from tests.web.serve import serve

HUGE = 50 * 1024 * 1024
CHUNK = b"[" * 65536
AGENT = "tok-edinburgh-7f3a"


async def exchange(
    base: str,
    path: str,
    headers: dict[str, str],
    chunked: bool = False,
    pace_s: float = 0.0,
    total: int = HUGE,
) -> tuple[str, int, float]:
    """Send a body of ``total`` bytes (50 MB) in 64 KiB pieces while reading the answer: (its
    status line, bytes sent when it came, seconds it took); the server must close the
    connection."""
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}
    head = {"Host": where.netloc, "Content-Type": "application/json", **framing, **headers}
    writer.write(
        f"POST {path} HTTP/1.1\r\n".encode()
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items())
        + b"\r\n"
    )
    sent = 0

    async def send_body() -> None:
        nonlocal sent
        piece = (b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n") if chunked else CHUNK
        with contextlib.suppress(ConnectionError):
            while sent < total:
                writer.write(piece)
                await writer.drain()
                sent += len(CHUNK)
                await asyncio.sleep(pace_s)

    started = time.monotonic()
    sending = asyncio.create_task(send_body())
    try:
        answered = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        took, sent_then = time.monotonic() - started, sent
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        writer.close()
    status, _, fields = answered.decode().partition("\r\n")
    assert "connection: close" in fields.lower()
    return status, sent_then, took


async def test_an_unauthenticated_huge_agent_post_is_refused_before_it_is_sent(
    store: AsyncEngine, clock: FixedClock
) -> None:
    app = create_app(store, config=Config(), clock=clock, agent_tokens=TOKENS)
    async with serve(app) as base:
        for chunked in (False, True):
            status, sent, took = await exchange(
                base, "/api/agent/results", {"Authorization": "Bearer guessed"}, chunked
            )
            assert status == "HTTP/1.1 401 Unauthorized", chunked
            assert sent < HUGE / 4 and took < 5, (chunked, sent, took)
            status, sent, _ = await exchange(base, "/api/agent/results", {}, chunked)
            assert status == "HTTP/1.1 401 Unauthorized" and sent < HUGE / 4


async def test_a_body_over_the_limit_is_refused_by_its_length_or_by_what_arrives(
    store: AsyncEngine, clock: FixedClock
) -> None:
    config = Config(web=WebSettings(max_body_bytes=1024 * 1024))
    app = create_app(store, config=config, clock=clock, agent_tokens=TOKENS)
    agent = {"Authorization": f"Bearer {AGENT}"}
    async with serve(app) as base:
        status, sent, took = await exchange(base, "/api/agent/results", agent)  # Content-Length
        assert status == "HTTP/1.1 413 Request Entity Too Large" and sent < HUGE / 4 and took < 5
        status, sent, _ = await exchange(base, "/sign-in", {})  # any route, not only agents'
        assert status == "HTTP/1.1 413 Request Entity Too Large" and sent < HUGE / 4
        status, sent, _ = await exchange(base, "/api/agent/results", agent, chunked=True)
        assert status == "HTTP/1.1 413 Request Entity Too Large"
        assert 1024 * 1024 <= sent < HUGE / 2  # read up to the limit, then refused


async def test_a_trickling_body_is_cut_off(store: AsyncEngine, clock: FixedClock) -> None:
    config = Config(web=WebSettings(body_timeout_s=0.5))
    app = create_app(store, config=config, clock=clock, agent_tokens=TOKENS)
    agent = {"Authorization": f"Bearer {AGENT}"}
    async with serve(app) as base:
        status, sent, took = await exchange(
            base, "/api/agent/results", agent, pace_s=10, total=4 * len(CHUNK)
        )
    assert status == "HTTP/1.1 408 Request Timeout"
    assert sent == len(CHUNK) and 0.4 < took < 5
