"""RFC 9111 §4.2 freshness, shared vs browser, and what each cache product does differently."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from onthedot.verify.caches import (
    Akamai,
    CacheModel,
    Cloudflare,
    CloudFront,
    Fastly,
    Nginx,
    RefreshPattern,
    Squid,
    TrafficServer,
    Varnish,
)
from onthedot.verify.caches.info import CacheInfo, recognise
from onthedot.verify.freshness import (
    LONDON,
    browser_freshness,
    clock,
    current_age,
    freshness,
    seconds_words,
)

NOW = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)


def http(instant: dt.datetime) -> str:
    return format_datetime(instant, usegmt=True)


DATE = ("Date", http(NOW))
TEN_DAYS_AGO = ("Last-Modified", http(NOW - dt.timedelta(days=10)))

RFC_SHARED = [
    # (headers, lifetime, source)
    ([("Cache-Control", "max-age=3600"), DATE], 3600, "max-age"),
    ([("Cache-Control", "s-maxage=600, max-age=60"), DATE], 600, "s-maxage"),
    (
        [("Cache-Control", "max-age=60"), ("Expires", http(NOW + dt.timedelta(hours=5))), DATE],
        60,
        "max-age",
    ),
    ([("Expires", http(NOW + dt.timedelta(minutes=30))), DATE], 1800, "expires"),
    ([("Expires", http(NOW - dt.timedelta(minutes=30))), DATE], 0, "expires"),
    ([("Expires", "0"), DATE], 0, "expires"),
    ([TEN_DAYS_AGO, DATE], 86400, "heuristic"),  # 10 % of 10 days
    ([DATE], 0, "none"),
    ([("Cache-Control", "no-cache, max-age=3600"), DATE], 0, "max-age"),
]


@pytest.mark.parametrize(("headers", "lifetime", "source"), RFC_SHARED)
def test_rfc9111_shared_lifetime(
    headers: list[tuple[str, str]], lifetime: float, source: str
) -> None:
    fresh = freshness(recognise(headers), now=NOW)
    assert (fresh.lifetime_s, fresh.source) == (lifetime, source)
    assert fresh.stored


@pytest.mark.parametrize(
    ("header", "stored_shared", "stored_browser"),
    [("no-store", False, False), ("private", False, True), ('private="Set-Cookie"', True, True)],
)
def test_no_store_and_private(header: str, stored_shared: bool, stored_browser: bool) -> None:
    info = recognise([("Cache-Control", f"{header}, max-age=600"), DATE])
    assert freshness(info, now=NOW).stored is stored_shared
    assert browser_freshness(info, now=NOW).stored is stored_browser


def test_browser_ignores_s_maxage() -> None:
    info = recognise([("Cache-Control", "s-maxage=600, max-age=60"), DATE])
    fresh = browser_freshness(info, now=NOW)
    assert (fresh.lifetime_s, fresh.source, fresh.cache) == (60, "max-age", "browsers' own caches")


def test_age_and_remaining_and_fresh_until() -> None:
    info = recognise(
        [("Cache-Control", "max-age=3600"), ("Age", "2940"), DATE, ("X-Varnish", "5 3")]
    )
    fresh = freshness(info, now=NOW)
    assert (fresh.age_s, fresh.remaining_s) == (2940, 660)
    assert fresh.fresh_until == NOW + dt.timedelta(seconds=660)
    assert fresh.fresh and fresh.cache == "Varnish"


def test_current_age_rfc9111_4_2_3() -> None:
    date = NOW - dt.timedelta(seconds=100)
    info = recognise([("Date", http(date)), ("Age", "30")])
    # apparent age 100 > corrected Age 30 + delay 2; then resident 50 s
    age = current_age(
        info,
        now=NOW + dt.timedelta(seconds=50),
        response_time=NOW,
        request_time=NOW - dt.timedelta(seconds=2),
    )
    assert age == 150
    assert current_age(recognise([("Age", "30")]), now=NOW) == 30


def test_directives_reported() -> None:
    info = recognise(
        [
            (
                "Cache-Control",
                "max-age=60, stale-while-revalidate=30, "
                "stale-if-error=600, must-revalidate, immutable",
            ),
            DATE,
        ]
    )
    fresh = freshness(info, now=NOW)
    assert (fresh.swr_s, fresh.sie_s, fresh.must_revalidate, fresh.immutable) == (
        30,
        600,
        True,
        True,
    )


PRODUCTS: list[tuple[CacheModel, list[tuple[str, str]], bool, float, str]] = [
    # (model, headers, stored, lifetime, source)
    (Varnish(), [DATE], True, 120, "product-default"),
    (Varnish(default_ttl=3600), [TEN_DAYS_AGO, DATE], True, 3600, "product-default"),
    (Varnish(), [("Cache-Control", "max-age=300"), DATE], True, 300, "max-age"),
    (Varnish(), [("Cache-Control", "no-cache"), DATE], False, 0, "none"),
    (Varnish(), [("Cache-Control", "max-age=0"), DATE], False, 0, "none"),
    (Varnish(), [("Set-Cookie", "a=b"), DATE], False, 0, "none"),
    (Nginx(), [DATE], False, 0, "none"),
    (Nginx(valid=600), [TEN_DAYS_AGO, DATE], True, 600, "product-default"),
    (
        Nginx(valid=600),
        [("X-Accel-Expires", "30"), ("Cache-Control", "max-age=900"), DATE],
        True,
        30,
        "x-accel-expires",
    ),
    (Nginx(valid=600), [("Cache-Control", "max-age=0"), DATE], False, 0, "none"),
    (Nginx(valid=600), [("X-Accel-Expires", "0"), DATE], False, 0, "none"),
    (Squid(), [TEN_DAYS_AGO, DATE], True, 172800, "heuristic"),  # 20 % of 10 days
    (
        Squid(),
        [("Last-Modified", http(NOW - dt.timedelta(days=100))), DATE],
        True,
        259200,
        "heuristic",
    ),  # capped at 4320 min
    (Squid(), [DATE], True, 0, "none"),
    (Squid(patterns=(RefreshPattern(".", 5, 20, 60),)), [DATE], True, 300, "product-default"),
    (TrafficServer(), [TEN_DAYS_AGO, DATE], False, 0, "none"),  # required_headers 2
    (
        TrafficServer(),
        [("Expires", http(NOW + dt.timedelta(minutes=10))), DATE],
        True,
        600,
        "expires",
    ),
    (TrafficServer(required_headers=0), [TEN_DAYS_AGO, DATE], True, 86400, "heuristic"),
    (
        TrafficServer(required_headers=0),
        [("Last-Modified", http(NOW - dt.timedelta(hours=2))), DATE],
        True,
        3600,
        "heuristic",
    ),
    (TrafficServer(required_headers=1), [DATE], False, 0, "none"),
    (Fastly(), [DATE], True, 3600, "product-default"),
    (
        Fastly(),
        [("Surrogate-Control", "max-age=86400"), ("Cache-Control", "max-age=60"), DATE],
        True,
        86400,
        "surrogate-control",
    ),
    (CloudFront(), [DATE], True, 86400, "product-default"),
    (CloudFront(min_ttl=120), [("Cache-Control", "max-age=10"), DATE], True, 120, "max-age"),
    (Akamai(), [DATE], True, 0, "none"),
]


@pytest.mark.parametrize(("model", "headers", "stored", "lifetime", "source"), PRODUCTS)
def test_product_behaviour(
    model: CacheModel, headers: list[tuple[str, str]], stored: bool, lifetime: float, source: str
) -> None:
    fresh = freshness(recognise(headers), now=NOW, model=model)
    assert (fresh.stored, fresh.lifetime_s, fresh.source) == (stored, lifetime, source)


def test_squid_query_urls_are_not_heuristically_fresh() -> None:
    info = recognise([TEN_DAYS_AGO, DATE])
    assert freshness(info, now=NOW, model=Squid(), url="/x.xlsx?v=2").lifetime_s == 0


@pytest.mark.parametrize(("url", "stored"), [("/s/x.xlsx", True), ("/s/page.html", False)])
def test_cloudflare_caches_static_extensions_only(url: str, stored: bool) -> None:
    fresh = freshness(recognise([DATE]), now=NOW, model=Cloudflare(), url=url)
    assert fresh.stored is stored


def test_product_chosen_from_headers_and_overrides() -> None:
    info = recognise([("X-Varnish", "4 2"), DATE])
    assert freshness(info, now=NOW).lifetime_s == 120
    fresh = freshness(info, now=NOW, models={"varnish": Varnish(default_ttl=3600)})
    assert fresh.lifetime_s == 3600


def test_varnish_grace() -> None:
    plain = recognise([("X-Varnish", "4"), ("Cache-Control", "max-age=60"), DATE])
    swr = recognise(
        [("X-Varnish", "4"), ("Cache-Control", "max-age=60, stale-while-revalidate=90")]
    )
    assert freshness(plain, now=NOW).swr_s == 10
    assert freshness(swr, now=NOW).swr_s == 90


def test_words() -> None:
    assert clock(dt.datetime(2019, 12, 18, 10, 31, 12, tzinfo=dt.UTC)) == "10:31:12"  # GMT
    assert clock(dt.datetime(2019, 6, 18, 9, 31, 12, tzinfo=dt.UTC)) == "10:31:12"  # BST
    assert [seconds_words(s) for s in (45, 660, 3900, 86400 * 4)] == [
        "45 s",
        "11 min",
        "1 h 5 min",
        "4 days",
    ]


def test_clock_is_strftime() -> None:
    start = dt.datetime(2026, 3, 29, 0, 0, 0, 123456, tzinfo=dt.UTC)  # a BST change that night
    for step in range(0, 4 * 86400, 997):
        instant = start + dt.timedelta(seconds=step)
        assert clock(instant) == instant.astimezone(LONDON).strftime("%H:%M:%S")


def test_current_age_without_delay_is_the_full_formula() -> None:
    date = NOW - dt.timedelta(seconds=7, microseconds=300)
    for age in (None, 0, 3, 10, 2**31):
        info = CacheInfo(age=age, date=date)
        for now in (NOW, NOW - dt.timedelta(seconds=30), NOW + dt.timedelta(microseconds=1)):
            quick = current_age(info, now=now)
            full = current_age(info, now=now, response_time=now + dt.timedelta(0))
            assert quick == full and type(quick) is type(full)
    later = current_age(
        CacheInfo(age=5),
        now=NOW,
        response_time=NOW - dt.timedelta(seconds=2),
        request_time=NOW - dt.timedelta(seconds=3),
    )
    assert later == 5 + 1 + 2


def test_each_varnish_configuration_keeps_its_own_default() -> None:
    info = recognise([("X-Varnish", "4 2"), DATE])
    for model, ttl, certain in [
        (Varnish(), 120, False),
        (Varnish(default_ttl=3600, configured=True), 3600, True),
        (Varnish(), 120, False),
    ]:
        fresh = freshness(info, now=NOW, model=model)
        assert (fresh.lifetime_s, fresh.certain, fresh.source) == (ttl, certain, "product-default")
        assert fresh.note == f"Varnish's default_ttl ({ttl:,} s)"
    assert Varnish() == Varnish() and hash(Varnish()) == hash(Varnish())
