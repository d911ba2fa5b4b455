"""Each cache product's model, case by case: how long it keeps a response, why, and how sure we
are (the note and ``certain`` a statistician sees in a diagnosis), without running the product."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.verify.caches import (
    Akamai,
    BrowserCache,
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
MISS, HIT = ("X-Varnish", "5"), ("X-Varnish", "5 3")
AT_PLUS_600 = f"@{int(NOW.timestamp()) + 600}"
AT_MINUS_600 = f"@{int(NOW.timestamp()) - 600}"


def accel(value: str) -> tuple[str, str]:
    return ("X-Accel-Expires", value)


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
    (
        Varnish(),
        [("Set-Cookie", "a=b"), DATE],
        None,
        Lifetime(
            0, "none", stored=False, note="Varnish does not cache responses that set a cookie"
        ),
    ),
    (
        Varnish(),
        [("Vary", "*"), DATE],
        None,
        Lifetime(0, "none", stored=False, note="Varnish does not cache responses with Vary: *"),
    ),
    (
        Varnish(),
        [("Vary", "Accept-Encoding"), cc("max-age=600"), DATE],
        None,
        Lifetime(600, "max-age"),
    ),
    (
        Varnish(),
        [("Surrogate-Control", "no-store"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Varnish does not cache responses with Surrogate-Control: no-store",
        ),
    ),
    (
        Varnish(),
        [("Surrogate-Control", "max-age=600"), cc("private, max-age=600"), DATE],
        None,
        Lifetime(600, "max-age"),
    ),
    (
        Varnish(),
        [cc("private"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Varnish passes responses marked no-cache, no-store or private to the origin",
        ),
    ),
    (
        Varnish(),
        [MISS, ("Age", "100"), cc("max-age=100"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Varnish does not cache a response whose max-age is already used up",
        ),
    ),
    (Varnish(), [MISS, ("Age", "99"), cc("max-age=100"), DATE], None, Lifetime(100, "max-age")),
    (Varnish(), [HIT, ("Age", "100"), cc("max-age=100"), DATE], None, Lifetime(100, "max-age")),
    (Varnish(), [HIT, ("Age", "5"), cc("max-age=1"), DATE], None, Lifetime(1, "max-age")),
    (Varnish(), [MISS, cc("max-age=1"), DATE], None, Lifetime(1, "max-age")),
    (Varnish(), [cc("s-maxage=600, max-age=60"), DATE], None, Lifetime(600, "s-maxage")),
    (
        Varnish(),
        [("Expires", "0"), DATE],
        None,
        Lifetime(120, "product-default", certain=False, note="Varnish's default_ttl (120 s)"),
    ),
    (
        Varnish(),
        [("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"), DATE],
        None,
        Lifetime(120, "product-default", certain=False, note="Varnish's default_ttl (120 s)"),
    ),
    (
        Varnish(),
        [("Expires", "Thu, 01 Jan 1970 00:00:01 GMT"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="Varnish does not cache a response whose expires is already used up",
        ),
    ),
    (Varnish(), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (
        Nginx(valid=600),
        [("Set-Cookie", "a=b"), DATE],
        None,
        Lifetime(0, "none", stored=False, note="nginx does not cache responses that set a cookie"),
    ),
    (
        Nginx(valid=600),
        [("Vary", "*"), DATE],
        None,
        Lifetime(0, "none", stored=False, note="nginx does not cache responses with Vary: *"),
    ),
    *(
        (
            Nginx(valid=600),
            [cc(directive), DATE],
            None,
            Lifetime(
                0,
                "none",
                stored=False,
                note="nginx does not cache responses marked no-cache, no-store or private",
            ),
        )
        for directive in ("no-cache", "no-store", "private")
    ),
    (Nginx(valid=600), [cc("s-maxage=60, max-age=0"), DATE], None, Lifetime(60, "s-maxage")),
    (
        Nginx(valid=600),
        [accel(" 0 "), DATE],
        None,
        Lifetime(
            0, "none", stored=False, note="nginx does not cache responses with X-Accel-Expires: 0"
        ),
    ),
    (Nginx(valid=600), [accel(AT_PLUS_600), DATE], None, Lifetime(600, "x-accel-expires")),
    (Nginx(valid=600), [accel(AT_PLUS_600)], None, Lifetime(600, "x-accel-expires")),
    (Nginx(valid=600), [accel(AT_MINUS_600), DATE], None, Lifetime(0, "x-accel-expires")),
    (Nginx(valid=600), [accel("x600"), cc("max-age=60"), DATE], None, Lifetime(60, "max-age")),
    (Nginx(valid=600), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (
        CacheModel(),
        [cc("no-store"), DATE],
        None,
        Lifetime(0, "none", stored=False, note="the response says Cache-Control: no-store"),
    ),
    (
        CacheModel(),
        [cc("private, max-age=600"), DATE],
        None,
        Lifetime(
            0,
            "none",
            stored=False,
            note="the response says Cache-Control: private, which shared caches must not store",
        ),
    ),
    (CacheModel(), [cc('private="Set-Cookie", max-age=600'), DATE], None, Lifetime(600, "max-age")),
    (
        CacheModel(),
        [cc("no-cache, max-age=3600"), DATE],
        None,
        Lifetime(0, "max-age", note="no-cache: it asks the origin every time"),
    ),
    (
        CacheModel(),
        [DATE],
        None,
        Lifetime(0, "none", note="no freshness information: it asks the origin again"),
    ),
    (
        CacheModel(),
        [TEN_DAYS_AGO, DATE],
        None,
        Lifetime(86400, "heuristic", note="10 % of the time since Last-Modified"),
    ),
    (
        CacheModel(),
        [lm(days=10)],
        None,
        Lifetime(86400, "heuristic", note="10 % of the time since Last-Modified"),
    ),
    (
        CacheModel(),
        [lm(days=0), DATE],
        None,
        Lifetime(0, "heuristic", note="10 % of the time since Last-Modified"),
    ),
    (
        CacheModel(),
        [("Expires", "0"), DATE],
        None,
        Lifetime(0, "expires", note="an invalid Expires means already expired"),
    ),
    (CacheModel(), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (CacheModel(), [cc("s-maxage=0, max-age=600"), DATE], None, Lifetime(0, "s-maxage")),
    (BrowserCache(), [cc("private, max-age=600"), DATE], None, Lifetime(600, "max-age")),
    (BrowserCache(), [cc("s-maxage=600, max-age=60"), DATE], None, Lifetime(60, "max-age")),
    (BrowserCache(), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (Nginx(valid=600), [accel("@5"), cc("max-age=60"), DATE], None, Lifetime(0, "x-accel-expires")),
    (
        Nginx(valid=600),
        [cc("max-age=0"), DATE],
        None,
        Lifetime(0, "none", stored=False, note="nginx does not cache responses with max-age=0"),
    ),
    (Varnish(), [cc("s-maxage=600"), DATE], None, Lifetime(600, "s-maxage")),
    (Fastly(), [cc("s-maxage=600"), DATE], None, Lifetime(600, "s-maxage")),
    (Fastly(), [IN_TEN_MINUTES], None, Lifetime(600, "expires")),
    (
        Squid(patterns=(RefreshPattern("^/Stats/", 5, 0, 5), RefreshPattern(".", 0, 20, 4320))),
        [DATE],
        "/stats/x.xlsx",
        Lifetime(0, "none", certain=False, note="Squid's refresh_pattern . 0 20% 4320"),
    ),
]


@pytest.mark.parametrize(("model", "headers", "url", "lifetime"), CASES)
def test_each_product_keeps_a_response_as_documented(
    model: CacheModel, headers: list[tuple[str, str]], url: str | None, lifetime: Lifetime
) -> None:
    assert model.lifetime(recognise(headers), received=NOW, url=url) == lifetime
