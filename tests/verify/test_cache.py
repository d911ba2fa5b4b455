"""Cache-Control parsing (RFC 9111 §5.2), HTTP dates, RFC 9211 Cache-Status, vendor headers."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.verify.cache import (
    DELTA_MAX,
    parse_cache_control,
    parse_http_date,
    recognise,
)
from onthedot.verify.caches.headers import parse_cache_status, split_list

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=3600", {"max-age": "3600"}),
        ("Max-Age=60, PUBLIC", {"max-age": "60", "public": None}),
        ("s-maxage=600,max-age=60", {"s-maxage": "600", "max-age": "60"}),
        ('max-age="120"', {"max-age": "120"}),
        (
            'private="Set-Cookie, X-Foo", max-age=5',
            {"private": "Set-Cookie, X-Foo", "max-age": "5"},
        ),
        ('no-cache="a\\"b", no-store', {"no-cache": 'a"b', "no-store": None}),
        ("max-age=10, max-age=99999", {"max-age": "10"}),  # first occurrence wins (§4.2.1)
        (" , ,max-age=1,, ", {"max-age": "1"}),
        (
            "stale-while-revalidate=30, stale-if-error=86400",
            {"stale-while-revalidate": "30", "stale-if-error": "86400"},
        ),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_cache_control(value: str | None, expected: dict[str, str | None]) -> None:
    assert parse_cache_control(value) == expected


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=3600", 3600),
        ("max-age=-1", 0),  # invalid: treated as stale
        ("max-age=abc", 0),
        ("max-age", 0),
        ("max-age=99999999999999", DELTA_MAX),  # overflow: 2^31 (§1.2.2)
        ("public", None),
    ],
)
def test_delta_seconds(header: str, seconds: int | None) -> None:
    assert recognise([("Cache-Control", header)]).seconds("max-age") == seconds


def test_cache_control_lines_are_combined() -> None:
    info = recognise([("cache-control", "public"), ("Cache-Control", "max-age=7")])
    assert info.cache_control == {"public": None, "max-age": "7"}
    assert info.raw["cache-control"] == "public, max-age=7"


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
    ],
)
def test_http_date_formats(value: str) -> None:
    assert parse_http_date(value) == dt.datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


def test_invalid_expires_means_expired() -> None:
    info = recognise([("Expires", "0"), ("Date", "Sun, 06 Nov 1994 08:49:37 GMT")])
    assert info.expires is None and info.expires_invalid
    assert recognise([("Expires", "Sun, 06 Nov 1994 09:49:37 GMT")]).expires_invalid is False


def test_cache_status_rfc9211() -> None:
    entries = parse_cache_status(
        'OriginCache; hit; ttl=1100, "CDN Company Here"; fwd=uri-miss; stored'
    )
    assert [e.cache for e in entries] == ["OriginCache", "CDN Company Here"]
    assert entries[0].hit and entries[0].ttl == 1100
    assert not entries[1].hit and entries[1].fwd == "uri-miss" and entries[1].stored


def test_split_list_keeps_quoted_commas() -> None:
    assert split_list('a, "b, c", d') == ["a", '"b, c"', "d"]


VENDORS = [
    # (headers, product, hit, hits)
    (
        [
            ("X-Cache", "Hit from cloudfront"),
            ("Via", "1.1 abc.cloudfront.net (CloudFront)"),
            ("X-Amz-Cf-Pop", "LHR61-P1"),
        ],
        "cloudfront",
        True,
        None,
    ),
    ([("X-Cache", "Miss from cloudfront")], "cloudfront", False, None),
    ([("X-Cache", "RefreshHit from cloudfront")], "cloudfront", True, None),
    ([("CF-Cache-Status", "HIT"), ("CF-RAY", "8a1b-LHR")], "cloudflare", True, None),
    ([("CF-Cache-Status", "EXPIRED")], "cloudflare", False, None),
    ([("CF-Cache-Status", "DYNAMIC")], "cloudflare", False, None),
    (
        [
            ("X-Served-By", "cache-lhr7321-LHR, cache-lcy19221-LCY"),
            ("X-Cache", "MISS, HIT"),
            ("X-Cache-Hits", "0, 3"),
            ("Via", "1.1 varnish, 1.1 varnish"),
        ],
        "fastly",
        True,
        3,
    ),
    ([("Cache-Status", "ExampleCache; hit; ttl=30")], None, True, None),
    ([("Cache-Status", "Nginx; fwd=miss; stored")], "nginx", False, None),
    ([("Cache-Status", "varnish; fwd=stale, squid; hit; ttl=12")], "squid", True, None),
    (
        [("X-Varnish", "32770 3"), ("Age", "100"), ("Via", "1.1 varnish (Varnish/7.1)")],
        "varnish",
        True,
        None,
    ),
    (
        [("X-Varnish", "32770"), ("Age", "0"), ("Via", "1.1 varnish (Varnish/7.1)")],
        "varnish",
        False,
        None,
    ),
    (
        [("X-Cache", "HIT from onthedot-squid"), ("Via", "1.1 onthedot-squid (squid/5.7)")],
        "squid",
        True,
        None,
    ),
    (
        [
            ("X-Cache", "MISS from onthedot-squid"),
            ("X-Cache-Lookup", "MISS from onthedot-squid:3128"),
        ],
        "squid",
        False,
        None,
    ),
    (
        [("Via", "http/1.1 onthedot[7F000001] (ApacheTrafficServer/9.2.5 [cHs f ])"), ("Age", "3")],
        "ats",
        True,
        None,
    ),
    (
        [("Via", "http/1.1 onthedot[7F000001] (ApacheTrafficServer/9.2.5 [cMsSf ])")],
        "ats",
        False,
        None,
    ),
    ([("Server", "ATS/9.2.5"), ("Age", "0")], "ats", None, None),
    (
        [("X-Cache", "TCP_MEM_HIT from a23-1-2-3.deploy.akamaitechnologies.com (AkamaiGHost/22)")],
        "akamai",
        True,
        None,
    ),
    ([("X-Cache-Status", "HIT")], "nginx", True, None),
    ([("X-Cache-Status", "EXPIRED")], "nginx", False, None),
    ([("Age", "40")], None, True, None),
    ([("Server", "nginx/1.22.1")], None, None, None),
]


@pytest.mark.parametrize(("headers", "product", "hit", "hits"), VENDORS)
def test_recognise_vendor_headers(
    headers: list[tuple[str, str]], product: str | None, hit: bool | None, hits: int | None
) -> None:
    info = recognise(headers)
    assert (info.product, info.hit, info.hits) == (product, hit, hits)


def test_as_dict_is_the_headers_that_matter() -> None:
    info = recognise(
        [
            ("Age", "2940"),
            ("Cache-Control", "max-age=3600"),
            ("ETag", '"abc"'),
            ("Last-Modified", "Wed, 18 Dec 2019 09:00:00 GMT"),
            ("X-Served-By", "cache-lhr1-LHR"),
            ("Content-Length", "10"),
            ("Set-Cookie", "secret=1"),
        ]
    )
    shown = info.as_dict()
    assert shown["age"] == 2940 and shown["cache_control"] == {"max-age": "3600"}
    assert shown["etag"] == '"abc"' and shown["served_by"] == "cache-lhr1-LHR"
    assert shown["last_modified"] == "2019-12-18T09:00:00+00:00"
    assert "content-length" not in shown["headers"] and "set-cookie" not in shown["headers"]
    assert info.sets_cookie


def test_vary_and_ttl() -> None:
    info = recognise([("Vary", "Accept-Encoding, Cookie"), ("Cache-Status", "X; hit; ttl=-5")])
    assert info.vary == ("accept-encoding", "cookie")
    assert info.ttl == -5
