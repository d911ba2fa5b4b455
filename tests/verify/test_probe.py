"""The probe engine against real servers on loopback: hashes, text, statuses, headers, faults.

Faults come from small raw asyncio servers started in the test (``RawServer``, also used by
``test_probe_engine``). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from onthedot.verify.probe import FAILURES, Prober, ProbeRequest, ProbeResponse
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.tls import self_signed_cert

LOCAL = ["127.0.0.1"]

# -- a raw HTTP/1.1 server for faults ------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def head(status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    writer: asyncio.StreamWriter,
    status: int = 200,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    writer.write(head(status, [("Content-Length", str(len(body))), *headers]) + body)
    await writer.drain()


async def send_chunked(
    writer: asyncio.StreamWriter, chunks: Iterable[bytes], pause: float = 0.0
) -> None:
    writer.write(head(200, [("Transfer-Encoding", "chunked")]))
    for chunk in chunks:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        if pause:
            await asyncio.sleep(pause)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


class RawServer:
    """``async with RawServer(handler) as server``: one handler call per request, keep-alive."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.port = 0
        self.connections = self.in_flight = self.max_in_flight = 0
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task: asyncio.Task[None] = asyncio.current_task()  # type: ignore[assignment]
        self._tasks.add(task)
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await self.handler(request, writer)
                finally:
                    self.in_flight -= 1
                if writer.is_closing():
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    pairs = (line.partition(":") for line in lines[1:])
    return Request(method, path, {k.strip().lower(): v.strip() for k, c, v in pairs if c})


@contextlib.asynccontextmanager
async def serve(handler: Handler, **kwargs: ssl.SSLContext) -> AsyncIterator[RawServer]:
    async with RawServer(handler, **kwargs) as server:
        yield server


def bodies() -> dict[str, bytes]:
    rng = __import__("random").Random(1)
    return {
        "/empty": b"",
        "/one": b"x",
        "/small": rng.randbytes(10 * 1024),
        "/odd": rng.randbytes(65_537),
        "/large": rng.randbytes(3 * 1024 * 1024 + 7),
    }


# -- hashing, text, statuses ---------------------------------------------------------------------


async def test_hash_matches_hashlib_for_bodies_of_every_size() -> None:
    files = bodies()

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, files[request.path])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        responses = await prober.fetch_many(ProbeRequest(server.url(p)) for p in files)
    for (path, body), response in zip(files.items(), responses, strict=True):
        assert response.failure is None, response.message
        assert response.request.url == server.url(path)
        assert response.sha256 == hashlib.sha256(body).hexdigest()
        assert response.size == len(body)
        assert response.http_status == 200 and response.ok
        assert response.body == b""  # nothing kept unless asked


async def test_chunked_and_gzip_bodies_are_hashed_decoded() -> None:
    body = b"April to September 2019\n" * 5000

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/gzip":
            assert "gzip" in request.headers["accept-encoding"]
            packed = gzip.compress(body)
            await send(writer, 200, packed, [("Content-Encoding", "gzip")])
        else:
            await send_chunked(writer, [body[i : i + 7000] for i in range(0, len(body), 7000)])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        zipped, chunked = await prober.fetch_many(
            [ProbeRequest(server.url("/gzip")), ProbeRequest(server.url("/chunked"))]
        )
    for response in (zipped, chunked):
        assert response.sha256 == hashlib.sha256(body).hexdigest()
        assert response.size == len(body)
    assert zipped.header("content-encoding") == "gzip"


async def test_the_bytes_kept_run_on_across_chunks_up_to_what_was_asked() -> None:
    page = bytes(range(256)) * 300  # 76,800 bytes, in three chunks
    parts = [page[:20_000], page[20_000:50_000], page[50_000:]]

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_chunked(writer, parts, pause=0.05)

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        most, all_, first = await prober.fetch_many(
            [
                ProbeRequest(server.url("/a"), keep_body=60_000),
                ProbeRequest(server.url("/b"), keep_body=100_000),
                ProbeRequest(server.url("/c"), keep_body=20_000),
            ]
        )
    assert most.body == page[:60_000] and type(most.body) is bytes
    assert all_.body == page
    assert first.body == page[:20_000]
    assert most.sha256 == hashlib.sha256(page).hexdigest()


async def test_expect_text_is_found_across_chunk_boundaries() -> None:
    needle = "April to September 2019"
    page = b"<html>" + b"x" * 30_000 + needle.encode() + b"y" * 30_000 + b"</html>"
    cut = page.index(needle.encode()) + 9  # split inside the needle

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_chunked(writer, [page[:cut], page[cut:]], pause=0.05)

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        found, missing = await prober.fetch_many(
            [
                ProbeRequest(server.url("/a"), expect_text=needle, keep_body=10),
                ProbeRequest(server.url("/b"), expect_text="October to March 2020"),
            ]
        )
    assert found.text_found is True and missing.text_found is False
    assert found.body == page[:10]
    assert found.sha256 == hashlib.sha256(page).hexdigest()


async def test_expect_text_is_found_across_chunks_shorter_than_it() -> None:
    """A server that sends its page in chunks shorter than the text: what is kept of each chunk
    to search with the next is all of it while it is shorter than the text (it was cut too
    short, and a page showing the text was judged not to)."""
    needle = "April to September 2019"
    page = b"<p>" + needle.encode() + b"</p>"
    chunks = [page[n : n + 4] for n in range(0, len(page), 4)]

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_chunked(writer, chunks, pause=0.01)

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        (found,) = await prober.fetch_many([ProbeRequest(server.url("/a"), expect_text=needle)])
    assert found.text_found is True


async def test_4xx_and_5xx_are_responses_not_failures() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, int(request.path[1:]), b"status page", [("X-Cache", "MISS")])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        responses = await prober.fetch_many(
            ProbeRequest(server.url(f"/{s}")) for s in (404, 410, 500, 503)
        )
    assert [r.http_status for r in responses] == [404, 410, 500, 503]
    assert all(r.failure is None and r.message == "" and not r.ok for r in responses)
    assert all(r.sha256 == hashlib.sha256(b"status page").hexdigest() for r in responses)


async def test_response_records_headers_timings_and_sends_a_browser_request() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(
            writer, 200, b"ok", [("Cache-Control", "max-age=60"), ("X-Cache", "HIT"), ("Age", "12")]
        )

    before = time.time()
    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        response = await prober.fetch(ProbeRequest(server.url("/x")))
    names = [name for name, _ in response.headers]
    assert names == ["Content-Length", "Cache-Control", "X-Cache", "Age"]  # order and case kept
    assert response.header("age") == "12" and response.header("Via") is None
    sent = server.requests[0].headers
    assert "Chrome/" in sent["user-agent"] and "text/html" in sent["accept"]
    assert "cache-control" not in sent and "pragma" not in sent  # no cache-busting
    assert set(response.timings) == {"dns", "connect", "tls", "first_byte", "total"}
    assert 0 < response.timings["first_byte"] <= response.timings["total"] < 5
    assert before <= response.started_at <= response.finished_at <= time.time()
    assert response.remote_ip == "127.0.0.1" and response.http_version == "1.1"


async def test_only_the_final_responses_headers_after_an_interim_1xx() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(103, [("Link", "</style.css>; rel=preload")]))
        await send(writer, 200, b"final", [("X-Final", "yes")])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        first, again = await prober.fetch_many(
            [ProbeRequest(server.url("/early")), ProbeRequest(server.url("/early"))]
        )
    for response in (first, again):  # (the second parses from the seen-lines cache)
        assert response.headers == (("Content-Length", "5"), ("X-Final", "yes"))
        assert response.header("Link") is None and response.http_status == 200
        assert response.sha256 == hashlib.sha256(b"final").hexdigest()


# -- faults: each a classified response with one sentence --------------------------------------


def assert_failure(response: ProbeResponse, kind: str, *words: str) -> None:
    assert response.failure == kind, (response.failure, response.message)
    assert kind in FAILURES
    assert response.sha256 is None
    message = response.message
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message, message
    for word in words:
        assert word in message, message


async def test_dns_failure() -> None:
    async with Prober(CurlTransport()) as prober:
        response = await prober.fetch(ProbeRequest("http://www.onthedot.invalid/x.xlsx"))
    assert_failure(response, "dns", "www.onthedot.invalid", "onthedot.toml")
    assert response.http_status is None


async def test_connection_refused() -> None:
    with socket.socket() as sock:  # bound, never listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
            response = await prober.fetch(ProbeRequest(f"http://127.0.0.1:{port}/x"))
    assert_failure(response, "connect", f"127.0.0.1:{port}", "running")


def tls_context() -> ssl.SSLContext:
    pair = self_signed_cert()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    return context


async def test_tls_error_unless_the_authority_is_trusted() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"secure")

    async with serve(handler, tls=tls_context()) as server:
        async with Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
            untrusted = await prober.fetch(ProbeRequest(server.url("/x")))
        async with Prober(
            CurlTransport(ca_file=str(self_signed_cert().cert)), allowed_hosts=LOCAL
        ) as prober:
            trusted = await prober.fetch(ProbeRequest(server.url("/x")))
    assert_failure(untrusted, "tls", "127.0.0.1", "certificate")
    assert trusted.failure is None and trusted.sha256 == hashlib.sha256(b"secure").hexdigest()
    assert trusted.timings["tls"] > 0


async def test_per_request_timeout_when_the_server_never_answers() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        started = time.monotonic()
        response = await prober.fetch(ProbeRequest(server.url("/x"), timeout=0.5))
        elapsed = time.monotonic() - started
    assert_failure(response, "timeout", "0.5 s")
    assert 0.4 < elapsed < 3


async def test_slowloris_is_cut_off_in_bounded_time() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [("Content-Length", "1000")]))
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)  # 5 bytes a second

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        started = time.monotonic()
        response = await prober.fetch(ProbeRequest(server.url("/slow"), timeout=1.5))
        elapsed = time.monotonic() - started
    assert_failure(response, "timeout")
    assert 1.3 < elapsed < 4
    assert response.http_status == 200  # the status line came; the body never finished


async def test_redirects_are_followed_and_loops_stopped() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        moves = {"/old": "/older", "/older": "/stats/new.csv", "/a": "/b", "/b": "/a"}
        if request.path in moves:
            await send(writer, 301, b"moved", [("Location", moves[request.path]), ("X-Hop", "1")])
        else:
            await send(writer, 200, b"final", [("X-Final", "yes")])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        moved, loop = await prober.fetch_many(
            [ProbeRequest(server.url("/old")), ProbeRequest(server.url("/a"), max_redirects=4)]
        )
    assert moved.failure is None and moved.redirects == 2
    assert moved.effective_url == server.url("/stats/new.csv")
    assert moved.sha256 == hashlib.sha256(b"final").hexdigest()
    assert moved.header("X-Final") == "yes" and moved.header("X-Hop") is None  # final headers only
    assert_failure(loop, "redirects", "more than 4 times")
    assert [r.path for r in server.requests].count("/a") == 3


async def test_bodies_past_the_cap_are_too_large() -> None:
    body = os.urandom(200_000)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/length":
            await send(writer, 200, body)
        else:
            await send_chunked(writer, [body[i : i + 16384] for i in range(0, len(body), 16384)])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        responses = await prober.fetch_many(
            ProbeRequest(server.url(p), max_bytes=50_000) for p in ("/length", "/chunked")
        )
        exact = await prober.fetch(ProbeRequest(server.url("/length"), max_bytes=len(body)))
    for response in responses:
        assert_failure(response, "too-large", "50,000 bytes")
    assert exact.failure is None and exact.size == len(body)


async def test_broken_responses_are_protocol_failures() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/garbage":
            writer.write(b"this is not HTTP at all\r\n\r\n")
        else:
            writer.write(head(200, [("Content-Length", "1000")]) + b"only a part")
        await writer.drain()
        writer.close()

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        garbage, cut = await prober.fetch_many(
            [ProbeRequest(server.url("/garbage")), ProbeRequest(server.url("/cut"))]
        )
    assert_failure(garbage, "protocol", "error log")
    assert_failure(cut, "protocol", "error log")
