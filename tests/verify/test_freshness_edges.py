"""Freshness at its edges: a copy exactly max-age old, the flags a response sets (and only those),
stale-if-error only when sent, and what a browser keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.verify.caches.info import CacheInfo, recognise
from onthedot.verify.freshness import browser_freshness, current_age, freshness, seconds_words
from tests.verify.test_freshness import DATE, NOW, http


def test_a_copy_exactly_max_age_old_is_stale() -> None:
    info = recognise([("Cache-Control", "max-age=3600"), ("Age", "3600"), DATE])
    fresh = freshness(info, now=NOW)
    assert (fresh.remaining_s, fresh.fresh, fresh.fresh_until) == (0, False, NOW)
    younger = recognise([("Cache-Control", "max-age=3600"), ("Age", "3599"), DATE])
    assert freshness(younger, now=NOW).fresh


@pytest.mark.parametrize(
    ("cache_control", "flags"),
    [
        ("max-age=600", set()),
        ("no-store", {"no_store"}),
        ("private, max-age=600", {"private"}),
        ("max-age=600, immutable", {"immutable"}),
        ("max-age=600, must-revalidate", {"must_revalidate"}),
        ("max-age=600, proxy-revalidate", {"must_revalidate"}),
    ],
)
def test_a_shared_cache_reports_the_flags_the_response_sets(
    cache_control: str, flags: set[str]
) -> None:
    shown = freshness(recognise([("Cache-Control", cache_control), DATE]), now=NOW).as_dict()
    names = ("no_store", "private", "immutable", "must_revalidate")
    assert {name for name in names if shown[name] is True} == flags
    assert all(shown[name] is False for name in names if name not in flags)


def test_proxy_revalidate_binds_shared_caches_not_browsers() -> None:
    info = recognise([("Cache-Control", "max-age=600, proxy-revalidate"), DATE])
    assert freshness(info, now=NOW).must_revalidate is True
    assert browser_freshness(info, now=NOW).as_dict()["must_revalidate"] is False


@pytest.mark.parametrize(
    ("headers", "sie"),
    [
        ([("Cache-Control", "max-age=60, stale-if-error=600"), DATE], 600),
        ([("Cache-Control", "max-age=60"), DATE], 0),
        ([("Expires", "0"), DATE], 0),
    ],
)
def test_stale_if_error_only_when_the_response_grants_it(
    headers: list[tuple[str, str]], sie: float
) -> None:
    assert freshness(recognise(headers), now=NOW).sie_s == sie


def test_what_a_browser_keeps_is_reported_in_full() -> None:
    info = recognise([("Cache-Control", "private, max-age=600, stale-while-revalidate=30"), DATE])
    shown = browser_freshness(info, now=NOW + dt.timedelta(seconds=100)).as_dict()
    assert shown == {
        "cache": "browsers' own caches",
        "stored": True,
        "lifetime_s": 600,
        "age_s": 100.0,
        "remaining_s": 500.0,
        "source": "max-age",
        "fresh_until": (NOW + dt.timedelta(seconds=600)).isoformat(),
        "swr_s": 30.0,
        "sie_s": 0.0,
        "immutable": False,
        "no_store": False,
        "must_revalidate": False,
        "private": True,
        "certain": True,
        "note": "",
    }


@pytest.mark.parametrize(
    ("headers", "grace"),
    [
        ([("Cache-Control", "max-age=60"), DATE], 0),  # a generic cache: no grace unless sent
        ([("X-Varnish", "4"), ("Cache-Control", "max-age=60"), DATE], 10),  # Varnish's default
    ],
)
def test_grace_is_what_the_response_or_the_product_allows(
    headers: list[tuple[str, str]], grace: float
) -> None:
    assert freshness(recognise(headers), now=NOW).swr_s == grace


def test_the_time_a_request_took_adds_to_the_age() -> None:
    info = recognise([("Age", "30")])
    took_two = current_age(info, now=NOW, request_time=NOW - dt.timedelta(seconds=2))
    assert took_two == 32
    fresh = freshness(
        recognise([("Cache-Control", "max-age=600"), ("Age", "30")]),
        now=NOW + dt.timedelta(seconds=50),
        response_time=NOW,
        request_time=NOW - dt.timedelta(seconds=2),
    )
    assert (fresh.age_s, fresh.remaining_s) == (82, 518)


def test_without_a_date_or_with_one_ahead_the_apparent_age_is_zero() -> None:
    assert current_age(CacheInfo(), now=NOW) == 0
    assert current_age(CacheInfo(date=NOW + dt.timedelta(seconds=5)), now=NOW) == 0


def test_a_response_held_since_it_was_received_has_aged_by_that_long() -> None:
    info = recognise([("Age", "10")])
    assert (
        current_age(info, now=NOW, response_time=NOW - dt.timedelta(seconds=7), request_time=NOW)
        == 17
    )


def test_expires_without_a_date_counts_from_when_the_response_came() -> None:
    info = recognise([("Expires", http(NOW + dt.timedelta(minutes=10)))])
    assert freshness(info, now=NOW).lifetime_s == 600
    earlier = freshness(info, now=NOW, response_time=NOW - dt.timedelta(seconds=60))
    assert earlier.lifetime_s == 660


def test_a_response_the_cache_does_not_keep_has_no_time_left_and_no_grace() -> None:
    info = recognise([("X-Varnish", "4"), ("Set-Cookie", "a=b"), ("Age", "5"), DATE])
    fresh = freshness(info, now=NOW)
    assert (fresh.stored, fresh.remaining_s, fresh.fresh_until, fresh.swr_s) == (
        False,
        0.0,
        None,
        0.0,
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(259199, "72 h"), (259200, "3 days"), (302400, "4 days")],
)
def test_durations_turn_to_days_at_exactly_three_days(seconds: float, words: str) -> None:
    assert seconds_words(seconds) == words


def test_a_response_received_earlier_has_been_resident_since() -> None:
    info = recognise([("Cache-Control", "max-age=600"), ("Age", "30")])
    fresh = freshness(info, now=NOW + dt.timedelta(seconds=50), response_time=NOW)
    assert fresh.age_s == 80
