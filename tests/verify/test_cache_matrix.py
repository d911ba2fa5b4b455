"""preflight's predictions against the real caches Debian packages, over a matrix of origin headers.

For each cache (Varnish, nginx proxy_cache, Squid, Apache Traffic Server) in front of the nginx
origin: fetch every case once (fill), replace the file at the origin (the release), fetch again.
Whether the cache still serves the old bytes must be what ``predict`` said from the first
response's headers ("stale-after-T" exactly when the old file is still served).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable
from email.utils import format_datetime
from pathlib import Path

import pytest

from onthedot.verify.caches import CacheModel, Nginx, Squid, TrafficServer, Varnish
from onthedot.verify.caches.info import recognise
from onthedot.verify.preflight import predict
from onthedot.verify.probe import Prober, ProbeRequest
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx as NginxServer

pytestmark = pytest.mark.services

IN_AN_HOUR = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), usegmt=True)
CASES: dict[str, dict[str, str]] = {
    "max-age": {"Cache-Control": "max-age=3600"},
    "s-maxage": {"Cache-Control": "s-maxage=600, max-age=60"},
    "heuristic": {},  # no caching headers, Last-Modified 10 days ago
    "fresh-file": {},  # no caching headers, Last-Modified just now
    "expires": {"Expires": IN_AN_HOUR},
    "no-store": {"Cache-Control": "no-store"},
    "no-cache": {"Cache-Control": "no-cache"},
    "immutable": {"Cache-Control": "max-age=31536000, immutable"},
    "browser-only": {"Cache-Control": "s-maxage=0, max-age=3600"},
    "private": {"Cache-Control": "private, max-age=3600"},
    "epoch": {"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"},
    "expired": {"Expires": "Sun, 06 Nov 1994 08:49:37 GMT"},
    "invalid-expires": {"Expires": "0"},
}
WAIT_S = 2.1  # between filling the caches and replacing the files at the origin
# what the fixtures in tests/servers/plugin.py configure
CACHES: dict[str, tuple[str, CacheModel]] = {
    "varnish": ("varnish", Varnish(default_ttl=3600, configured=True)),
    "nginx_cache": ("nginx", Nginx(valid=600, configured=True)),
    "squid_cache": ("squid", Squid(configured=True)),
    "ats_cache": ("ats", TrafficServer(configured=True)),
}
RECOGNISED = {
    "varnish": "varnish",
    "nginx_cache": "nginx",
    "squid_cache": "squid",
    "ats_cache": "ats",
}


def _path(case: str) -> str:
    return f"/{case}/fatalquarterly.xlsx"


@pytest.fixture
def origin(webroot: Path, start_server: Callable[[NginxServer], NginxServer]) -> NginxServer:
    """The nginx origin with one location per header case (overrides the plugin's ``origin``)."""
    ten_days_ago = time.time() - 10 * 86400
    for case in CASES:
        file = webroot / _path(case).lstrip("/")
        file.parent.mkdir(parents=True)
        file.write_bytes(b"old quarterly figures " + case.encode())
        if case != "fresh-file":
            os.utime(file, (ten_days_ago, ten_days_ago))
    headers = {f"/{case}/": values for case, values in CASES.items() if values}
    return start_server(NginxServer(webroot, headers=headers))


@pytest.mark.parametrize("cache_fixture", list(CACHES))
async def test_prediction_matches_the_real_cache(
    cache_fixture: str, request: pytest.FixtureRequest, webroot: Path
) -> None:
    cache = request.getfixturevalue(cache_fixture)
    product, model = CACHES[cache_fixture]
    # "just now" is measured from the fill, not from a fixture set-up that may be slow under load:
    # 2 s old gives a heuristic lifetime of about 0.2 × 2 s, well inside the wait below
    just_now = time.time() - 2
    os.utime(webroot / _path("fresh-file").lstrip("/"), (just_now, just_now))
    async with Prober(CurlTransport()) as prober:
        fills = await prober.fetch_many([ProbeRequest(cache.url + _path(c)) for c in CASES])
        await prober.fetch_many([ProbeRequest(cache.url + _path(c)) for c in CASES])
        await asyncio.sleep(WAIT_S)  # Squid counts age in whole seconds: age 0 is always fresh
        released = dt.datetime.now(dt.UTC)
        for case in CASES:
            (webroot / _path(case).lstrip("/")).write_bytes(
                b"new quarterly figures " + case.encode()
            )
        after = await prober.fetch_many([ProbeRequest(cache.url + _path(c)) for c in CASES])

    outcomes = {}
    for case, fill, later in zip(CASES, fills, after, strict=True):
        assert fill.http_status == 200 and later.http_status == 200, (case, fill.message)
        assert recognise(fill.headers).product == RECOGNISED[cache_fixture]
        old = hashlib.sha256(b"old quarterly figures " + case.encode()).hexdigest()
        prediction = predict(
            fill.headers,
            released,
            released,
            purgers_configured=False,
            product=product,
            product_defaults={product: model},
            tolerance_s=WAIT_S,  # the copies were filled this long before the "release"
            url=_path(case),
        )
        outcomes[case] = (prediction.risk, later.sha256 == old)
    expected = {
        case: ("stale-after-T", served_old) if served_old else ("none", False)
        for case, (_, served_old) in outcomes.items()
    }
    assert outcomes == expected, f"{cache_fixture}: predicted (risk, served old) per case"
    assert {risk for risk, _ in outcomes.values()} == {"none", "stale-after-T"}
    print(cache_fixture, {case: risk for case, (risk, _) in outcomes.items()})
