"""``onthedot init``: a working example — onthedot.toml, one release with an artefact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from onthedot.calendar.holidays import bank_holidays

CONFIG = """\
# onthedot site config. Release files live in releases/ (one release per file).
releases = ["releases/*.toml"]
# database = "sqlite:///onthedot.db"     # or set ONTHEDOT_DATABASE_URL (e.g. postgresql://...)

[site]
public = "http://127.0.0.1:8080"          # what users reach (CDN / cache)
origin = "http://127.0.0.1:8081"          # the web server behind it (enables edge-vs-origin diagnosis)
target = "file://{webroot}"               # where artefacts are published
purge = []                                # e.g. ["varnish://127.0.0.1:8080"]

[policy]                                  # the Code of Practice's defaults
time = "09:30"
zone = "Europe/London"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
notice_days = 28
"""

RELEASE = """\
id = "example-quarterly-{year}-{month:02d}"
title = "Example quarterly statistics: {month_name} {year}"
producer = "Example Statistics Office"
release_at = {release_at}           # local time, Europe/London
announced_at = {announced_at}
nation = "england-and-wales"
lead_statistician = "A Statistician <stats@example.org>"
head_of_profession = "A Head <hop@example.org>"

[[artefact]]
file = "example-quarterly.csv"
path = "/statistics/example-quarterly.csv"
"""

DATA = "quarter,value\n2026Q1,101\n2026Q2,103\n"


def first_release_day(
    today: dt.date, notice_days: int = 35, nation: str = "england-and-wales"
) -> dt.date:
    """The first weekday at least ``notice_days`` ahead that is not a bank holiday."""
    day = today + dt.timedelta(days=notice_days)
    while day.weekday() >= 5 or day in bank_holidays(nation, day.year):
        day += dt.timedelta(days=1)
    return day


def write_example(directory: Path, today: dt.date) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    releases = directory / "releases"
    releases.mkdir(exist_ok=True)
    webroot = (directory / "webroot").resolve()
    webroot.mkdir(exist_ok=True)
    day = first_release_day(today)
    config = directory / "onthedot.toml"
    config.write_text(CONFIG.format(webroot=webroot), encoding="utf-8")
    release = releases / "example-quarterly.toml"
    release.write_text(
        RELEASE.format(
            year=day.year,
            month=day.month,
            month_name=day.strftime("%B"),
            release_at=f"{day.isoformat()}T09:30:00",
            announced_at=f"{today.isoformat()}T09:30:00",
        ),
        encoding="utf-8",
    )
    data = releases / "example-quarterly.csv"
    data.write_text(DATA, encoding="utf-8")
    return [config, release, data]
