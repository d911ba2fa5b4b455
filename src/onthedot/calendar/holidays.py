"""Bank holidays of the UK nations (and any country the ``holidays`` package knows).

The ``holidays`` package is the source (imported only when a table is not remembered from an
earlier run: ``holiday_cache``): it knows every year, the one-off days (2020-05-08,
2022-06-03, 2022-09-19, 2023-05-08) and the substitute days. Where the JSON that
``govuk-bank-holidays`` ships covers a year, the weekdays of the two lists are compared and any
disagreement is logged and returned, so a rule can show it to a person; it never raises. The
GOV.UK list is read from the copy inside the package only: nothing here touches the network.

Calendar names: ``england-and-wales``, ``scotland``, ``northern-ireland``, ``uk`` (the union of the
three, each day saying which nations keep it), ``none``, or a country code known to ``holidays``
with an optional subdivision (``IE``, ``DE-BY``).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType

from onthedot.calendar.holiday_cache import HolidayCache, Table

log = logging.getLogger(__name__)

UK_NATIONS: tuple[str, ...] = ("england-and-wales", "scotland", "northern-ireland")
NATION_NAMES: Mapping[str, str] = {
    "england-and-wales": "England and Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
    "uk": "the UK",
}
_SUBDIVISION = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
SPECIAL_CALENDARS = ("release", "none", "uk", *UK_NATIONS)


@dataclass(frozen=True)
class Holiday:
    """A day off in a calendar; ``partial`` when only some of the calendar's nations keep it."""

    day: dt.date
    name: str
    nations: tuple[str, ...]
    partial: bool = False

    @property
    def where(self) -> str:
        """'Scotland' / 'England and Wales and Northern Ireland' / the calendar name."""
        return " and ".join(NATION_NAMES.get(n, n) for n in self.nations)


@dataclass(frozen=True)
class Disagreement:
    """A weekday that one list calls a bank holiday and the other does not."""

    nation: str
    day: dt.date
    holidays_name: str | None
    govuk_name: str | None

    @property
    def message(self) -> str:
        place = NATION_NAMES.get(self.nation, self.nation)
        if self.govuk_name is None:
            said, silent = f"the holidays package calls it {self.holidays_name!r}", "GOV.UK's"
        else:
            said, silent = f"GOV.UK's list calls it {self.govuk_name!r}", "the holidays package's"
        return (
            f"The bank-holiday lists disagree about {self.day.isoformat()} in {place} "
            f"({said}, {silent} list does not have it): check https://www.gov.uk/bank-holidays "
            "and move the release if it is a holiday."
        )


def check_calendar_name(name: str) -> str:
    """``name`` normalised, or ValueError saying which calendars exist."""
    value = name.strip()
    if value.lower() in SPECIAL_CALENDARS:
        return value.lower()
    country, _, subdivision = value.partition("-")
    try:
        _country_days(country.upper(), subdivision.upper() or None, 2000)
    except NotImplementedError as exc:
        raise ValueError(
            f"{name!r} is not a holiday calendar: use release, none, uk, england-and-wales, "
            "scotland, northern-ireland or a country code such as IE or DE-BY"
        ) from exc
    return value.upper()


@functools.lru_cache(maxsize=4096)
def _country_days(country: str, subdivision: str | None, year: int) -> Table:
    remembered = _remembered()
    days = remembered.get(country, subdivision, year)
    if days is None:
        days = _worked_out(country, subdivision, year)
        remembered.put(country, subdivision, year, days)
    return days


@functools.cache
def _remembered() -> HolidayCache:
    return HolidayCache()


def _worked_out(country: str, subdivision: str | None, year: int) -> Table:
    """The ``holidays`` package's days of ``year`` (NotImplementedError: no such country)."""
    import holidays as holidays_lib

    if country == "GB":
        table = _united_kingdom().GB(subdiv=subdivision, years=year)
    else:
        table = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
    return tuple(sorted((day, str(name)) for day, name in table.items() if day.year == year))


@functools.cache
def _united_kingdom() -> ModuleType:
    """The package's UK module alone: importing it by name would first import its
    ``countries`` package, which imports all 250 countries (≈ 60 ms at every start)."""
    import holidays as holidays_lib

    name = "holidays.countries.united_kingdom"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(holidays_lib.__file__).parent / "countries" / "united_kingdom.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _nation_days(nation: str, year: int) -> dict[dt.date, str]:
    if nation in _SUBDIVISION:
        return dict(_country_days("GB", _SUBDIVISION[nation], year))
    country, _, subdivision = nation.partition("-")
    return dict(_country_days(country.upper(), subdivision.upper() or None, year))


@functools.lru_cache(maxsize=1024)
def _holidays_in(calendar: str, year: int) -> tuple[Holiday, ...]:
    if calendar == "none":
        return ()
    if calendar != "uk":
        return tuple(Holiday(d, n, (calendar,)) for d, n in _nation_days(calendar, year).items())
    by_day: dict[dt.date, list[tuple[str, str]]] = {}
    for nation in UK_NATIONS:
        for day, name in _nation_days(nation, year).items():
            by_day.setdefault(day, []).append((nation, name))
    return tuple(
        Holiday(
            day,
            entries[0][1],
            tuple(n for n, _ in entries),
            partial=len(entries) < len(UK_NATIONS),
        )
        for day, entries in sorted(by_day.items())
    )


def holidays_in(calendar: str, year: int) -> dict[dt.date, Holiday]:
    """Every holiday of ``calendar`` in ``year`` (cached); ValueError for an unknown calendar."""
    if calendar == "release":
        raise ValueError("'release' stands for the release's nation: pass that nation instead")
    return {h.day: h for h in _holidays_in(check_calendar_name(calendar), year)}


def holiday_on(calendar: str, day: dt.date) -> Holiday | None:
    """The holiday of ``calendar`` on ``day``, if any."""
    return holidays_in(calendar, day.year).get(day)


def bank_holidays(nation: str, year: int) -> dict[dt.date, str]:
    """Date → name of every bank holiday of ``nation`` in ``year``.

    For ``uk`` (the union) a day kept in only some nations is named with where it is kept:
    ``"Battle of the Boyne (Northern Ireland only)"``.
    """
    return {
        day: f"{h.name} ({h.where} only)" if h.partial else h.name
        for day, h in holidays_in(nation, year).items()
    }


# --- cross-check against the JSON that govuk-bank-holidays ships (never fetched) ----------------


@functools.lru_cache(maxsize=1)
def _govuk_data() -> Mapping[str, tuple[tuple[dt.date, str], ...]]:
    try:
        # bank-holidays.json inside the package, read as it is (its loader would also import an
        # HTTP client, to download a fresher list, which is never wanted here)
        shipped = resources.files("govuk_bank_holidays").joinpath("bank-holidays.json")
        loaded = json.loads(shipped.read_text(encoding="utf-8"))
        return {
            division: tuple(
                sorted((dt.date.fromisoformat(e["date"]), str(e["title"])) for e in item["events"])
            )
            for division, item in loaded.items()
        }
    except Exception as exc:  # a broken optional cross-check must never stop a check
        log.warning("The GOV.UK bank-holiday list could not be read (%s): skipping it.", exc)
        return {}


def govuk_bank_holidays(nation: str, year: int) -> dict[dt.date, str] | None:
    """GOV.UK's shipped list for a UK nation and year, or None where it does not cover the year."""
    events = _govuk_data().get(nation, ())
    if not events or not events[0][0].year <= year <= events[-1][0].year:
        return None
    return {day: title for day, title in events if day.year == year}


def cross_check(
    nation: str, year: int, reference: Mapping[dt.date, str] | None = None
) -> list[Disagreement]:
    """Weekdays of ``year`` on which the holidays package and GOV.UK's list disagree.

    ``reference`` replaces GOV.UK's list (tests); [] when neither covers the nation and year.
    """
    if nation == "uk":
        return [d for n in UK_NATIONS for d in cross_check(n, year)]
    govuk = reference if reference is not None else _known(nation, year)
    if govuk is None:
        return []
    ours = {d: n for d, n in _nation_days(nation, year).items() if d.weekday() < 5}
    theirs = {d: n for d, n in govuk.items() if d.weekday() < 5 and d.year == year}
    found = [
        Disagreement(nation, day, ours.get(day), theirs.get(day))
        for day in sorted(ours.keys() ^ theirs.keys())
    ]
    for item in found:
        _log_once(item)
    return found


def _known(nation: str, year: int) -> dict[dt.date, str] | None:
    return govuk_bank_holidays(nation, year) if nation in UK_NATIONS else None


@functools.lru_cache(maxsize=256)
def _log_once(item: Disagreement) -> None:
    log.info("%s", item.message)


def disagreements_on(calendar: str, day: dt.date) -> list[Disagreement]:
    """The cross-check's disagreements that fall on ``day`` for ``calendar``."""
    if calendar not in ("uk", *UK_NATIONS):
        return []
    return [d for d in cross_check(calendar, day.year) if d.day == day]
