"""Every purger through the same cases: the CDN APIs against local fakes that check each documented
request, Varnish against the real thing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiohttp import web

from onthedot.adapters import AdapterURL, create, secret_env_name
from onthedot.errors import AdapterURLError, PurgeError
from onthedot.publish.purgers import PurgeAttempt, Purger, RetryPolicy
from onthedot.publish.purgers.akamai import edgegrid_authorization
from onthedot.publish.purgers.http import PER_HOST
from onthedot.publish.purgers.varnish import OWN_CACHE_PER_HOST, REQUIRED_VCL
from tests.publish import fake_cdn as F
from tests.publish.fake_cdn import Fake
from tests.servers import Nginx, Varnish

FAST = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, timeout=5,
                   deadline=20)
HANG = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, timeout=0.3,
                   deadline=5)
PUBLIC = "https://www.example.org/statistics/fatalquarterly.xlsx"
pytestmark = pytest.mark.timeout(30)


def cdn_urls(fake: Fake, good: bool = True) -> dict[str, str]:
    end = f"endpoint={fake.url}"
    key = F.FASTLY_KEY if good else "wrong"
    return {
        "fastly": f"fastly://{F.FASTLY_SERVICE}?key={key}&{end}",
        "cloudflare": f"cloudflare://{F.CF_ZONE}?token={F.CF_TOKEN if good else 'wrong'}&{end}",
        "cloudfront": f"cloudfront://{F.AWS_KEY if good else 'AKIAWRONG'}:{F.AWS_SECRET}@"
                      f"{F.CLOUDFRONT_ID}?{end}&poll=0.01&wait=2",
        "akamai": f"akamai://{F.AKAMAI_HOST}?client_secret={F.AKAMAI_SECRET if good else 'nope'}"
                  f"&access_token={F.AKAMAI_ACCESS_TOKEN}&client_token={F.AKAMAI_CLIENT_TOKEN}&{end}",
    }


CDNS = ["fastly", "cloudflare", "cloudfront", "akamai"]
TAGS = {"fastly": ["stats-2019"], "cloudflare": ["stats-2019"], "akamai": ["stats-2019"],
        "cloudfront": []}
SECRETS = {"fastly": [F.FASTLY_KEY], "cloudflare": [F.CF_TOKEN], "cloudfront": [F.AWS_SECRET],
           "akamai": [F.AKAMAI_SECRET, F.AKAMAI_ACCESS_TOKEN, F.AKAMAI_CLIENT_TOKEN]}
PREFIXES = {"cloudflare": ["https://www.example.org/statistics/"],
            "cloudfront": ["https://www.example.org/statistics/"], "fastly": [], "akamai": []}


FASTLY = f"fastly://{F.FASTLY_SERVICE}?key={F.FASTLY_KEY}&endpoint=http://127.0.0.1:{{port}}"
"""A CDN's API on a local port (``{port}``), for the turns purgers take at one host."""


def purger(url: str, retry: RetryPolicy = FAST) -> Purger:
    made = create("purger", url, retry=retry)
    assert isinstance(made, Purger)
    return made


@pytest.mark.parametrize("name", CDNS)
async def test_cdn_purge_sends_the_documented_requests(name: str, fake: Fake) -> None:
    async with purger(cdn_urls(fake)[name]) as cdn:
        attempts = await cdn.purge([PUBLIC], prefixes=PREFIXES[name], tags=TAGS[name])
    assert attempts and all(a.ok for a in attempts)
    assert all(a.status in (200, 201) for a in attempts)
    assert len(fake.seen) == len(attempts)
    for attempt in attempts:
        shown = attempt.purger + attempt.request + attempt.detail
        assert "****" in attempt.purger
        assert not [secret for secret in SECRETS[name] if secret in shown]


@pytest.mark.parametrize("name", CDNS)
async def test_cdn_wrong_credentials_fail_at_once_with_the_attempt_recorded(
    name: str, fake: Fake
) -> None:
    async with purger(cdn_urls(fake, good=False)[name]) as cdn:
        with pytest.raises(PurgeError) as caught:
            await cdn.purge([PUBLIC])
    attempts = caught.value.attempts
    assert len(attempts) == 1 and attempts[0].status in (401, 403) and not attempts[0].ok
    assert "purge again" in str(caught.value)


@pytest.mark.parametrize("name", CDNS)
async def test_cdn_500_is_retried_and_every_attempt_recorded(name: str, fake: Fake) -> None:
    fake.fail_next = 2
    async with purger(cdn_urls(fake)[name]) as cdn:
        attempts = await cdn.purge([PUBLIC])
    first = [a for a in attempts if "Get" not in a.request]
    assert [a.status for a in first[:2]] == [500, 500] and first[2].status in (200, 201)
    assert first[2].ok and [a.ok for a in first[:2]] == [False, False]


@pytest.mark.parametrize("name", CDNS)
async def test_cdn_that_never_answers_gives_purge_error_with_attempts(name: str, fake: Fake) -> None:
    fake.hang = True
    async with purger(cdn_urls(fake)[name], HANG) as cdn:
        with pytest.raises(PurgeError) as caught:
            await cdn.purge([PUBLIC])
    attempts = caught.value.attempts
    assert len(attempts) == HANG.attempts != FAST.attempts
    assert all(a.status is None and "no answer" in a.detail for a in attempts)


async def test_unsupported_selector_is_recorded_not_skipped(fake: Fake) -> None:
    async with purger(cdn_urls(fake)["fastly"]) as cdn:
        with pytest.raises(PurgeError) as caught:
            await cdn.purge([PUBLIC], prefixes=["https://www.example.org/statistics/"])
    attempts = caught.value.attempts
    assert any("cannot purge by prefixes" in a.detail for a in attempts)
    assert any(a.ok for a in attempts)  # the URL was still purged


def test_edgegrid_signature_matches_akamai_published_test_vectors() -> None:
    # from Akamai's edgegrid-python test data (testdata.json): "simple GET", "POST inside limit"
    creds: dict[str, Any] = {"client_token": "akab-client-token-xxx-xxxxxxxxxxxxxxxx",
             "access_token": "akab-access-token-xxx-xxxxxxxxxxxxxxxx",
             "client_secret": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=",
             "timestamp": "20140321T19:34:21+0000", "nonce": "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"}
    base = "https://akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net"
    get = edgegrid_authorization("GET", base + "/", b"", **creds)
    assert get.endswith("signature=tL+y4hxyHxgWVD30X3pWnGKHcPzmrIF+LThiAOhMxYU=")
    post = edgegrid_authorization("POST", base + "/testapi/v1/t3",
                                  b"datadatadatadatadatadatadatadata", max_body=2048, **creds)
    assert post.endswith("signature=hXm4iCxtpN22m4cbZb4lVLW5rhX8Ca82vCFqXzSTPe4=")


@pytest.mark.parametrize("url", ["cloudflare://", "fastly://", "akamai://", "varnish://",
                                 "cloudfrnt://E123"])
def test_bad_purger_urls_are_refused(url: str) -> None:
    with pytest.raises(AdapterURLError):
        create("purger", url)


async def test_memory_purger_retries_then_succeeds() -> None:
    async with purger("memory://retry-test?fail=1") as memory:
        attempts = await memory.purge([PUBLIC], tags=["t"])
    assert [a.ok for a in attempts] == [False, True, True]


@pytest.mark.services
async def test_varnish_purge_ban_and_errors_on_the_real_cache(varnish: object, webroot: object) -> None:
    base = varnish.url  # type: ignore[attr-defined]
    (webroot / "statistics").mkdir()  # type: ignore[operator]
    page = webroot / "statistics" / "x.xlsx"  # type: ignore[operator]
    page.write_bytes(b"old")
    host = "www.example.org"
    async with httpx.AsyncClient(headers={"Host": host}) as http:
        assert (await http.get(base + "/statistics/x.xlsx")).content == b"old"
        page.write_bytes(b"new")
        assert (await http.get(base + "/statistics/x.xlsx")).content == b"old"  # cached
        async with purger(f"varnish://127.0.0.1:{varnish.port}") as cache:  # type: ignore[attr-defined]
            attempts = await cache.purge([f"https://{host}/statistics/x.xlsx"])
            assert attempts[0].ok and attempts[0].request.startswith("PURGE ")
            assert (await http.get(base + "/statistics/x.xlsx")).content == b"new"
            page.write_bytes(b"newer")
            attempts = await cache.purge([], prefixes=[f"https://{host}/statistics/"])
            assert attempts[0].ok and "X-Ban-Prefix" in attempts[0].request
        assert (await http.get(base + "/statistics/x.xlsx")).content == b"newer"


class DocumentedVarnish(Varnish):
    """Varnish running ``REQUIRED_VCL`` as a site would (with a backend; xkey if installed)."""

    def render_vcl(self) -> str:
        backend = (
            f'backend default {{ .host = "{self.backend_host}"; .port = "{self.backend_port}"; }}'
        )
        vcl = REQUIRED_VCL.replace("vcl 4.1;", f"vcl 4.1;\n{backend}", 1)
        return vcl if self.has_xkey else vcl.replace("import xkey;", "#")


@pytest.fixture(params=["sandbox", "documented"])
def any_varnish(request: pytest.FixtureRequest, origin: Nginx, start_server: Any) -> Varnish:
    """The sandbox's Varnish, and one running the VCL the purger's documentation asks for."""
    if request.param == "sandbox":
        return cast(Varnish, request.getfixturevalue("varnish"))
    return cast(Varnish, start_server(DocumentedVarnish(origin.host, origin.port)))


@pytest.mark.services
@pytest.mark.parametrize(
    ("folder", "name", "files", "bans"),
    [
        ("statistics", "x-{n}.xlsx", 10, 1),
        ("statistiques", "données 2026 - {n}.csv", 3, 1),
        ("statistiques", "données 2026 - {n}.csv", 300, 5),
    ],
)
async def test_varnish_purges_a_release_of_many_files_in_few_requests(
    any_varnish: Varnish, webroot: Path, folder: str, name: str, files: int, bans: int
) -> None:
    """200 releases due at once purge 200 requests, not 200 × their files: BANs of exactly the
    release's paths (x-1.xlsx and x-10.xlsx are different files, x-1.xlsx.bak is kept), as Varnish
    holds them (percent-encoded: ``donn%C3%A9es%202026``), each header under Varnish's 8 KB."""
    base = f"{any_varnish.url}/{folder}"
    (webroot / folder).mkdir()
    names = [name.format(n=n) for n in range(1, files + 1)] + [name.format(n=1) + ".bak"]
    for one in names:
        (webroot / folder / one).write_bytes(b"old")
    host = "www.example.org"
    async with httpx.AsyncClient(headers={"Host": host}) as http:
        for one in names:
            assert (await http.get(f"{base}/{one}")).content == b"old"
            (webroot / folder / one).write_bytes(b"new")
        release = [f"https://{host}/{folder}/{one}" for one in names[:-1]]
        async with purger(f"varnish://127.0.0.1:{any_varnish.port}") as cache:
            attempts = await cache.purge(release)
        assert [(a.request.split()[0], a.status) for a in attempts] == [("BAN", 200)] * bans
        for one in names[:-1]:
            assert (await http.get(f"{base}/{one}")).content == b"new", one
        assert (await http.get(f"{base}/{names[-1]}")).content == b"old"


@asynccontextmanager
async def answering(
    cache: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[int]:
    """``cache`` answering every request on a port of its own (the port)."""
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", cache)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _releases_due_at_once(
    releases: int,
    cache: Callable[[web.Request], Awaitable[web.Response]],
    retry: RetryPolicy,
    address: str = "varnish://127.0.0.1:{port}",
) -> list[list[PurgeAttempt]]:
    """``releases`` purgers of one address (``cache`` answering on ``{port}``) purge a URL each
    at once."""
    async with answering(cache) as port:
        purgers = [purger(address.format(port=port), retry) for _ in range(releases)]
        try:
            return await asyncio.gather(
                *(p.purge([f"{PUBLIC}?r={n}"]) for n, p in enumerate(purgers))
            )
        finally:
            for one in purgers:
                await one.aclose()


@pytest.mark.parametrize(
    ("address", "fewest", "most_allowed"),
    [
        # a cache of the site's own: many at once (each turn waited for is a round of a busy loop)
        ("varnish://127.0.0.1:{port}", PER_HOST + 1, OWN_CACHE_PER_HOST),
        ("http-purge://127.0.0.1:{port}", PER_HOST + 1, OWN_CACHE_PER_HOST),
        # a CDN's API, which limits the rate of its callers: a few at once
        (FASTLY, 1, PER_HOST),
    ],
    ids=["varnish", "http-purge", "fastly"],
)
async def test_purges_to_one_host_from_many_releases_wait_their_turn(
    address: str, fewest: int, most_allowed: int
) -> None:
    """100 releases due at once, each with its purger: the host never gets more purge requests
    at once than its kind allows, a cache of the site's own more than a CDN's API, and every
    purge is done."""
    busy, most = 0, 0

    async def cache(_request: web.Request) -> web.Response:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        await asyncio.sleep(0.05)
        busy -= 1
        return web.Response(text="Purged")

    done = await _releases_due_at_once(100, cache, FAST, address)
    assert all(attempts[0].ok for attempts in done)
    assert fewest <= most <= most_allowed, most


async def test_the_releases_purgers_share_their_connections_to_a_host_and_keep_no_cookies() -> None:
    """100 releases due at once, each with its purger of one cache: they connect at most as many
    times as requests may go at once (a connection made is most of a purge's work at T), not once
    each; then 100 more one after another connect no more. A cookie the cache sets is not sent
    back (the purgers of one host may hold different credentials). The session is closed with
    the last purger."""
    from onthedot.publish.purgers import http

    peers: set[object] = set()
    cookies: list[str] = []

    async def cache(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        cookies.append(request.headers.get("Cookie", ""))
        response = web.Response(text="Purged")
        response.set_cookie("session", "of-another-purger")
        await asyncio.sleep(0.01)
        return response

    async with answering(cache) as port:
        # (by name: aiohttp's own jar would keep no cookie of an address like 127.0.0.1 anyway)
        purgers = [purger(f"varnish://localhost:{port}") for _ in range(200)]
        try:
            at_once = await asyncio.gather(*(p.purge([f"{PUBLIC}?r={n}"]) for n, p in
                                             enumerate(purgers[:100])))  # fmt: skip
            assert all(attempts[0].ok for attempts in at_once)
            assert len(peers) <= OWN_CACHE_PER_HOST, len(peers)
            for n, one in enumerate(purgers[100:]):
                assert (await one.purge([f"{PUBLIC}?s={n}"]))[0].ok
            assert len(peers) <= OWN_CACHE_PER_HOST, len(peers)  # (no new connection)
            assert cookies == [""] * 200
        finally:
            for one in purgers:
                await one.aclose()
    assert asyncio.get_running_loop() not in http._LENT  # (closed with the last)


async def test_a_kept_connection_the_cache_closes_is_not_a_failed_try() -> None:
    """A cache that closes a kept connection as the next purge comes on it (its idle timeout
    ran out at that moment): the purge is sent again at once on a new connection, not counted a
    failed try and retried a second later."""
    served = 0

    async def cache(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPurged")
            await writer.drain()
            served += 1
            await reader.readuntil(b"\r\n\r\n")  # the next request on the kept connection
        except asyncio.IncompleteReadError:
            pass
        writer.close()  # (closed without an answer)

    server = await asyncio.start_server(cache, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    slow_retry = RetryPolicy(attempts=3, wait_initial=5, wait_max=5, wait_jitter=0.0, timeout=5,
                             deadline=20)  # fmt: skip
    first, second = (purger(f"varnish://127.0.0.1:{port}", slow_retry) for _ in range(2))
    try:
        assert [a.ok for a in await first.purge([PUBLIC])] == [True]
        started = asyncio.get_running_loop().time()
        assert [a.ok for a in await second.purge([PUBLIC])] == [True]  # (one try)
        assert asyncio.get_running_loop().time() - started < 4  # (not after the retry's wait)
        assert served == 2
    finally:
        await first.aclose()
        await second.aclose()
        server.close()
        await server.wait_closed()


async def test_a_purger_closed_on_another_event_loop_leaves_the_others_their_session() -> None:
    """Three purgers used on an event loop of another thread, one of them closed on this loop:
    the others still purge there; the last of them closed here closes the session there."""
    import threading

    from onthedot.publish.purgers import http

    async def cache(_request: web.Request) -> web.Response:
        return web.Response(text="Purged")

    there = asyncio.new_event_loop()
    thread = threading.Thread(target=there.run_forever, daemon=True)
    thread.start()

    async def on_there(work: Coroutine[Any, Any, Any]) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, there))

    async def purged(one: Purger) -> bool:
        return (await one.purge([PUBLIC]))[0].ok

    try:
        async with answering(cache) as port:
            made = [purger(f"varnish://127.0.0.1:{port}") for _ in range(3)]
            assert all([await on_there(purged(one)) for one in made])
            (session,) = [shared.session for loop, shared in http._LENT.items() if loop is there]
            await made[0].aclose()  # (here: the others still use it there)
            assert not session.closed and await on_there(purged(made[1]))
            await on_there(made[1].aclose())
            await made[2].aclose()  # the last: closed on its own loop
            for _ in range(100):
                if session.closed:
                    break
                await asyncio.sleep(0.01)
            assert session.closed
    finally:
        there.call_soon_threadsafe(there.stop)
        thread.join(5)
        there.close()


def test_a_ban_names_the_common_folder_once_and_matches_exactly_the_release() -> None:
    """At T an edge tests each object it looks up against every newer ban: a ban that starts
    with the release's folder fails at once for another release's objects. It still matches
    exactly the release's paths (either case of a ``%XX``), in every folder, and nothing else."""
    import re

    site = "https://www.example.org"
    paths = [
        "/statistics/2026/x-1.xlsx",
        "/statistics/2026/x-10.xlsx",
        "/statistics/2026/tables/données 2026.csv",
        "/statistics/2026/notes.csv?edition=2",
        "/statistics/2026/",
    ]
    (ban,) = purger("varnish://127.0.0.1:6081").requests([site + p for p in paths], [], [])
    pattern = ban.label.split("X-Ban-Prefix: ", 1)[1].removesuffix(")")
    assert pattern.startswith(re.escape("/statistics/2026/") + "(?:"), pattern
    matches = re.compile("^" + pattern).match
    wire = [
        "/statistics/2026/x-1.xlsx",
        "/statistics/2026/x-10.xlsx",
        "/statistics/2026/tables/donn%C3%A9es%202026.csv",
        "/statistics/2026/tables/donn%c3%a9es%202026.csv",
        "/statistics/2026/notes.csv?edition=2",
        "/statistics/2026/",
    ]
    assert all(matches(w) for w in wire)
    others = [
        "/statistics/2026/x-1.xlsx.bak",
        "/statistics/2026/x-100.xlsx",
        "/statistics/2026/tables/",
        "/statistics/2026/notes.csv?edition=3",
        "/statistics/2025/x-1.xlsx",
        "/statistics/",
        "/other/statistics/2026/x-1.xlsx",
    ]
    assert not any(matches(w) for w in others)


def test_no_ban_header_passes_the_limit_when_its_folders_are_grouped() -> None:
    """The paths are counted whole, but a folder's names grouped add ``(?:...)``: with short
    folder names (two files at the root, two under ``//``, pairs under one-letter folders) the
    count said 4,000 and the header came out a few characters over. Each BAN is now measured as
    sent."""
    from onthedot.publish.purgers.varnish import BAN_HEADER

    paths = [
        "/" + "r" * 40 + "1",
        "/" + "r" * 40 + "2",
        "//" + "s" * 40 + "1",
        "//" + "s" * 40 + "2",
    ]
    counted = 5 + sum(len(p) + 1 for p in paths)
    for folder in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
        pair = [f"/{folder}/" + "n" * 60 + "1", f"/{folder}/" + "n" * 60 + "2"]
        if counted + sum(len(p) + 1 for p in pair) > BAN_HEADER:
            left = (BAN_HEADER - counted) // 2 - 1  # the last pair fills the count to the limit
            pair = [f"/{folder}/" + "n" * (left - 4) + "q", f"/{folder}/" + "n" * (left - 4) + "z"]
            paths += pair
            counted += sum(len(p) + 1 for p in pair)
            break
        paths += pair
        counted += sum(len(p) + 1 for p in pair)
    assert BAN_HEADER - 2 <= counted <= BAN_HEADER  # (the old count: one BAN)
    found = purger("varnish://127.0.0.1:6081").requests(
        ["https://h.example" + p for p in paths], [], []
    )
    patterns = [r.label.split("X-Ban-Prefix: ", 1)[1].removesuffix(")") for r in found]
    assert all(len(p) <= BAN_HEADER for p in patterns), [len(p) for p in patterns]
    import re

    assert all(any(re.match("^" + p, path) for p in patterns) for path in paths)


def test_a_path_that_cannot_go_in_a_ban_expression_is_purged_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A space or ``"`` left in a path (should an encoding keep one) would end the ban's argument."""
    from onthedot.publish.purgers import varnish

    monkeypatch.setattr(varnish, "_wire", lambda path: path)
    cache = purger("varnish://127.0.0.1:6081")
    found = cache.requests([PUBLIC, "https://www.example.org/a b.csv"], [], [])
    assert [r.label.split()[0] for r in found] == ["PURGE", "BAN"]
    assert "a b.csv" in found[0].label and "fatalquarterly" in found[1].label


async def test_a_try_waiting_its_turn_is_not_timed_out_before_it_is_sent() -> None:
    """40 releases due at once, a CDN's API answering in 0.25 s, 8 at a time: the last ones
    wait well over the 0.6 s a try may take, and every purge is done at its first try."""
    sent = 0

    async def cache(_request: web.Request) -> web.Response:
        nonlocal sent
        sent += 1
        await asyncio.sleep(0.25)
        return web.Response(text="Purged")

    once = RetryPolicy(
        attempts=1, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, timeout=0.6, deadline=20
    )
    clock = asyncio.get_running_loop().time()
    done = await _releases_due_at_once(40, cache, once, FASTLY)
    assert asyncio.get_running_loop().time() - clock > 2 * once.timeout  # some did wait
    assert [len(attempts) for attempts in done] == [1] * 40
    assert all(attempts[0].ok for attempts in done) and sent == 40


@pytest.mark.services
async def test_varnish_down_gives_purge_error(closed_port: int) -> None:
    async with purger(f"varnish://127.0.0.1:{closed_port}", HANG) as cache:
        with pytest.raises(PurgeError) as caught:
            await cache.purge(["https://www.example.org/x"])
    assert len(caught.value.attempts) == HANG.attempts


# --- a secret goes only where it is configured to go -------------------------------------------

IMPLICIT = {  # the URL without its secrets, and the secrets named after its host it must not use
    "fastly": (f"fastly://{F.FASTLY_SERVICE}", {"key": F.FASTLY_KEY}),
    "cloudflare": (f"cloudflare://{F.CF_ZONE}", {"token": F.CF_TOKEN}),
    "cloudfront": (f"cloudfront://{F.AWS_KEY}@{F.CLOUDFRONT_ID}", {"password": F.AWS_SECRET}),
    "akamai": (
        f"akamai://{F.AKAMAI_HOST}",
        {
            "client_secret": F.AKAMAI_SECRET,
            "access_token": F.AKAMAI_ACCESS_TOKEN,
            "client_token": F.AKAMAI_CLIENT_TOKEN,
        },
    ),
}


@pytest.mark.parametrize("name", CDNS)
async def test_an_endpoint_gets_no_secret_named_for_the_service(
    name: str, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, secrets = IMPLICIT[name]
    for field, value in secrets.items():
        monkeypatch.setenv(secret_env_name(AdapterURL.parse(url), field), value)
    async with purger(f"{url}?endpoint={fake.url}&poll=0.01") as cdn:
        with pytest.raises(AdapterURLError, match="of its own, as it sends requests to its"):
            await cdn.purge([PUBLIC])
    assert fake.seen == []


@pytest.mark.parametrize("name", CDNS)
async def test_an_endpoint_gets_the_secret_named_for_it(
    name: str, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, secrets = IMPLICIT[name]
    named = []
    for field, value in secrets.items():
        monkeypatch.setenv(f"ONTHEDOT_TEST_{field.upper()}", value)
        named.append(f"{field}_env=ONTHEDOT_TEST_{field.upper()}")
    async with purger(f"{url}?endpoint={fake.url}&poll=0.01&{'&'.join(named)}") as cdn:
        attempts = await cdn.purge([PUBLIC])
    assert attempts and all(a.ok for a in attempts)


@pytest.mark.parametrize(
    "endpoint",
    ["http://192.0.2.10:8080", "http://api.cloudflare.com", "ftp://127.0.0.1", "https://"],
)
def test_an_endpoint_beyond_this_machine_must_be_https(endpoint: str) -> None:
    with pytest.raises(AdapterURLError, match="would send its secrets unencrypted"):
        purger(f"cloudflare://{F.CF_ZONE}?token=abc&endpoint={endpoint}")


@pytest.mark.parametrize(
    "endpoint",
    ["https://cf-relay.internal", "http://127.0.0.1:9", "http://[::1]:9", "http://localhost"],
)
def test_an_endpoint_over_https_or_on_this_machine_is_taken(endpoint: str) -> None:
    made = purger(f"cloudflare://{F.CF_ZONE}?token=abc&endpoint={endpoint}")
    assert made.endpoint_override == endpoint


def test_cloudfront_with_an_endpoint_does_not_sign_with_the_aws_credential_chain() -> None:
    with pytest.raises(AdapterURLError, match="access key id of its own"):
        purger(f"cloudfront://{F.CLOUDFRONT_ID}?endpoint=https://cloudfront.internal")


async def test_the_purge_says_it_was_answered_before_its_attempts_are_recorded(
    tmp_path: Path,
) -> None:
    """The sweep at T waits for the caches to answer the purge, not for the answers to be
    written down (on a busy store that took seconds more at T)."""

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.publish.purgers.memory import MemoryPurger
    from onthedot.publish.purging import Purging
    from onthedot.record.timeline import Timeline

    engine = await _purging_store(tmp_path)
    try:
        release = _release()
        writing = asyncio.Event()

        class Held(Timeline):
            async def append_many(self, *args: Any, **kwargs: Any) -> int:
                await writing.wait()
                return await super().append_many(*args, **kwargs)

        answered = asyncio.Event()
        purging = Purging([MemoryPurger("memory://answered")], Held(engine), SYSTEM_CLOCK)
        purge = asyncio.create_task(purging.purge(release, ["/x.csv"], answered=answered))
        await asyncio.wait_for(answered.wait(), 5)
        assert not purge.done()  # answered, its record not yet written
        writing.set()
        (attempt,) = await purge
        assert attempt.ok
        assert await Timeline(engine).events("r", "purge.attempt")
    finally:
        await engine.dispose()


# --- an odd reply, or a request that goes wrong in a way nobody foresaw -------------------------

ODD_CHARSET_ADDRESSES = {
    "varnish": "varnish://127.0.0.1:{port}",
    "http-purge": "http-purge://127.0.0.1:{port}",
    "fastly": FASTLY,
    "cloudflare": f"cloudflare://{F.CF_ZONE}?token={F.CF_TOKEN}&endpoint=http://127.0.0.1:{{port}}",
    "akamai": f"akamai://{F.AKAMAI_HOST}?client_secret={F.AKAMAI_SECRET}"
              f"&access_token={F.AKAMAI_ACCESS_TOKEN}&client_token={F.AKAMAI_CLIENT_TOKEN}"
              f"&endpoint=http://127.0.0.1:{{port}}",
}


def _replying(status: int, charset: str, body: bytes = b'{"success": true, "errors": []}'
              ) -> Callable[[web.Request], Awaitable[web.Response]]:  # fmt: skip
    async def cache(_request: web.Request) -> web.Response:
        headers = {"Content-Type": f"text/plain; charset={charset}"}
        return web.Response(status=status, body=body, headers=headers)

    return cache


@pytest.mark.parametrize("charset", ["hex", "base64", "zlib", "rot13"])
@pytest.mark.parametrize("name", list(ODD_CHARSET_ADDRESSES))
async def test_a_reply_in_a_charset_that_is_no_text_encoding_is_judged_by_its_status(
    name: str, charset: str
) -> None:
    """A cache or CDN API that names a codec of Python's that is no text encoding (``hex``,
    ``zlib``...) as its reply's charset: the purge is done as its 200 says, nothing raised."""
    async with answering(_replying(200, charset)) as port:
        async with purger(ODD_CHARSET_ADDRESSES[name].format(port=port)) as cache:
            attempts = await cache.purge([PUBLIC])
    assert [(a.status, a.ok) for a in attempts] == [(200, True)]
    assert len(attempts[0].detail) <= 200


@pytest.mark.parametrize("name", list(ODD_CHARSET_ADDRESSES))
async def test_a_failure_in_a_charset_that_is_no_text_encoding_is_a_failed_purge(
    name: str,
) -> None:
    """A 503 in ``charset=hex`` is retried (a 5xx) and the purge fails with every try recorded;
    a 403 is not retried; the reason kept is the status and a few words."""
    for status, tries in ((503, FAST.attempts), (403, 1)):
        async with answering(_replying(status, "hex", b"Service Unavailable " * 5000)) as port:
            async with purger(ODD_CHARSET_ADDRESSES[name].format(port=port)) as cache:
                with pytest.raises(PurgeError) as caught:
                    await cache.purge([PUBLIC])
        attempts = caught.value.attempts
        assert [(a.status, a.ok) for a in attempts] == [(status, False)] * tries
        assert all(a.detail.startswith(str(status)) and len(a.detail) <= 200 for a in attempts)
        assert len(str(caught.value)) <= 500


async def test_a_reply_of_gigabytes_is_not_read_whole() -> None:
    """A cache answering its 200 with a body of 8 GiB (here it would take minutes to send): the
    purge is done at once from the status and the first bytes, and the rest is not waited for
    nor held in memory; the cache sees the connection closed long before its body's end."""
    declared = 8 * 2**30
    sent = 0
    gone = asyncio.Event()

    async def cache(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=hex"})
        response.content_length = declared
        await response.prepare(request)
        chunk = b"Purged " * 9362  # (64 KiB, every 10 ms: 6.5 MB/s)
        try:
            while sent < declared:
                await response.write(chunk)
                sent += len(chunk)
                await asyncio.sleep(0.01)
        except ConnectionError:
            gone.set()
        return response

    once = RetryPolicy(attempts=1, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0,
                       timeout=3, deadline=5)  # fmt: skip
    async with answering(cache) as port:
        async with purger(f"varnish://127.0.0.1:{port}", once) as varnish:
            attempts = await varnish.purge([PUBLIC])
        await asyncio.wait_for(gone.wait(), 5)
    assert [(a.status, a.ok) for a in attempts] == [(200, True)]
    assert attempts[0].duration_s < once.timeout
    assert len(attempts[0].detail) <= 200
    assert sent < 64 * 2**20


async def _purging_store(tmp_path: Path) -> Any:
    from onthedot.store.db import open_store

    return await open_store(f"sqlite:///{tmp_path / 's.db'}")


def _release() -> Any:
    import datetime as dt

    from onthedot.model import Release

    return Release.model_validate(
        {
            "id": "r",
            "title": "T",
            "producer": "P",
            "release_at": dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC),
            "site": {"public": "http://www.example.org"},
            "artefact": [{"path": "/x.csv", "sha256": "0" * 64}],
        }
    )


async def test_a_purge_request_that_raises_unexpectedly_fails_and_the_others_are_recorded(
    tmp_path: Path,
) -> None:
    """A purger's request that raises what no purger expects (a bug, a library's surprise): that
    purge is a failed attempt, not tried again (it is no network failure), said in plain words
    (the error itself goes to the log for IT); the other purgers of the publish are done and
    recorded as such."""
    from structlog.testing import capture_logs

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.publish.purgers.base import Outcome, PurgeRequest
    from onthedot.publish.purgers.memory import MemoryPurger
    from onthedot.publish.purging import Purging
    from onthedot.record.timeline import Timeline

    tried = 0

    class Buggy(MemoryPurger):
        def requests(self, urls: list[str], prefixes: list[str], tags: list[str]
                     ) -> list[PurgeRequest]:  # fmt: skip
            async def send() -> Outcome:
                nonlocal tried
                tried += 1
                raise KeyError("purgeId")

            return [PurgeRequest(f"PURGE {url}", send) for url in urls]

    engine = await _purging_store(tmp_path)
    try:
        purgers: list[Purger] = [Buggy("memory://buggy"), MemoryPurger("memory://fine")]
        async with answering(_replying(200, "hex")) as port:
            async with purger(f"varnish://127.0.0.1:{port}") as varnish:
                purging = Purging([*purgers, varnish], Timeline(engine), SYSTEM_CLOCK)
                with capture_logs() as logged:
                    attempts = await purging.purge(_release(), ["/x.csv"])
        assert tried == 1  # not tried again
        assert [(a.purger.split(":")[0], a.ok) for a in attempts] == [
            ("memory", False), ("memory", True), ("varnish", True)
        ]
        detail = attempts[0].detail
        assert attempts[0].status is None and detail and len(detail) <= 200
        assert "KeyError" not in detail and "purgeId" not in detail and "\n" not in detail
        timeline = Timeline(engine)
        (failed,) = await timeline.events("r", "purge.failed")
        assert failed.data["purger"] == purgers[0].url()
        assert "KeyError" not in failed.data["error"] and len(failed.data["error"]) <= 500
        done = await timeline.events("r", "purge.done")
        assert [e.data["purger"] for e in done] == [purgers[1].url(), varnish.url()]
        assert len(await timeline.events("r", "purge.attempt")) == 3
        assert [e for e in logged if e.get("exc_info")]  # the error itself, for IT
    finally:
        await engine.dispose()


async def test_a_purger_that_raises_unexpectedly_outside_its_requests_is_a_failed_purge(
    tmp_path: Path,
) -> None:
    """A purger whose own work around its requests raises (e.g. reading a CDN's odd answer
    while it polls): its purge is recorded failed in plain words, the others done."""
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.publish.purgers.memory import MemoryPurger
    from onthedot.publish.purging import Purging
    from onthedot.record.timeline import Timeline

    class Crashing(MemoryPurger):
        async def purge(self, urls: Any, *, prefixes: Any = (), tags: Any = ()
                        ) -> list[PurgeAttempt]:  # fmt: skip
            raise TypeError("'NoneType' object is not subscriptable")

    engine = await _purging_store(tmp_path)
    try:
        crashing, fine = Crashing("memory://crashing"), MemoryPurger("memory://fine-too")
        purging = Purging([crashing, fine], Timeline(engine), SYSTEM_CLOCK)
        attempts = await purging.purge(_release(), ["/x.csv"])
        assert [(a.purger, a.ok) for a in attempts] == [(crashing.url(), False), (fine.url(), True)]
        assert "TypeError" not in attempts[0].detail and len(attempts[0].detail) <= 200
        timeline = Timeline(engine)
        (failed,) = await timeline.events("r", "purge.failed")
        assert failed.data["purger"] == crashing.url()
        error = failed.data["error"]
        assert "TypeError" not in error and "NoneType" not in error and len(error) <= 500
        (done,) = await timeline.events("r", "purge.done")
        assert done.data["purger"] == fine.url()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("status", "body", "tries", "ok"),
    [
        (200, b'{"success": true, "errors": 5}', 1, True),
        (200, b'{"success": true, "errors": true, "messages": []}', 1, True),
        (503, b'{"success": false, "errors": true}', FAST.attempts, False),
        (403, b'{"success": false, "errors": {"code": 10000}}', 1, False),
    ],
)
async def test_cloudflare_judges_a_reply_of_another_shape_by_its_status(
    status: int, body: bytes, tries: int, ok: bool
) -> None:
    """``errors`` that is no list of errors: the reply is judged by its status and ``success``."""
    address = ODD_CHARSET_ADDRESSES["cloudflare"]
    async with answering(_replying(status, "utf-8", body)) as port:
        async with purger(address.format(port=port)) as cdn:
            try:
                attempts = await cdn.purge([PUBLIC])
            except PurgeError as exc:
                attempts = exc.attempts
    assert [(a.status, a.ok) for a in attempts] == [(status, ok)] * tries


def _cloudfront_api(
    get: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """CloudFront's API creating an invalidation as documented, its polls answered by ``get``."""
    xmlns = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

    async def api(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return await get(request)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="{xmlns}">'
               "<Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status>"
               "<CreateTime>2019-12-18T09:30:01Z</CreateTime><InvalidationBatch><Paths>"
               "<Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths>"
               "<CallerReference>ref</CallerReference></InvalidationBatch></Invalidation>")  # fmt: skip
        return web.Response(status=201, text=xml, content_type="text/xml")

    return api


def _cloudfront(port: int) -> str:
    return (f"cloudfront://{F.AWS_KEY}:{F.AWS_SECRET}@{F.CLOUDFRONT_ID}"
            f"?endpoint=http://127.0.0.1:{port}&poll=0.01&wait=2")  # fmt: skip


async def test_a_cloudfront_poll_whose_reply_never_ends_is_a_try_that_timed_out() -> None:
    """aiobotocore reads a reply whole: a GetInvalidation answered by a body without end is
    given up after the try's timeout (not read on and on), and the polls go on until ``wait``."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/xml"})
        response.content_length = 8 * 2**30
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    await response.write(b"<Invalidation>" * 4681)  # (64 KiB every 10 ms)
                    await asyncio.sleep(0.01)
        return response

    policy = RetryPolicy(attempts=1, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0,
                         timeout=0.5, deadline=5)  # fmt: skip
    async with answering(_cloudfront_api(endless)) as port:
        async with purger(_cloudfront(port), policy) as cdn:
            async with asyncio.timeout(10):
                with pytest.raises(PurgeError, match="did not complete within 2 s") as caught:
                    await cdn.purge([PUBLIC])
    create, *polls = caught.value.attempts
    assert create.ok and create.status == 201
    assert polls and all(not a.ok and a.detail == "no answer within 0.5 s" for a in polls)


async def test_a_cloudfront_poll_answered_with_no_xml_ends_the_purge_in_plain_words() -> None:
    """A GetInvalidation answered with what is not CloudFront's XML (botocore's parser raises):
    the purge fails at once with that poll recorded, in plain words, not polled until ``wait``."""
    polled = 0

    async def garbage(_request: web.Request) -> web.Response:
        nonlocal polled
        polled += 1
        return web.Response(text="<<< not xml", content_type="text/xml")

    async with answering(_cloudfront_api(garbage)) as port:
        async with purger(_cloudfront(port)) as cdn:
            with pytest.raises(PurgeError, match="could not be followed") as caught:
                await cdn.purge([PUBLIC])
    assert polled == 1
    create, poll = caught.value.attempts
    assert create.ok and not poll.ok and poll.status is None
    assert "Parser" not in poll.detail and "not xml" not in poll.detail and len(poll.detail) <= 200
