"""The diagnosis sentence for each situation, and linked files on a page."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from email.utils import format_datetime
from pathlib import Path

import pytest

from onthedot.errors import InputError
from onthedot.model import Status
from onthedot.testing import mock_response
from onthedot.verify.caches import Varnish
from onthedot.verify.diagnose import diagnose, linked_files
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx as NginxServer
from tests.servers.plugin import StartServer
from tests.servers.varnish import Varnish as VarnishServer

URL = "https://www.example.org/statistics/fatalquarterly.xlsx"
ORIGIN = "http://origin.internal:8080/statistics/fatalquarterly.xlsx"
OLD, NEW = b"old figures", b"new figures"
NEW_SHA = hashlib.sha256(NEW).hexdigest()
RELEASE = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2019, 12, 18, 10, 20, 12, tzinfo=dt.UTC)
VARNISH_HIT = (("Via", "1.1 varnish (Varnish/7.1)"), ("X-Varnish", "32770 3"))


def resp(
    url: str = URL,
    body: bytes = OLD,
    headers: tuple[tuple[str, str], ...] = (),
    status: int | None = 200,
    failure: str | None = None,
    message: str = "",
    expect_text: str | None = None,
) -> ProbeResponse:
    request = ProbeRequest(url, keep_body=4096, expect_text=expect_text)
    all_headers = (("Date", format_datetime(NOW, usegmt=True)), *headers)
    return mock_response(
        request, status=status, body=body, headers=all_headers, failure=failure, message=message
    )


def edge_hit(
    age: int, cache_control: str | None = "max-age=3600", body: bytes = OLD
) -> ProbeResponse:
    extra = (("Cache-Control", cache_control),) if cache_control else ()
    return resp(body=body, headers=(*VARNISH_HIT, ("Age", str(age)), *extra))


def test_seed_scenario_cache_old_origin_new() -> None:
    found = diagnose(
        edge_hit(2940), resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer) == (Status.STALE, "cache")
    assert found.sentence == (
        "The cache (Varnish) served the old file (Age 2,940 s of max-age 3,600 s) while the "
        "origin has the new one: purge /statistics/fatalquarterly.xlsx or wait 660 s — it is "
        "fresh in the cache until 10:31:12 unless purged."
    )
    assert found.cache["product"] == "varnish" and found.cache["age"] == 2940
    assert found.freshness is not None and found.freshness.remaining_s == 660


def test_origin_also_old_means_upload_did_not_happen() -> None:
    found = diagnose(
        edge_hit(30), resp(ORIGIN, OLD), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer) == (Status.STALE, "origin")
    assert found.sentence == (
        "The origin web server also serves the old file, so the upload did not happen or went to "
        "the wrong place, or the web server still serves a copy of the old file it holds "
        "(nginx's open_file_cache, or a network drive's cache, keeps one for up to a minute): "
        "check the target, and if the new file is there, ask IT to reload the web server."
    )


def test_busted_fetch_stands_in_for_the_origin() -> None:
    busted = resp(URL + "?onthedot=1", NEW)
    found = diagnose(
        edge_hit(10), None, busted, expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert found.layer == "cache" and "while the site, asked past its cache, has the new one" in found.sentence


BEFORE = RELEASE - dt.timedelta(minutes=5)
# (edge, behind the cache, now): every sentence that speaks of the layer behind the cache
LAYER_CASES = {
    "stale, old behind too": (edge_hit(10), resp(body=OLD), NOW),
    "stale, new behind": (edge_hit(10), resp(body=NEW), NOW),
    "missing at the edge, new behind": (resp(status=404, body=b""), resp(body=NEW), NOW),
    "missing behind too": (resp(status=404, body=b""), resp(status=404, body=b""), NOW),
    "early": (resp(body=NEW), resp(body=NEW), BEFORE),
    "refused both": (resp(status=403, body=b""), resp(status=403, body=b""), NOW),
    "edge fails, behind answers": (resp(status=503, body=b""), resp(body=NEW), NOW),
    "both fail": (resp(status=503, body=b""), resp(status=502, body=b""), NOW),
}


@pytest.mark.parametrize(("edge", "behind", "now"), LAYER_CASES.values(), ids=LAYER_CASES)
def test_a_diagnosis_names_only_the_layers_that_exist(
    edge: ProbeResponse, behind: ProbeResponse, now: dt.datetime
) -> None:
    """No origin configured: what stands for it is the public address with a cache-busting query,
    and the sentence says so instead of speaking of an origin web server."""
    busted = diagnose(edge, None, behind, expected_sha256=NEW_SHA, release_at=RELEASE, now=now)
    assert "origin" not in busted.sentence.lower() and "asked past its cache" in busted.sentence
    configured = diagnose(edge, behind, None, expected_sha256=NEW_SHA, release_at=RELEASE, now=now)
    assert "the origin" in configured.sentence.lower() and "past its cache" not in configured.sentence
    assert (busted.status, busted.layer) == (configured.status, configured.layer)


def test_default_ttl_and_outlived_lifetimes_are_explained() -> None:
    default = diagnose(
        edge_hit(100, None), resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert "(Age 100 s of the default TTL 120 s)" in default.sentence
    assert "wait 20 s" in default.sentence
    outlived = diagnose(
        edge_hit(4000), resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert outlived.status is Status.STALE
    assert "outlived what its headers allow" in outlived.sentence
    configured = diagnose(
        edge_hit(100, None),
        resp(ORIGIN, NEW),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
        models={"varnish": Varnish(default_ttl=3600)},
    )
    assert "of the default TTL 3,600 s" in configured.sentence


def test_without_origin() -> None:
    cached = diagnose(edge_hit(50), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert (cached.status, cached.layer) == (Status.STALE, "cache")
    assert cached.sentence.startswith("The cache (Varnish) served the old file (Age 50 s")
    plain = diagnose(resp(), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert (plain.status, plain.layer) == (Status.STALE, None)
    assert "nothing shows it came from a cache" in plain.sentence


def test_live() -> None:
    found = diagnose(
        edge_hit(5, body=NEW),
        resp(ORIGIN, NEW),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert (found.status, found.layer) == (Status.LIVE, None)
    assert found.sentence == "The new version is live (served by Varnish, Age 5 s)."


def test_before_release() -> None:
    before = RELEASE - dt.timedelta(minutes=10)
    early = diagnose(
        resp(body=NEW), resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=before
    )
    assert (early.status, early.layer) == (Status.EARLY, "origin")
    assert "public before the release time 09:30:00" in early.sentence
    waiting = diagnose(
        edge_hit(60), resp(ORIGIN, OLD), expected_sha256=NEW_SHA, release_at=RELEASE, now=before
    )
    assert waiting.status is Status.EMBARGOED
    assert waiting.sentence == (
        "The new version is not public yet, as it should be before 09:30:00, but Varnish keeps "
        "the old copy until 10:19:10 (49 min after release) unless purged at 09:30:00."
    )
    unpublished = diagnose(
        resp(status=404, body=b""), expected_sha256=NEW_SHA, release_at=RELEASE, now=before
    )
    assert unpublished.status is Status.EMBARGOED


def test_missing() -> None:
    gone = resp(status=404, body=b"")
    at_origin = diagnose(
        gone, resp(ORIGIN, b"", status=404), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (at_origin.status, at_origin.layer) == (Status.MISSING, "origin")
    assert "does not have /statistics/fatalquarterly.xlsx either (404 Not Found)" in (
        at_origin.sentence
    )
    cached_404 = diagnose(
        resp(status=404, body=b"", headers=VARNISH_HIT),
        resp(ORIGIN, NEW),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert (cached_404.status, cached_404.layer) == (Status.MISSING, "cache")
    assert cached_404.sentence.startswith("The cache (Varnish) served 404 Not Found")


def test_soft_404() -> None:
    page = b"<html><head><title>Page not found - HSE</title></head><body>Sorry</body></html>"
    edge = resp(URL.replace(".xlsx", ".htm"), page, expect_text="April to September 2019")
    found = diagnose(edge, expect_text="April to September 2019", release_at=RELEASE, now=NOW)
    assert found.status is Status.MISSING
    assert "a 200 page saying it was not found" in found.sentence
    ordinary = resp(
        URL.replace(".xlsx", ".htm"),
        b"<title>Fatal injuries</title> April to June",
        expect_text="April to September 2019",
    )
    assert (
        diagnose(
            ordinary, expect_text="April to September 2019", release_at=RELEASE, now=NOW
        ).status
        is Status.STALE
    )


def test_errors() -> None:
    timeout = resp(
        status=None,
        failure="timeout",
        body=b"",
        message="www.example.org did not answer within 10 s.",
    )
    found = diagnose(
        timeout, resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer) == (Status.ERROR, "cache")
    assert found.sentence.startswith("www.example.org did not answer within 10 s, while the origin")
    bad_gateway = diagnose(
        resp(status=503, body=b""),
        resp(ORIGIN, b"", status=503),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert (bad_gateway.status, bad_gateway.layer) == (Status.ERROR, "origin")
    with pytest.raises(InputError):
        diagnose(resp(), release_at=RELEASE, now=NOW)


def test_linked_files() -> None:
    page = """<html><head><base href="/statistics/"></head><body>
      <a href="fatalquarterly.xlsx">Tables</a> <a href="fatalquarterly.xlsx#sheet2">again</a>
      <a href="/statistics/data.ODS?v=2">ODS</a> <a href="notes.pdf">PDF</a>
      <a href="https://other.example.com/x.csv">elsewhere</a> <a href="page.htm">page</a>
      <area href="map.zip"> <a>no href</a> <a href="mailto:x@example.org">mail</a></body></html>"""
    assert linked_files("https://www.example.org/statistics/fatals.htm", page) == [
        "https://www.example.org/statistics/fatalquarterly.xlsx",
        "https://www.example.org/statistics/data.ODS?v=2",
        "https://www.example.org/statistics/notes.pdf",
        "https://www.example.org/statistics/map.zip",
    ]


@pytest.mark.services
async def test_seed_scenario_through_real_varnish(
    webroot: Path, origin: NginxServer, varnish: VarnishServer
) -> None:
    """Origin has the new file, Varnish (1-hour default TTL, no purge) still serves the old."""
    file = webroot / "statistics" / "fatalquarterly.xlsx"
    file.parent.mkdir()
    file.write_bytes(OLD)
    edge_url = f"{varnish.url}/statistics/fatalquarterly.xlsx"
    origin_url = f"{origin.url}/statistics/fatalquarterly.xlsx"
    async with Prober(CurlTransport()) as prober:
        await prober.fetch(ProbeRequest(edge_url))
        await asyncio.sleep(1.1)
        file.write_bytes(NEW)
        edge, at_origin = await prober.fetch_many(
            [ProbeRequest(edge_url), ProbeRequest(origin_url)]
        )
    now = dt.datetime.now(dt.UTC)
    found = diagnose(
        edge,
        at_origin,
        expected_sha256=NEW_SHA,
        release_at=now - dt.timedelta(seconds=1),
        now=now,
        models={"varnish": Varnish(default_ttl=3600)},
    )
    assert (found.status, found.layer) == (Status.STALE, "cache")
    assert found.sentence.startswith("The cache (Varnish) served the old file (Age ")
    assert "of the default TTL 3,600 s) while the origin has the new one" in found.sentence
    assert "fresh in the cache until" in found.sentence
    assert found.freshness is not None and 3590 < found.freshness.remaining_s < 3600


ETAG = ("ETag", '"5df9e3a2-b"')


@pytest.mark.parametrize(
    ("validator", "said"),
    [
        (ETAG, 'the same ETag ("5df9e3a2-b") as the old one'),
        (
            ("Last-Modified", "Wed, 18 Dec 2019 08:02:10 GMT"),
            "the same Last-Modified time (08:02:10) as the old one",
        ),
    ],
    ids=["etag", "last-modified"],
)
def test_a_new_file_labelled_as_the_old_one_is_named_as_the_reason(
    validator: tuple[str, str], said: str
) -> None:
    """Behind the cache the new file has the old copy's validator: a cache or browser that
    revalidates its copy keeps it (304 Not Modified), so purging once may not be the end."""
    edge = resp(body=OLD, headers=(*VARNISH_HIT, ("Age", "3"), ("Cache-Control", "max-age=3600"), validator))
    found = diagnose(
        edge, resp(ORIGIN, NEW, headers=(validator,)), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer) == (Status.STALE, "cache")
    assert found.sentence == (
        "The cache (Varnish) served the old file (Age 3 s of max-age 3,600 s) while the origin "
        f"has the new one: purge /statistics/fatalquarterly.xlsx — the origin gives the new file {said}, "
        "so a cache or browser that asks whether its copy has changed is told it has not: ask IT "
        "to upload the file again, so that its modification time is later."
    )



def test_a_look_behind_the_cache_that_broke_off_names_no_shared_validator() -> None:
    """The answer behind the cache came with the old copy's ETag, then broke off: nobody knows it
    is the new file, so nothing is said of its label."""
    edge = resp(body=OLD, headers=(*VARNISH_HIT, ("Age", "3"), ("Cache-Control", "max-age=3600"), ETAG))
    broken = resp(URL + "?onthedot=1", NEW, headers=(ETAG,), failure="timeout", message="Timed out.")
    found = diagnose(edge, None, broken, expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert found.layer == "cache" and "ETag" not in found.sentence


LAST_MODIFIED = ("Last-Modified", "Wed, 18 Dec 2019 08:02:10 GMT")
ANOTHER_TIME = ("Last-Modified", "Wed, 18 Dec 2019 08:02:11 GMT")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ((ETAG,), (("ETag", '"5df9e3a3-b"'),)),  # another ETag
        ((ETAG, LAST_MODIFIED), (LAST_MODIFIED,)),  # an ETag the origin cannot match
        ((LAST_MODIFIED,), (ETAG, LAST_MODIFIED)),  # (and the other way round)
        ((LAST_MODIFIED,), (ANOTHER_TIME,)),  # another time
        ((), ()),  # no validators at all
    ],
    ids=["other-etag", "etag-at-the-edge-only", "etag-at-the-origin-only", "other-time", "none"],
)
def test_validators_that_tell_the_versions_apart_leave_the_sentence_as_it_was(
    ours: tuple[tuple[str, str], ...], theirs: tuple[tuple[str, str], ...]
) -> None:
    """A revalidation gets the new file when the ETags differ, when only one side has an ETag
    (a cache sends If-None-Match, which a server without ETags cannot match), or, without
    ETags, when the times differ: the sentence is the usual one."""
    edge = resp(body=OLD, headers=(*VARNISH_HIT, ("Age", "3"), ("Cache-Control", "max-age=3600"), *ours))
    found = diagnose(edge, resp(ORIGIN, NEW, headers=theirs), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert found.sentence == (
        "The cache (Varnish) served the old file (Age 3 s of max-age 3,600 s) while the origin "
        "has the new one: purge /statistics/fatalquarterly.xlsx or wait 3,597 s — it is fresh in "
        "the cache until 11:20:09 unless purged."
    )


@pytest.mark.services
async def test_a_cache_revalidating_its_old_copy_is_told_it_has_not_changed_and_says_why(
    webroot: Path, origin: NginxServer, start_server: StartServer
) -> None:
    """Varnish keeps what it fetched for 1 s, then asks nginx whether it changed: the new file
    has the old one's size and modification time, so nginx's ETag is the same, it answers 304
    Not Modified, and the old file is served again. The diagnosis names the shared ETag."""
    keep = "sub vcl_backend_response { set beresp.ttl = 1s; set beresp.grace = 0s; set beresp.keep = 1h; }"
    varnish = start_server(VarnishServer(origin.host, origin.port, vcl_extra=keep))
    file = webroot / "statistics" / "fatalquarterly.xlsx"
    file.parent.mkdir()
    file.write_bytes(OLD)
    written = file.stat().st_mtime_ns
    edge_url = f"{varnish.url}/statistics/fatalquarterly.xlsx"
    origin_url = f"{origin.url}/statistics/fatalquarterly.xlsx"
    async with Prober(CurlTransport()) as prober:
        await prober.fetch(ProbeRequest(edge_url))
        file.write_bytes(NEW)  # the same size (and, below, the same modification time)
        os.utime(file, ns=(written, written))
        await asyncio.sleep(1.5)
        edge, at_origin = await prober.fetch_many([ProbeRequest(edge_url), ProbeRequest(origin_url)])
    now = dt.datetime.now(dt.UTC)
    found = diagnose(
        edge, at_origin, expected_sha256=NEW_SHA, release_at=now - dt.timedelta(seconds=1), now=now
    )
    assert edge.sha256 == hashlib.sha256(OLD).hexdigest() and at_origin.sha256 == NEW_SHA
    assert (found.status, found.layer) == (Status.STALE, "cache")
    assert "the origin gives the new file the same ETag (" in found.sentence


def test_forbidden_is_an_error_not_an_old_version() -> None:
    from onthedot.testing import mock_response
    from onthedot.verify.probe import ProbeRequest

    t = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    edge = mock_response(ProbeRequest("https://www.example.org/statistics/x.xlsx"), status=403, body=b"AccessDenied")
    origin = mock_response(ProbeRequest("http://origin/statistics/x.xlsx"), status=403, body=b"AccessDenied")
    after = diagnose(edge, origin, expected_sha256="a" * 64, release_at=t, now=t + dt.timedelta(seconds=1))
    assert (after.status, after.layer) == (Status.ERROR, "origin")
    assert "HTTP 403" in after.sentence and "permissions" in after.sentence
    before = diagnose(edge, origin, expected_sha256="a" * 64, release_at=t, now=t - dt.timedelta(seconds=1))
    assert before.status == Status.EMBARGOED


def test_results_share_nothing_mutable() -> None:
    """Parsed headers are remembered between results; what each result hands out is its own."""
    one, two = (
        diagnose(
            edge_hit(30, "max-age=60, public"), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
        )
        for _ in range(2)
    )
    assert one.cache == two.cache
    one.cache["cache_control"]["max-age"] = "0"
    one.cache["headers"]["age"] = "0"
    one.cache["freshness"]["stored"] = False
    assert two.cache["cache_control"] == {"max-age": "60", "public": None}
    assert two.cache["headers"]["age"] == "30" and two.cache["freshness"]["stored"] is True
    three = diagnose(
        edge_hit(30, "max-age=60, public"), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert three.cache == two.cache and three.sentence == two.sentence
