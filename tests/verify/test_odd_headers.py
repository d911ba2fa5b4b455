"""A header whose number or date no server should send is read as not given, as garbage is: the
sweep reads headers as latin-1, where "²" passes ``str.isdigit`` but not ``int``, and a date such
as 31 Dec 9999 at -01:00 falls after the last day Python can hold once turned to UTC."""

from __future__ import annotations

import pytest

from onthedot.verify.caches import Fastly, Lifetime, Nginx, headers
from onthedot.verify.caches.headers import parse_cache_status, unquote, whole_number
from onthedot.verify.caches.info import DELTA_MAX, parse_http_date, recognise
from onthedot.verify.freshness import freshness
from tests.verify.test_freshness import DATE, NOW

SQUARED = "²"  # latin-1 0xB2: a digit to str.isdigit, not a number to int
THOUSANDS = "9" * 5000  # more digits than int() reads from a string (4,300)
AFTER_THE_LAST_DAY = "Fri, 31 Dec 9999 23:59:59 -0100"  # 1 Jan 10000 in UTC


@pytest.mark.parametrize(
    "value",
    [SQUARED, f"1{SQUARED}", "-1", "x"],
    ids=["squared", "one-squared", "negative", "garbage"],
)
def test_an_age_that_is_not_a_number_is_not_given(value: str) -> None:
    info = recognise([("Age", value), ("X-Varnish", "5 6")])
    assert info.age is None
    assert freshness(info, now=NOW).age_s == 0


@pytest.mark.parametrize(
    "value",
    [SQUARED, f"0, {SQUARED}", f"{SQUARED}, 3, {SQUARED}"],
    ids=["squared", "zero-then-squared", "squared-three-squared"],
)
def test_a_hit_count_that_is_not_a_number_is_not_given(value: str) -> None:
    info = recognise([("X-Cache-Hits", value), ("X-Varnish", "5 6")])
    assert (info.product, info.hits) == ("varnish", None)


@pytest.mark.parametrize(
    "value",
    [SQUARED, f"@{SQUARED}", f"@1{SQUARED}", f"@{THOUSANDS}", "9" * 20, f"@{'9' * 20}"],
    ids=["squared", "at-squared", "at-one-squared", "at-5000-digits", "over-2-63", "at-over-2-63"],
)
def test_an_x_accel_expires_nginx_cannot_read_is_not_given(value: str) -> None:
    """nginx then goes on to Cache-Control, as for any X-Accel-Expires it cannot read (a number
    over 2^63 - 1 is an error to nginx too)."""
    headers = [("X-Accel-Expires", value), ("Cache-Control", "max-age=60"), DATE]
    assert Nginx(valid=600).lifetime(recognise(headers), received=NOW, url=None) == Lifetime(
        60, "max-age"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1" + "0" * 15, DELTA_MAX), (f"@{'9' * 18}", DELTA_MAX), ("@0", 0)],
    ids=["ten-15", "at-ten-18", "at-zero"],
)
def test_an_x_accel_expires_nginx_reads_is_at_most_the_greatest_delta(
    value: str, seconds: int
) -> None:
    """A lifetime of millions of years is as good as 2^31 s to a morning's check, and one that
    long cannot be added to a date."""
    info = recognise([("X-Accel-Expires", value), DATE])
    assert Nginx(valid=600).lifetime(info, received=NOW, url=None) == Lifetime(
        seconds, "x-accel-expires"
    )
    assert freshness(info, now=NOW, model=Nginx(valid=600)).lifetime_s == seconds


@pytest.mark.parametrize("name", ["Expires", "Date", "Last-Modified"])
def test_a_date_after_the_last_day_python_holds_is_not_given(name: str) -> None:
    assert parse_http_date(AFTER_THE_LAST_DAY) is None
    assert parse_http_date("Fri, 31 Dec 99999999999999999999 23:59:59 GMT") is None
    info = recognise([(name, AFTER_THE_LAST_DAY), ("Cache-Control", "max-age=60")])
    assert (info.expires, info.date, info.last_modified) == (None, None, None)
    assert freshness(info, now=NOW).lifetime_s == 60  # (as any response without that date)


def test_an_expires_after_the_last_day_is_invalid_as_garbage_is() -> None:
    """An Expires that is not a date means "already expired" (RFC 9111 §5.3): the same for one
    that cannot be held as a date."""
    odd, garbage = recognise([("Expires", AFTER_THE_LAST_DAY)]), recognise([("Expires", "soon")])
    assert (odd.expires, odd.expires_invalid) == (garbage.expires, garbage.expires_invalid)
    assert odd.expires_invalid


def test_a_cache_control_number_that_is_not_a_number_counts_as_stale() -> None:
    """As any unreadable delta-seconds (``max-age=abc``) does."""
    assert recognise([("Cache-Control", f"max-age={SQUARED}")]).seconds("max-age") == 0


def test_numbers_too_long_to_read_count_as_the_greatest_delta() -> None:
    """RFC 9111 §1.2.2: a delta-seconds greater than a cache can hold counts as 2^31."""
    assert recognise([("Age", THOUSANDS)]).age == DELTA_MAX
    assert recognise([("Cache-Control", f"max-age={THOUSANDS}")]).seconds("max-age") == DELTA_MAX
    assert recognise([("Cache-Status", f"Nginx; hit; ttl={THOUSANDS}")]).ttl == DELTA_MAX
    assert recognise([("Cache-Status", f"Nginx; hit; ttl=-{THOUSANDS}")]).ttl == -DELTA_MAX
    assert recognise([("Cache-Status", f"Nginx; hit; ttl={SQUARED}")]).ttl is None
    assert recognise([("X-Cache-Hits", THOUSANDS)]).hits == DELTA_MAX


def test_a_surrogate_control_too_long_to_read_counts_as_the_greatest_delta() -> None:
    info = recognise([("Surrogate-Control", f"max-age={THOUSANDS[:400]}"), DATE])
    assert Fastly().lifetime(info, received=NOW, url=None) == Lifetime(
        DELTA_MAX, "surrogate-control"
    )
    freshness(info, now=NOW, model=Fastly())  # (fresh until 2^31 s from now, not a crash)


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [("30", 30), ("-30", -30), ("-0", 0), ("-", None), (f"-{SQUARED}", None), ("x", None)],
    ids=["fresh", "stale", "minus-zero", "minus-alone", "minus-squared", "garbage"],
)
def test_a_cache_status_ttl_is_read_in_ascii_digits_signed(ttl: str, seconds: int | None) -> None:
    """RFC 9211's ttl goes negative once the stored response is stale."""
    headers._parse_cache_status.cache_clear()  # (read here, not as an earlier reading kept it)
    (entry,) = parse_cache_status(f'"Varnish"; hit; ttl={ttl}')
    assert entry.ttl == seconds
    (without,) = parse_cache_status('"Varnish"; hit')
    assert without.ttl is None


@pytest.mark.parametrize(
    ("value", "number"),
    [("000000000000005", 5), ("2147483647", 2**31 - 1), ("2147483648", 2**31), ("0", 0)],
    ids=["zeros-first", "one-under-the-greatest", "the-greatest", "zero"],
)
def test_a_whole_number_with_leading_zeros_or_near_the_greatest_is_read_as_it_is(
    value: str, number: int
) -> None:
    assert whole_number(value) == number
    assert whole_number(f" {value}") is None  # (digits only)


def test_a_quoted_empty_value_is_empty() -> None:
    assert unquote('""') == "" and unquote('"a"') == "a" and unquote('"') == '"'
