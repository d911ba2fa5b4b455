"""Wall-clock time in a zone (Europe/London by default) ↔ instants in UTC.

Release files give local times; everything stored is UTC. A local time that a daylight-saving
change skips (01:30 on the last Sunday of March in London) or repeats (01:30 on the last Sunday of
October) is refused with a sentence that says what to write instead, never guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from onthedot.errors import ConfigError, LocalTimeError

UTC = dt.UTC
LONDON = "Europe/London"

Zone = str | ZoneInfo


@functools.lru_cache(maxsize=64)
def _zone_by_name(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{name!r} is not a time zone this machine knows: use an IANA name such as "
            '"Europe/London" or "Europe/Dublin".'
        ) from exc


def get_zone(zone: Zone = LONDON) -> ZoneInfo:
    """The ZoneInfo for ``zone`` (a name or a ZoneInfo); ConfigError for an unknown name."""
    return zone if isinstance(zone, ZoneInfo) else _zone_by_name(zone)


def _zone_label(zone: ZoneInfo) -> str:
    return zone.key


def local_to_utc(local: dt.datetime, zone: Zone = LONDON) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``zone``.

    An aware datetime is honoured as it is (its own offset wins) and only converted to UTC.
    A naive one is read in ``zone``; LocalTimeError if the clocks skip it or show it twice.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    tz = get_zone(zone)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        _raise_dst_gap_or_overlap(local, first, second, tz)
    return first.astimezone(UTC)


def _raise_dst_gap_or_overlap(
    local: dt.datetime, first: dt.datetime, second: dt.datetime, tz: ZoneInfo
) -> None:
    shown = local.strftime("%Y-%m-%d %H:%M")
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != local:
        raise LocalTimeError(
            f"{shown} does not exist in {_zone_label(tz)} because the clocks go forward then: "
            "choose a time outside the skipped hour or give an explicit UTC offset."
        )
    a, b = (first.strftime("%z"), second.strftime("%z"))
    raise LocalTimeError(
        f"{shown} happens twice in {_zone_label(tz)} because the clocks go back then: "
        f"give an explicit offset ({shown}{a[:3]}:{a[3:]} or {shown}{b[:3]}:{b[3:]})."
    )


def to_local(instant: dt.datetime, zone: Zone = LONDON) -> dt.datetime:
    """``instant`` (aware) as an aware wall-clock time in ``zone``."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: give a zone")
    return instant.astimezone(get_zone(zone))


def fmt_clock(value: dt.time | dt.datetime) -> str:
    """09:30, or 09:30:15 when there are seconds (never hides a second's difference)."""
    has_seconds = value.second or value.microsecond
    return value.strftime("%H:%M:%S" if has_seconds else "%H:%M")


def fmt_date(day: dt.date) -> str:
    """Wednesday 18 December 2019 (no leading zero, as GOV.UK writes dates)."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def fmt_local(instant: dt.datetime, zone: Zone = LONDON) -> str:
    """Wednesday 18 December 2019 09:30 GMT: how a person in ``zone`` reads ``instant``."""
    local = to_local(instant, zone)
    return f"{fmt_date(local.date())} {fmt_clock(local)} {local.tzname()}"


def as_instant(value: dt.datetime, zone: Zone = LONDON) -> dt.datetime:
    """An aware UTC instant; a naive value is read in ``zone``, leniently (never raises).

    For values already loaded (a recorded change, an access time): a skipped or repeated local
    time is taken with the offset in force before the change rather than refused.
    """
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    try:
        return local_to_utc(value, zone)
    except LocalTimeError:
        return value.replace(tzinfo=get_zone(zone), fold=0).astimezone(UTC)
