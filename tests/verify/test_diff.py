"""diff: the caching behaviour of two environments for the same path (UAT vs live)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.diff import compare, diff, profile
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx as NginxServer
from tests.servers.varnish import Varnish as VarnishServer

LIVE = "https://www.example.org/statistics/fatalquarterly.xlsx"
UAT = "https://uat.example.org/statistics/fatalquarterly.xlsx"
ETAG = ("ETag", '"5df9d1a2-2a"')


async def no_sleep(seconds: float) -> None:
    return None


def site() -> MockProbeTransport:
    """LIVE: Varnish with max-age=3600, Age growing; UAT: the bare origin, gzip, no Cache-Control."""
    ages = itertools.count(40, 2)

    def answer(request: ProbeRequest) -> ProbeResponse:
        conditional = any(name == "If-None-Match" for name, _ in request.headers)
        if request.url == LIVE:
            age = next(ages)
            cached = (
                ("X-Varnish", "9 7"),
                ("Age", str(age)),
                ("Cache-Control", "max-age=3600"),
                ETAG,
                ("Vary", "Accept-Encoding"),
            )
            return mock_response(request, status=304 if conditional else 200, headers=cached)
        return mock_response(
            request, status=200, body=b"figures", headers=(ETAG, ("Content-Encoding", "gzip"))
        )

    return MockProbeTransport(answer)


async def test_profile_of_a_cached_environment() -> None:
    async with Prober(site()) as prober:
        seen = await profile(LIVE, prober, interval=5, sleep=no_sleep)
    assert seen.aspects["layer"] == "varnish (hit)"
    assert seen.aspects["age"] == "kept by a cache (Age 40 then 42)"
    assert seen.aspects["revalidation"] == "304 Not Modified"
    assert seen.aspects["freshness"] == "3,600 s (max-age)"


async def test_cached_live_versus_uncached_uat() -> None:
    async with Prober(site()) as prober:
        report = await diff(LIVE, UAT, prober, interval=5, sleep=no_sleep)
    shown = report.as_dict()
    assert shown["same"] is False and (shown["a"], shown["b"]) == (LIVE, UAT)
    differences = {d["aspect"]: d for d in shown["differences"]}
    assert set(differences) == {
        "layer",
        "age",
        "cache-control",
        "freshness",
        "revalidation",
        "vary",
        "compression",
    }
    assert differences["layer"]["b"] == "no cache seen"
    assert "cannot show up in the other" in differences["layer"]["why_it_matters"]
    assert differences["revalidation"]["b"] == "200 with the full body"
    assert differences["compression"]["b"] == "gzip"


async def test_same_environment_twice_is_the_same() -> None:
    async with Prober(site()) as prober:
        a = await profile(LIVE, prober, interval=1, sleep=no_sleep)
        b = await profile(LIVE, prober, interval=1, sleep=no_sleep)
    assert a.aspects["age"] != b.aspects["age"]  # different numbers, same behaviour
    assert compare(a, b) == ()


async def test_a_failing_environment() -> None:
    def answer(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, status=None, failure="connect", message="Refused.")

    async with Prober(MockProbeTransport(answer)) as prober:
        report = await diff(LIVE, UAT, prober, sleep=no_sleep)
    assert report.same  # both fail the same way
    assert (await profile(LIVE, prober, sleep=no_sleep)).aspects == {"status": "failed: Refused."}


@pytest.fixture
def files(webroot: Path) -> Path:
    (webroot / "statistics").mkdir()
    (webroot / "statistics" / "fatalquarterly.xlsx").write_bytes(b"figures" * 100)
    return webroot


@pytest.mark.services
async def test_real_cached_versus_uncached(
    files: Path, origin: NginxServer, varnish: VarnishServer
) -> None:
    path = "/statistics/fatalquarterly.xlsx"
    async with Prober(CurlTransport()) as prober:
        report = await diff(varnish.url + path, origin.url + path, prober, interval=1.1)
        same = await diff(origin.url + path, origin.url + path, prober, interval=0)
    aspects = {d.aspect: d for d in report.differences}
    assert not report.same
    assert aspects["layer"].a == "varnish (hit)" and aspects["layer"].b == "no cache seen"
    assert aspects["age"].a.startswith("kept by a cache (Age 0 then 1")
    assert aspects["age"].b == "no Age: not kept by a cache"
    assert same.same, same.differences
