"""Cache-Control parsing (RFC 9111 §5.2), HTTP dates, RFC 9211 Cache-Status, vendor headers."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import random
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, cast

import pytest

from onthedot.verify.caches.headers import (
    HeaderIndex,
    joined,
    parse_cache_status,
    split_list,
    values,
)
from onthedot.verify.caches.info import (
    DELTA_MAX,
    MATTERING,
    CacheInfo,
    parse_cache_control,
    parse_http_date,
    recognise,
)
from onthedot.verify.caches.vendors import (
    GUESS_READS,
    guess_hit,
    guess_hits,
    guess_key,
    guess_product,
)

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


# --- the memoised fast paths give exactly the answers of the plain parsers -----------------------


def reference_http_date(value: str | None) -> dt.datetime | None:
    """``parse_http_date`` as it was: email.utils for every value."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def reference_recognise(headers: list[tuple[str, str]]) -> CacheInfo:
    """``recognise`` as it was: every question asked of a HeaderIndex, nothing remembered."""
    index = HeaderIndex(headers)
    age_text = values(index, "age")[0] if values(index, "age") else None
    expires_text = values(index, "expires")[0] if values(index, "expires") else None
    expires = reference_http_date(expires_text)
    cache_status = parse_cache_status(joined(index, "cache-status"))
    age = int(age_text) if age_text and age_text.isdigit() else None
    raw: dict[str, str] = {}
    for key, value in headers:
        name = key.lower()
        if name in MATTERING:
            raw[name] = f"{raw[name]}, {value.strip()}" if name in raw else value.strip()
    served_by = None
    for name in ("x-served-by", "x-amz-cf-pop", "cf-ray", "x-cache-lookup"):
        if found := joined(index, name):
            served_by = found
            break

    def first(name: str) -> str | None:
        found = values(index, name)
        return found[0] if found else None

    return CacheInfo(
        product=guess_product(index, cache_status),
        hit=guess_hit(index, cache_status, age),
        hits=guess_hits(index),
        age=min(age, DELTA_MAX) if age is not None else None,
        cache_control=parse_cache_control(joined(index, "cache-control")),
        date=reference_http_date(first("date")),
        expires=expires,
        expires_invalid=expires_text is not None and expires is None,
        etag=first("etag"),
        last_modified=reference_http_date(first("last-modified")),
        served_by=served_by,
        via=joined(index, "via"),
        vary=tuple(v.lower() for v in split_list(joined(index, "vary") or "")),
        cache_status=cache_status,
        x_accel_expires=first("x-accel-expires"),
        sets_cookie=bool(values(index, "set-cookie")),
        raw=raw,
    )


T = dt.datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
POOL: dict[str, list[str]] = {
    "Age": ["0", "5", "4000", "", "abc", "-1", "99999999999999", " 7 "],
    "Cache-Control": [
        "max-age=60",
        "s-maxage=600, max-age=60",
        "no-cache",
        'private="Set-Cookie"',
        "public, max-age=7, stale-while-revalidate=30",
        "",
        "MAX-AGE=5",
    ],
    "Expires": ["0", format_datetime(T, usegmt=True), "garbage", "", "Thu Nov 26 10:00:00 2026"],
    "Date": [format_datetime(T + dt.timedelta(seconds=s), usegmt=True) for s in (-1, 0, 3)]
    + ["", "bad", "Thu, 31 Feb 2026 09:30:00 GMT", "Thu, 26 Nov 0094 09:30:00 GMT"],
    "Last-Modified": [
        format_datetime(T - dt.timedelta(days=3), usegmt=True),
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Thu, 26 Nov 2026 10:00:00 +0100",
        "",
    ],
    "ETag": ['"abc"', ""],
    "Via": [
        "1.1 varnish (Varnish/7.1)",
        "1.1 abc.cloudfront.net (CloudFront)",
        "1.1 onthedot-squid (squid/5.7)",
        "http/1.1 x[7F000001] (ApacheTrafficServer/9.2.5 [cHs f ])",
        "http/1.1 x (ApacheTrafficServer/9.2.5 [cMsSf ])",
        "",
    ],
    "X-Varnish": ["32770", "32770 3", "", " 1  2 ", "a b c"],
    "X-Cache": ["Hit from cloudfront", "MISS, HIT", "TCP_MEM_HIT from a (AkamaiGHost/22)", ""],
    "X-Cache-Hits": ["0, 3", "1", "", "x"],
    "X-Served-By": ["cache-lhr7321-LHR, cache-lcy19221-LCY", "cache-lhr1-LHR", ""],
    "CF-Cache-Status": ["HIT", "EXPIRED", "DYNAMIC", ""],
    "CF-RAY": ["8a1b-LHR", ""],
    "Cache-Status": ["ExampleCache; hit; ttl=30", "Nginx; fwd=miss; stored", "X; hit; ttl=-5", ""],
    "Server": ["nginx/1.22.1", "ATS/9.2.5", "cloudflare", "squid/5.7", "AkamaiGHost", ""],
    "X-Cache-Status": ["HIT", "BYPASS", ""],
    "X-Proxy-Cache": ["HIT", "MISS"],
    "X-Accel-Expires": ["0", "@1796000000", ""],
    "Surrogate-Control": ["max-age=600", "no-store"],
    "Vary": ["Accept-Encoding", "*", ""],
    "Set-Cookie": ["a=1"],
    "X-Amz-Cf-Id": ["abc==", ""],
    "X-Amz-Cf-Pop": ["LHR61-P1"],
    "X-Cache-Lookup": ["MISS from x:3128", ""],
    "Akamai-Cache-Status": ["Hit from child", "Miss from child"],
    "X-Akamai-Request-Id": ["1"],
    "X-Fastly-Request-Id": ["f00", ""],
    "Fastly-Debug-Digest": ["d"],
    "Content-Type": ["text/csv"],
}


def random_headers(rng: random.Random) -> list[tuple[str, str]]:
    """Any mix of the vendors' headers: odd case, padding, repeats, empty values."""
    headers: list[tuple[str, str]] = []
    for _ in range(rng.randrange(0, 10)):
        name = rng.choice(list(POOL))
        cased = rng.choice([name, name.lower(), name.upper()])
        value = rng.choice(POOL[name])
        headers.append((cased, f"  {value} " if rng.random() < 0.1 else value))
        if rng.random() < 0.15:
            headers.append((cased, rng.choice(POOL[name])))
    return headers


CORPUS = [random_headers(random.Random(seed)) for seed in range(3000)]


def test_recognise_is_the_plain_reading() -> None:
    """Same CacheInfo, same JSON (keys in the same order) as reading every header afresh."""
    for headers in CORPUS + [h for h, *_ in VENDORS]:
        want = reference_recognise(headers)
        got = recognise(headers)
        assert got == want, headers
        assert list(got.raw) == list(want.raw)
        assert got.as_dict() == want.as_dict() and list(got.as_dict()) == list(want.as_dict())


def test_header_index_answers_as_the_plain_pairs() -> None:
    for headers in CORPUS[:500]:
        index = HeaderIndex(headers)
        for name in POOL:
            assert joined(index, name) == joined(headers, name)
            assert joined(index, name) == joined(index, name.upper())  # remembered
            assert values(index, name) == values(headers, name)


IMF = [
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Thu, 26 Nov 2026 06:12:20 GMT",
    "Mon, 01 Jan 1000 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 26 Nov 0094 09:30:00 GMT",  # a "two-digit" year to email.utils: 1994
    "Thu, 26 Nov 0999 09:30:00 GMT",
    "Thu, 31 Feb 2026 09:30:00 GMT",
    "Thu, 26 Nov 2026 24:00:00 GMT",
    "Thu, 26 Nov 2026 23:59:60 GMT",
    "Thu, 00 Nov 2026 09:30:00 GMT",
    "Xyz, 26 Nov 2026 09:30:00 GMT",
    "thu, 26 nov 2026 09:30:00 gmt",
    "Thu, 26 Nov 2026 09:30:00 UTC",
    "Thu, 26 Nov 2026 09:30:00 +0100",
    "Thu, 26 Nov 2026 09:30:00 -0000",
    "Thu, 26 Nov 2026 09:30:00",
    "Thu,26 Nov 2026 09:30:00 GMT",
    "Thu, 6 Nov 2026 09:30:00 GMT",
    "  Thu, 26 Nov 2026 09:30:00 GMT  ",
    "Thu, 26 Nov 2026 09:30 GMT",
    "Thursday, 26-Nov-26 09:30:00 GMT",
    "Thu Nov 26 09:30:00 2026",
    "0",
    "-1",
    " ",
    "",
    None,
]


@pytest.mark.parametrize("value", IMF)
def test_http_date_is_what_email_utils_says(value: str | None) -> None:
    got, want = parse_http_date(value), reference_http_date(value)
    assert got == want
    assert got is None or (want is not None and got.tzinfo is want.tzinfo)
    assert parse_http_date(value) is got  # remembered: the same (immutable) datetime


def test_http_date_fuzz() -> None:
    rng = random.Random(7)
    days, months = ["Mon", "Sun", "Foo"], ["Jan", "Feb", "Jun", "Dec", "jan", "Xyz"]
    for _ in range(5000):
        value = (
            f"{rng.choice(days)}, {rng.randrange(0, 40):02d} {rng.choice(months)} "
            f"{rng.choice(['0094', '1969', '2026', '9999', '10000', '0100'])} "
            f"{rng.randrange(0, 26):02d}:{rng.randrange(0, 62):02d}:{rng.randrange(0, 62):02d} "
            f"{rng.choice(['GMT', 'GMT', 'UTC', '+0000', 'EST'])}"
        )
        assert parse_http_date(value) == reference_http_date(value), value


def test_shared_cache_control_cannot_be_changed_by_one_caller() -> None:
    one = recognise([("Cache-Control", "max-age=60, public")])
    two = recognise([("cache-control", "max-age=60, public"), ("Age", "3")])
    assert one.cache_control is two.cache_control  # parsed once
    shared = cast(dict[str, Any], one.cache_control)
    for change in (
        lambda: shared.__setitem__("max-age", "0"),
        lambda: shared.__delitem__("public"),
        lambda: shared.pop("public"),
        lambda: shared.popitem(),
        lambda: shared.setdefault("no-store", None),
        lambda: shared.update({"no-store": None}),
        lambda: shared.__ior__({"no-store": None}),
        shared.clear,
    ):
        with pytest.raises(
            TypeError,
            match=r"^Cache-Control directives are shared: copy them with dict\(\) to change them$",
        ):
            change()
    shown = one.as_dict()
    shown["cache_control"]["max-age"] = "0"
    shown["headers"]["cache-control"] = "no-store"
    assert two.cache_control == {"max-age": "60", "public": None}
    assert two.as_dict()["cache_control"] == {"max-age": "60", "public": None}
    assert one.as_dict()["headers"] == {"cache-control": "max-age=60, public"}
    assert pickle.loads(pickle.dumps(one)) == one and copy.deepcopy(two) == two
    # the public parser still hands each caller a dict of its own
    assert parse_cache_control("max-age=60") is not parse_cache_control("max-age=60")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([("X-Varnish", "32770")], [("X-Varnish", "32772 3")]),  # miss, then hit
        ([("X-Varnish", "1 2")], [("X-Varnish", "")]),
        ([("Server", "ATS/9.2.5"), ("Age", "0")], [("Server", "ATS/9.2.5"), ("Age", "5")]),
        ([("CF-Ray", "8a1b-LHR")], [("CF-Ray", "")]),
        ([("X-Cache", "MISS, HIT")], [("X-Cache", "HIT, MISS")]),
        ([("Via", "1.1 varnish")], [("Via", "1.1 squid (squid/5.7)")]),
        ([("Cache-Status", "Nginx; hit")], [("Cache-Status", "Nginx; fwd=miss")]),
        ([("X-Cache-Lookup", "HIT")], [("X-Cache-Lookup", ""), ("X-Cache-Lookup", "HIT")]),
    ],
)
def test_different_headers_never_share_a_guess(
    first: list[tuple[str, str]], second: list[tuple[str, str]]
) -> None:
    for headers in (first, second, first):
        want = reference_recognise(headers)
        assert (recognise(headers).product, recognise(headers).hit) == (want.product, want.hit)


class _Asked(dict[str, list[str]]):
    """A HeaderIndex's values that note every header asked for."""

    def __init__(self, index: dict[str, list[str]], asked: set[str]) -> None:
        super().__init__(index)
        self.asked = asked

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        return super().get(name, default)


def test_guesses_read_nothing_their_key_leaves_out() -> None:
    """guess_product and guess_hit are remembered by guess_key: they must read no other header,
    and the key must keep what they read of each (all of it, or as GUESS_READS reduces it)."""
    asked: set[str] = set()
    for headers in CORPUS + [h for h, *_ in VENDORS]:
        index = HeaderIndex(headers)
        index._values = _Asked(index._values, asked)
        cache_status = parse_cache_status(joined(index, "cache-status"))
        guess_product(index, cache_status)
        for age in (None, 0, 5):
            guess_hit(index, cache_status, age)
        keyed = HeaderIndex(guess_key(headers))
        assert guess_product(keyed, cache_status) == guess_product(headers, cache_status)
        assert guess_hit(keyed, cache_status, 5) == guess_hit(headers, cache_status, 5)
    assert asked <= set(GUESS_READS)
