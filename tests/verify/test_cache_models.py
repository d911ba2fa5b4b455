"""Each cache product's model, case by case: how long it keeps a response, why, and how sure we
are (the note and ``certain`` a statistician sees in a diagnosis), without running the product."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.verify.caches import (
    Akamai,
    CacheModel,
    Cloudflare,
    CloudFront,
    Fastly,
    Lifetime,
    Nginx,
    RefreshPattern,
    Squid,
    TrafficServer,
    Varnish,
)
from onthedot.verify.caches.info import recognise
from tests.verify.test_freshness import DATE, NOW, TEN_DAYS_AGO, http


def lm(**ago: float) -> tuple[str, str]:
    return ("Last-Modified", http(NOW - dt.timedelta(**ago)))


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


IN_TEN_MINUTES = ("Expires", http(NOW + dt.timedelta(minutes=10)))
ATS_HEURISTIC = "Traffic Server's heuristic (0.1 × age of the file, 3,600–86,400 s)"

# (model, response headers, URL, the lifetime it gives); responses without Date were received at NOW
CASES: list[tuple[CacheModel, list[tuple[str, str]], str | None, Lifetime]] = [
    (
        Cloudflare(),
        [DATE],
        "/s/page.html",
        Lifetime(
            0,
            "none",
            stored=False,
            certain=False,
            note="Cloudflare does not cache this file type by default",
        ),
    ),
    (
        Cloudflare(),
        [DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            certain=False,
            note="Cloudflare does not cache this file type by default",
        ),
    ),
    (
        Cloudflare(configured=True),
        [DATE],
        "/s/fatal.2019.CSV",
        Lifetime(7200, "product-default", note="Cloudflare's default edge TTL (7,200 s)"),
    ),
    (
        Cloudflare(),
        [DATE],
        "/s/fatal.xlsx",
        Lifetime(
            7200, "product-default", certain=False, note="Cloudflare's default edge TTL (7,200 s)"
        ),
    ),
    (
        Fastly(),
        [DATE],
        None,
        Lifetime(3600, "product-default", certain=False, note="Fastly's default TTL (3,600 s)"),
    ),
    (
        Fastly(default_ttl=600, configured=True),
        [DATE],
        None,
        Lifetime(600, "product-default", note="Fastly's default TTL (600 s)"),
    ),
    (CloudFront(), [cc("max-age=600"), DATE], None, Lifetime(600, "max-age")),
    (
        CloudFront(min_ttl=120),
        [cc("max-age=10"), DATE],
        None,
        Lifetime(120, "max-age", certain=False),
    ),
    (
        CloudFront(min_ttl=120, configured=True),
        [cc("max-age=10"), DATE],
        None,
        Lifetime(120, "max-age"),
    ),
    (
        CloudFront(max_ttl=300),
        [cc("s-maxage=600, max-age=60"), DATE],
        None,
        Lifetime(300, "s-maxage", certain=False),
    ),
    (CloudFront(), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (
        CloudFront(configured=True),
        [DATE],
        None,
        Lifetime(86400, "product-default", note="CloudFront's Default TTL (86,400 s)"),
    ),
    (
        Akamai(),
        [DATE],
        None,
        Lifetime(0, "none", certain=False, note="Akamai's caching rule for this path is not known"),
    ),
    (
        Akamai(default_ttl=600, configured=True),
        [DATE],
        None,
        Lifetime(600, "product-default", note="Akamai's caching rule (600 s)"),
    ),
    (
        Squid(),
        [TEN_DAYS_AGO, DATE],
        None,
        Lifetime(172800, "heuristic", certain=False, note="Squid's refresh_pattern . 0 20% 4320"),
    ),
    (
        Squid(configured=True),
        [lm(days=10)],
        "/s/x.xlsx",
        Lifetime(172800, "heuristic", note="Squid's refresh_pattern . 0 20% 4320"),
    ),
    (
        Squid(),
        [TEN_DAYS_AGO, DATE],
        "/CGI-BIN/report",
        Lifetime(
            0, "heuristic", certain=False, note="Squid's refresh_pattern (/cgi-bin/|\\?) 0 0% 0"
        ),
    ),
    (
        Squid(patterns=(RefreshPattern("^/$", 5, 0, 5),)),
        [DATE],
        None,
        Lifetime(300, "product-default", certain=False, note="Squid's refresh_pattern ^/$ 5 0% 5"),
    ),
    (
        Squid(patterns=(RefreshPattern("^ftp:", 1440, 20, 10080),)),
        [TEN_DAYS_AGO, DATE],
        "/x.xlsx",
        Lifetime(172800, "heuristic", certain=False, note="Squid's refresh_pattern . 0 20% 4320"),
    ),
    (
        Squid(patterns=(RefreshPattern(".", 5, 20, 60),)),
        [lm(minutes=10), DATE],
        None,
        Lifetime(300, "heuristic", certain=False, note="Squid's refresh_pattern . 5 20% 60"),
    ),
    (
        TrafficServer(),
        [TEN_DAYS_AGO, DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Traffic Server (required_headers 2) caches only responses with max-age or Expires",
        ),
    ),
    (
        TrafficServer(),
        [cc("private, max-age=600"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="the response says Cache-Control: private, which shared caches must not store",
        ),
    ),
    (TrafficServer(), [cc("max-age=600"), DATE], None, Lifetime(600, "max-age")),
    (TrafficServer(), [cc("s-maxage=600"), DATE], None, Lifetime(600, "s-maxage")),
    (
        TrafficServer(required_headers=1),
        [DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Traffic Server (required_headers 1) caches only responses with Last-Modified",
        ),
    ),
    (TrafficServer(required_headers=1), [cc("max-age=600"), DATE], None, Lifetime(600, "max-age")),
    (
        TrafficServer(required_headers=1),
        [TEN_DAYS_AGO, DATE],
        None,
        Lifetime(86400, "heuristic", certain=False, note=ATS_HEURISTIC),
    ),
    (
        TrafficServer(required_headers=0),
        [DATE],
        None,
        Lifetime(3600, "heuristic", certain=False, note=ATS_HEURISTIC),
    ),
    (
        TrafficServer(required_headers=0, configured=True),
        [lm(days=100), DATE],
        None,
        Lifetime(86400, "heuristic", note=ATS_HEURISTIC),
    ),
    (
        TrafficServer(required_headers=0, lm_factor=0.2),
        [lm(days=2)],
        None,
        Lifetime(
            34560,
            "heuristic",
            certain=False,
            note="Traffic Server's heuristic (0.2 × age of the file, 3,600–86,400 s)",
        ),
    ),
    (
        Varnish(),
        [DATE],
        None,
        Lifetime(120, "product-default", certain=False, note="Varnish's default_ttl (120 s)"),
    ),
    (
        Nginx(),
        [DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            certain=False,
            note="nginx caches it only if proxy_cache_valid is set",
        ),
    ),
    (
        Nginx(valid=600, configured=True),
        [DATE],
        None,
        Lifetime(600, "product-default", note="nginx's proxy_cache_valid (600 s)"),
    ),
]


@pytest.mark.parametrize(("model", "headers", "url", "lifetime"), CASES)
def test_each_product_keeps_a_response_as_documented(
    model: CacheModel, headers: list[tuple[str, str]], url: str | None, lifetime: Lifetime
) -> None:
    assert model.lifetime(recognise(headers), received=NOW, url=url) == lifetime
