"""The release policy: when releases may go out, and how much notice they need.

The defaults are the Code of Practice's (9.30am Europe/London on a weekday that is not a bank
holiday of the release's nation, announced 28 days ahead, pre-release access at most 24 hours).
A producer elsewhere overrides them in the ``[policy]`` table of onthedot.toml::

    [policy]
    time = "11:00"
    zone = "Europe/Dublin"
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    notice_days = 28
    holidays = "IE"          # "release" (the release's nation), a UK nation, "uk", "none",
                             # or a country code known to the holidays package ("IE", "DE-BY")
    pra_hours = 24
    pra_hours_by_nation = {scotland = 24}   # where a nation's rules allow another window
    tolerance_s = 0          # seconds after T before a URL not yet live is a late release

One rule says when a release is late (``Policy.late_after_s``): a URL not yet live for everyone
``late_after_s`` seconds after T. Breach detection, ``preflight`` and the dashboard all use it.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from onthedot.calendar.timeutil import get_zone
from onthedot.errors import ConfigError
from onthedot.model import NATIONS

#: a flip, or every URL live, within this many seconds of T counts as on time: the resolution of a
#: time shown to the second, and no finer than the host clock's measured uncertainty (±0.5 s for an
#: HTTP Date); the policy's ``tolerance_s`` widens it, never narrows it
FLIP_SLACK_S = 1.0
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS = (0, 1, 2, 3, 4)


def _weekday_number(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        for number, full in enumerate(DAY_NAMES):
            if len(name) >= 3 and full.startswith(name):
                return number
    raise ValueError(f'{value!r} is not a day of the week: write days as "mon" … "sun"')


def _parse_time(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        text = value.strip().replace(".", ":")
        try:
            parsed = dt.time.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    raise ValueError(f'{value!r} is not a time of day: write it as "HH:MM", e.g. "09:30"')


class Policy(BaseModel):
    """When a release may go out (Code of Practice T3.1, T3.4, T3.6) for one producer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: dt.time = Field(default=dt.time(9, 30), description="the standard release time, local")
    zone: str = Field(
        default="Europe/London", description="IANA zone the time and dates are read in"
    )
    weekdays: tuple[int, ...] = Field(default=WEEKDAYS, description="release days, Monday = 0")
    notice_days: int = Field(
        default=28, ge=0, description="minimum days between announcement and T"
    )
    holidays: str = Field(default="release", description="holiday calendar; 'release' = its nation")
    pra_hours: float = Field(
        default=24.0, gt=0, description="longest pre-release access before T, h"
    )
    pra_hours_by_nation: dict[str, float] = Field(
        default_factory=dict, description="pra_hours for releases of one nation, by nation"
    )
    tolerance_s: float = Field(
        default=0.0, ge=0, strict=True, description="seconds after T before a URL is late"
    )

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: object) -> dt.time:
        return _parse_time(value)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            get_zone(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: object) -> tuple[int, ...]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise ValueError('give a list of days, e.g. ["mon", "tue", "wed", "thu", "fri"]')
        days = tuple(sorted({_weekday_number(v) for v in value}))
        if not days:
            raise ValueError("give at least one release day")
        return days

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        from onthedot.calendar.holidays import check_calendar_name  # slow to load: only if set

        return check_calendar_name(value)

    @field_validator("pra_hours_by_nation")
    @classmethod
    def _pra_nations(cls, value: dict[str, float]) -> dict[str, float]:
        for nation, hours in value.items():
            if nation not in NATIONS:
                raise ValueError(f"{nation!r} is not a nation: use one of {', '.join(NATIONS)}")
            if not hours > 0:
                raise ValueError(f"the hours of {nation} must be more than 0")
        return value

    @property
    def late_after_s(self) -> float:
        """The rule for late: a URL not live for everyone this many seconds after T is late."""
        return max(self.tolerance_s, FLIP_SLACK_S)

    @property
    def weekday_names(self) -> tuple[str, ...]:
        return tuple(DAY_NAMES[d].capitalize() for d in self.weekdays)

    def pra_hours_for(self, nation: str) -> float:
        """The longest pre-release access before T for a release of ``nation`` (T3.4)."""
        return self.pra_hours_by_nation.get(nation, self.pra_hours)

    def calendar_for(self, nation: str) -> str:
        """The holiday calendar that applies to a release of ``nation``."""
        return nation if self.holidays == "release" else self.holidays


DEFAULT_POLICY = Policy()
