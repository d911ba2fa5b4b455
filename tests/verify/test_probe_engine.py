"""The probe engine's guards, bounds, lifecycle and memory, the mock, and the real edge.

Raw servers come from ``test_probe`` (``serve``); nginx and Varnish (``tests.servers``) check the
real edge. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import select
import socket
from pathlib import Path

import pytest

from onthedot.errors import ForeignHostError, ProbeError
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse, check_allowed
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.probe_transfer import HeaderLines
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.ports import free_port, release_port
from tests.servers.varnish import Varnish
from tests.verify.test_probe import LOCAL, Request, assert_failure, head, send, serve

# -- edges, guards, bounds ----------------------------------------------------------------------


async def test_connect_to_probes_one_address_with_the_sites_host() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, request.headers["host"].encode())

    async with (
        serve(handler) as server,
        Prober(CurlTransport(), allowed_hosts=["site.test"]) as prober,
    ):
        url = server.url("/x", host="site.test")
        response = await prober.fetch(ProbeRequest(url, connect_to=f"127.0.0.1:{server.port}"))
    assert response.failure is None, response.message
    assert server.requests[0].headers["host"] == f"site.test:{server.port}"
    assert response.remote_ip == "127.0.0.1" and response.effective_url == url


async def test_bad_connect_to_is_refused_before_fetching() -> None:
    async with Prober(CurlTransport()) as prober:
        with pytest.raises(ProbeError, match="not 'address:port'"):
            await prober.fetch(ProbeRequest("http://site.test/", connect_to="127.0.0.1"))


def test_check_allowed() -> None:
    check_allowed("https://WWW.Example.org/x", ["www.example.org"])
    check_allowed("http://anything.test/", None)
    with pytest.raises(ForeignHostError, match="only fetches the configured site"):
        check_allowed("http://169.254.169.254/latest/meta-data", ["www.example.org"])
    with pytest.raises(ForeignHostError, match="http:// or https://"):
        check_allowed("file:///etc/passwd", None)


def test_a_vetted_site_start_lets_through_only_what_the_check_would() -> None:
    prober = Prober(MockProbeTransport(mock_response), allowed_hosts=["site.test"])
    prober.stream([ProbeRequest("https://site.test/a.csv")])  # vetted: https://site.test/
    prober.stream([ProbeRequest("https://site.test/b.csv?x=1")])
    for url in (
        "https://site.test/a b.csv",  # a space
        "https://site.test/\\@evil.test/",  # a backslash
        "https://site.test/\tx",  # a control character
        "https://site.test.evil.test/",  # another host that starts the same
        "https://site.test@evil.test/",  # a user name
        "http://evil.test/https://site.test/",
    ):
        with pytest.raises(ForeignHostError):
            prober.stream([ProbeRequest(url)])


async def test_ssrf_guard_refuses_foreign_urls_and_redirects() -> None:
    async def elsewhere(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"internal secrets")

    async with serve(elsewhere) as internal:

        async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
            await send(writer, 302, b"", [("Location", internal.url("/admin", host="localhost"))])

        async with serve(handler) as site, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
            with pytest.raises(ForeignHostError):
                await prober.fetch(ProbeRequest(internal.url("/admin", host="localhost")))
            with pytest.raises(ForeignHostError):
                await prober.fetch_many(
                    [ProbeRequest(site.url("/ok")), ProbeRequest("http://evil.test/")]
                )
            redirected = await prober.fetch(ProbeRequest(site.url("/go")))
    assert_failure(redirected, "foreign-host", "localhost", "not one of the site's hosts")
    assert internal.connections == 0
    assert [r.path for r in site.requests] == ["/go"]  # the refused batch fetched nothing


async def test_concurrency_is_bounded() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.03)
        await send(writer, 200, b"x")

    async with (
        serve(handler) as server,
        Prober(CurlTransport(concurrency=4), allowed_hosts=LOCAL) as prober,
    ):
        responses = await prober.fetch_many(ProbeRequest(server.url(f"/{i}")) for i in range(40))
    assert all(r.http_status == 200 for r in responses)
    assert server.max_in_flight == 4
    assert server.connections <= 4  # connections are kept alive and reused


async def test_concurrent_callers_share_the_bound() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.02)
        await send(writer, 200, request.path.encode())

    async with (
        serve(handler) as server,
        Prober(CurlTransport(concurrency=3), allowed_hosts=LOCAL) as prober,
    ):
        responses = await asyncio.gather(
            *(prober.fetch(ProbeRequest(server.url(f"/{i}"))) for i in range(30))
        )
    assert [r.sha256 for r in responses] == [
        hashlib.sha256(f"/{i}".encode()).hexdigest() for i in range(30)
    ]
    assert server.max_in_flight == 3


async def test_a_thousand_urls_in_one_call_keep_their_order() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, request.path.encode())

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        requests = [ProbeRequest(server.url(f"/{i}"), tag=i) for i in range(1000)]
        responses = await prober.fetch_many(requests)
    assert [r.request.tag for r in responses] == list(range(1000))
    assert all(
        r.sha256 == hashlib.sha256(f"/{r.request.tag}".encode()).hexdigest() for r in responses
    )


async def test_stream_yields_as_completed_and_can_stop_early() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.5 if request.path == "/slow" else 0)
        await send(writer, 200, b"x")

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        urls = [server.url("/slow"), server.url("/fast")]
        order = [r.request.url async for r in prober.stream(ProbeRequest(u) for u in urls)]
        assert order == urls[::-1]
        stream = prober.stream(ProbeRequest(server.url(f"/{i}")) for i in range(200))
        first = await anext(stream)
        await stream.aclose()  # gives up on the rest
        again = await prober.fetch(ProbeRequest(server.url("/after")))
    assert first.http_status == 200 and again.http_status == 200


async def test_unusable_urls_fail_alone_and_an_engine_bug_never_hangs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = CurlTransport()  # used directly, no guard: the URLs reach libcurl
    requests = [ProbeRequest("http://127.0.0.1/\x00"), ProbeRequest("http://exa mple.test/")]
    responses = [r async for r in transport.stream(requests, None)]
    await transport.aclose()
    assert {r.request.url for r in responses} == {r.url for r in requests}
    for response in responses:
        assert_failure(response, "protocol", "could not be used", "release file")

    def explode(self: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("onthedot.verify.probe_curl._Engine._collect", explode)
    async with Prober(CurlTransport()) as prober:
        with pytest.raises(ProbeError, match="stopped unexpectedly"):
            await asyncio.wait_for(prober.fetch(ProbeRequest("http://127.0.0.1:9/")), 5)
        with pytest.raises(ProbeError, match="stopped unexpectedly"):
            await prober.fetch(ProbeRequest("http://127.0.0.1:9/"))


async def test_closed_prober_refuses_more_work() -> None:
    prober = Prober(CurlTransport())
    await prober.aclose()
    with pytest.raises(ProbeError, match="closed"):
        await prober.fetch(ProbeRequest("http://127.0.0.1:9/"))


def test_a_prober_can_move_to_a_new_event_loop() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, request.path.encode())

    prober = Prober(CurlTransport(), allowed_hosts=LOCAL)

    async def fetch(path: str) -> ProbeResponse:
        async with serve(handler) as server:
            return await prober.fetch(ProbeRequest(server.url(path)))

    first, second = asyncio.run(fetch("/one")), asyncio.run(fetch("/two"))
    asyncio.run(prober.aclose())
    assert first.sha256 == hashlib.sha256(b"/one").hexdigest()
    assert second.sha256 == hashlib.sha256(b"/two").hexdigest()


def _vm(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field_name)


async def test_a_200_mb_body_is_hashed_in_bounded_memory() -> None:
    block = os.urandom(1024 * 1024)
    blocks = 200
    expected = hashlib.sha256()
    for _ in range(blocks):
        expected.update(block)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [("Content-Length", str(blocks * len(block)))]))
        for _ in range(blocks):
            writer.write(block)
            await writer.drain()

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        await prober.fetch(ProbeRequest(server.url("/warm")))  # threads and handles exist
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
        baseline = _vm("VmRSS")
        response = await prober.fetch(ProbeRequest(server.url("/big"), timeout=60))
        growth = _vm("VmHWM") - baseline
    assert response.failure is None and response.size == blocks * len(block)
    assert response.sha256 == expected.hexdigest()
    assert growth < 40 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.1f} MB"


async def test_a_new_connection_for_every_request_never_stalls() -> None:
    """A server closing every connection after one answer makes libcurl open a new socket per
    request, often under the number just closed (which the kernel dropped from the engine's epoll
    set): every request must still complete at once, not after the engine's fallback wake-up."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        body = request.path.encode()
        writer.write(head(200, [("Content-Length", str(len(body))), ("Connection", "close")]))
        writer.write(body)
        await writer.drain()
        writer.close()

    async with (
        serve(handler) as server,
        Prober(CurlTransport(concurrency=8), allowed_hosts=LOCAL) as prober,
    ):
        requests = [ProbeRequest(server.url(f"/n{i}")) for i in range(400)]
        started = asyncio.get_running_loop().time()
        responses = await prober.fetch_many(requests)
        took = asyncio.get_running_loop().time() - started
    assert [r.sha256 for r in responses] == [
        hashlib.sha256(f"/n{i}".encode()).hexdigest() for i in range(400)
    ]
    assert server.connections == 400
    # 400 requests 8 at a time: 50 rounds; a missed wake-up costs a round 50 ms (2.5 s in all)
    assert took < 2.0, f"{took:.2f} s for 400 one-request connections"


async def test_a_socket_number_reused_by_a_new_socket_is_watched_again() -> None:
    """The kernel drops a closed socket from an epoll set; when libcurl's next socket gets the
    same number and waits for the same event, the engine must register it afresh."""
    transport = CurlTransport(concurrency=1)
    engine = transport._engine_for(asyncio.get_running_loop())
    try:
        first = socket.socket()
        number = first.fileno()
        engine.fdset = lambda: ([number], [], [])  # what libcurl waits on
        engine._look()
        first.close()  # libcurl closed it...
        second = socket.socket()  # ...and opened the next one under the same number
        assert second.fileno() == number
        engine.handed.append(socket.socket())  # as _open_socket records a new socket
        engine._look()
        engine.poller.modify(number, select.EPOLLIN)  # FileNotFoundError if not in the set
        second.close()
    finally:
        await transport.aclose()


async def test_sockets_numbered_past_fd_setsize_still_complete() -> None:
    """libcurl's fdset cannot name sockets numbered 1024 or more; the engine's fallback wake-up
    must still carry such transfers to the end (slower, never stuck)."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"late")

    async with serve(handler) as server:
        filler = [os.dup(0) for _ in range(1100)]  # the next sockets get numbers past 1024
        try:
            async with Prober(CurlTransport(concurrency=4), allowed_hosts=LOCAL) as prober:
                responses = await asyncio.wait_for(
                    prober.fetch_many(ProbeRequest(server.url(f"/{i}")) for i in range(20)),
                    timeout=10,
                )
        finally:
            for fd in filler:
                os.close(fd)
    assert all(r.ok and r.sha256 == hashlib.sha256(b"late").hexdigest() for r in responses)


async def test_probes_leave_no_reference_cycles() -> None:
    """Everything a probe allocates is freed by reference counting as soon as it is dropped, so
    memory on a 10,000-URL morning does not wait for the cyclic collector (which ``tune_gc`` runs
    rarely)."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"x" * 5000, [("X-Varnish", "12 34")])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        requests = [
            ProbeRequest(server.url(f"/f{i}"), expect_text="xx" if i % 2 else None, keep_body=i % 3)
            for i in range(300)
        ]
        await prober.fetch_many(requests[:10])  # handles and connections exist
        gc.collect()
        gc.disable()
        try:
            responses = await prober.fetch_many(requests)
            assert all(r.ok and r.size == 5000 for r in responses)
            del responses
            found = gc.collect()
        finally:
            gc.enable()
    assert found < 50, f"{found} objects were only freed by the cyclic collector"


# -- the in-memory transport ---------------------------------------------------------------------


async def test_mock_transport_answers_like_the_real_one() -> None:
    def handler(request: ProbeRequest) -> ProbeResponse:
        if request.url.endswith("/missing"):
            return mock_response(request, status=404)
        return mock_response(request, body=b"April to September 2019", headers=[("Age", "5")])

    transport = MockProbeTransport(handler)
    async with Prober(transport, allowed_hosts=["www.example.org"]) as prober:
        page, missing, capped = await prober.fetch_many(
            [
                ProbeRequest("https://www.example.org/p", expect_text="September", keep_body=5),
                ProbeRequest("https://www.example.org/missing"),
                ProbeRequest("https://www.example.org/p", max_bytes=3),
            ]
        )
        with pytest.raises(ForeignHostError):
            await prober.fetch(ProbeRequest("https://elsewhere.example/"))
    assert page.text_found is True and page.body == b"April" and page.header("age") == "5"
    assert page.sha256 == hashlib.sha256(b"April to September 2019").hexdigest()
    assert missing.http_status == 404 and missing.failure is None
    assert capped.failure == "too-large" and capped.sha256 is None
    assert len(transport.requests) == 3


# -- the real edge -------------------------------------------------------------------------------


@pytest.mark.services
async def test_through_varnish_and_nginx(webroot: Path, origin: Nginx, varnish: Varnish) -> None:
    body = os.urandom(50_000)
    (webroot / "statistics").mkdir()
    (webroot / "statistics" / "fatalquarterly.xlsx").write_bytes(body)
    url = f"{varnish.url}/statistics/fatalquarterly.xlsx"
    async with Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        miss = await prober.fetch(ProbeRequest(url))
        hit, direct = await prober.fetch_many(
            [ProbeRequest(url), ProbeRequest(f"{origin.url}/statistics/fatalquarterly.xlsx")]
        )
    assert miss.sha256 == hit.sha256 == direct.sha256 == hashlib.sha256(body).hexdigest()
    assert (miss.header("X-Cache"), hit.header("X-Cache")) == ("MISS", "HIT")
    assert hit.header("Age") is not None and hit.header("Via") is not None
    assert direct.header("ETag") is not None and direct.header("X-Cache") is None


@pytest.mark.services
async def test_gzip_page_from_nginx_hashes_the_file(
    webroot: Path, start_server: StartServer
) -> None:
    page = (
        "<html><body>" + "Fatal injuries April to September 2019. " * 2000 + "</body></html>"
    ).encode()
    (webroot / "fatals.htm").write_bytes(page)
    conf = "gzip on; gzip_types text/html; gzip_min_length 1;"
    nginx = start_server(Nginx(webroot, conf, tls=True))
    async with Prober(CurlTransport(ca_file=str(nginx.cert_path)), allowed_hosts=LOCAL) as prober:
        plain, secure = await prober.fetch_many(
            [
                ProbeRequest(f"{nginx.url}/fatals.htm", expect_text="April to September 2019"),
                ProbeRequest(f"{nginx.https_url}/fatals.htm"),
            ]
        )
    for response in (plain, secure):
        assert response.failure is None, response.message
        assert response.header("Content-Encoding") == "gzip"
        assert response.sha256 == hashlib.sha256(page).hexdigest() and response.size == len(page)
    assert plain.text_found is True and secure.timings["tls"] > 0


@pytest.mark.services
async def test_http2_over_tls_with_nginx(webroot: Path, start_server: StartServer) -> None:
    files = {f"/f{i}.bin": os.urandom(20_000) for i in range(20)}
    for path, body in files.items():
        (webroot / path[1:]).write_bytes(body)
    port = free_port()
    try:
        nginx = start_server(Nginx(webroot, f"listen 127.0.0.1:{port} ssl http2;", tls=True))
        async with Prober(
            CurlTransport(ca_file=str(nginx.cert_path)), allowed_hosts=LOCAL
        ) as prober:
            responses = await prober.fetch_many(
                ProbeRequest(f"https://127.0.0.1:{port}{path}") for path in files
            )
    finally:
        release_port(port)
    for response, body in zip(responses, files.values(), strict=True):
        assert response.failure is None, response.message
        assert response.http_version == "2" and response.sha256 == hashlib.sha256(body).hexdigest()
        assert response.header("content-length") == str(len(body))  # HTTP/2 names: lower case


@pytest.mark.services
async def test_http3_asked_of_a_server_without_it_falls_back(
    webroot: Path, start_server: StartServer
) -> None:
    """``CurlTransport(http3=True)`` tries QUIC first; nginx here has no HTTP/3, so the answer
    comes over TCP (HTTP/2) instead of failing."""
    (webroot / "f.bin").write_bytes(b"x" * 5000)
    port = free_port()
    try:
        nginx = start_server(Nginx(webroot, f"listen 127.0.0.1:{port} ssl http2;", tls=True))
        async with Prober(
            CurlTransport(ca_file=str(nginx.cert_path), http3=True), allowed_hosts=LOCAL
        ) as prober:
            response = await prober.fetch(ProbeRequest(f"https://127.0.0.1:{port}/f.bin"))
    finally:
        release_port(port)
    assert response.failure is None, response.message
    assert response.http_version == "2" and response.size == 5000


def test_header_lines_are_parsed_when_first_read_and_compare_as_the_tuple() -> None:
    lines = [
        b"HTTP/1.1 100 Continue\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"Content-Length: 5\r\n",
        b"X-Final:  yes \r\n",
        b" folded continuation\r\n",
        b"\r\n",
    ]
    headers = HeaderLines(lines)  # the interim 100's lines and the folded line are left out
    expected = (("Content-Length", "5"), ("X-Final", "yes"))
    assert headers == expected and headers == HeaderLines(list(lines))
    assert (len(headers), headers[0], headers[1:], list(headers)) == (
        2,
        expected[0],
        expected[1:],
        list(expected),
    )
    assert hash(headers) == hash(expected) and repr(headers) == repr(expected)
    lines.clear()  # parsed once: the raw lines are no longer needed
    assert headers == expected


async def test_a_response_whose_headers_nobody_reads_parses_none() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"hello", [("X-One", "1")])

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        response = await prober.fetch(ProbeRequest(server.url("/x")))
    assert response.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert isinstance(response.headers, HeaderLines)
    assert response.headers._pairs is None  # the hash was all that was read
    assert response.header("x-one") == "1" and response.headers._pairs is not None


async def test_a_text_that_cannot_be_encoded_does_not_stop_the_engine() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"plain text")

    async with serve(handler) as server, Prober(CurlTransport(), allowed_hosts=LOCAL) as prober:
        odd = await prober.fetch(ProbeRequest(server.url("/x"), expect_text="\ud800"))
        after = await prober.fetch(ProbeRequest(server.url("/y"), expect_text="plain"))
    assert (odd.failure, odd.text_found) == (None, False)
    assert (after.failure, after.text_found) == (None, True)
