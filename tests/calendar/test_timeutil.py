from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from onthedot.calendar.timeutil import (
    as_instant,
    fmt_clock,
    fmt_local,
    get_zone,
    local_to_utc,
    to_local,
)
from onthedot.errors import ConfigError, InputError, LocalTimeError
from onthedot.model import iso_utc

UTC = dt.UTC


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # the Friday before and the Monday after the clocks go forward (30 March 2025)
        (dt.datetime(2025, 3, 28, 9, 30), "2025-03-28T09:30:00Z"),
        (dt.datetime(2025, 3, 31, 9, 30), "2025-03-31T08:30:00Z"),
        # the Friday before and the Monday after the clocks go back (26 October 2025)
        (dt.datetime(2025, 10, 24, 9, 30), "2025-10-24T08:30:00Z"),
        (dt.datetime(2025, 10, 27, 9, 30), "2025-10-27T09:30:00Z"),
    ],
)
def test_0930_london_maps_to_the_right_utc_instant_on_both_sides_of_dst(
    local: dt.datetime, utc: str
) -> None:
    instant = local_to_utc(local)
    assert iso_utc(instant) == utc
    assert to_local(instant).replace(tzinfo=None) == local


def test_a_local_time_the_clocks_skip_is_refused_with_the_fix() -> None:
    with pytest.raises(LocalTimeError, match="does not exist in Europe/London") as caught:
        local_to_utc(dt.datetime(2025, 3, 30, 1, 30))
    assert isinstance(caught.value, InputError)
    assert "explicit UTC offset" in str(caught.value)


def test_a_local_time_the_clocks_repeat_is_refused_naming_both_offsets() -> None:
    with pytest.raises(LocalTimeError, match="happens twice") as caught:
        local_to_utc(dt.datetime(2025, 10, 26, 1, 30))
    assert "+01:00" in str(caught.value) and "+00:00" in str(caught.value)


def test_an_explicit_offset_is_honoured() -> None:
    aware = dt.datetime(2025, 10, 26, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert local_to_utc(aware) == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


def test_other_zones_are_read_in_their_own_rules() -> None:
    # Dublin and London change on the same days but New York does not
    assert local_to_utc(dt.datetime(2025, 3, 31, 11, 0), "Europe/Dublin").hour == 10
    assert local_to_utc(dt.datetime(2025, 3, 12, 9, 30), "America/New_York").hour == 13


def test_lenient_instant_never_raises_in_a_gap() -> None:
    inside_gap = dt.datetime(2025, 3, 30, 1, 30)
    assert as_instant(inside_gap).tzinfo is UTC
    assert as_instant(dt.datetime(2019, 12, 18, 9, 30)) == dt.datetime(
        2019, 12, 18, 9, 30, tzinfo=UTC
    )


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="IANA name"):
        get_zone("Mars/Olympus_Mons")
    assert get_zone(ZoneInfo("Europe/Dublin")).key == "Europe/Dublin"


def test_formatting_shows_local_date_time_and_zone_abbreviation() -> None:
    assert fmt_local(dt.datetime(2019, 12, 18, 9, 30, tzinfo=UTC)) == (
        "Wednesday 18 December 2019 09:30 GMT"
    )
    assert fmt_local(dt.datetime(2025, 3, 31, 8, 30, tzinfo=UTC)) == (
        "Monday 31 March 2025 09:30 BST"
    )
    assert fmt_clock(dt.time(9, 30, 15)) == "09:30:15"
    with pytest.raises(ValueError, match="naive"):
        to_local(dt.datetime(2025, 1, 1))
