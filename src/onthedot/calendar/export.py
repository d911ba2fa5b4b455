"""The release calendar as iCalendar, JSON and a standalone HTML page.

ICS: one VEVENT per release whose UID comes from the release id and whose SEQUENCE is the
number of recorded changes (the release's ``[[change]]`` entries, or the store's count of
release-time changes when that is larger), so a calendar client that subscribed before a release moved updates
the event instead of adding a second one. DTSTART is in UTC, or with ``TZID=Europe/London`` (and
its VTIMEZONE) when ``local_times=True``. A release is an instant, so the events have no DTEND.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from typing import Any

import icalendar

from onthedot.calendar.policy import Policy
from onthedot.calendar.timeutil import as_instant, fmt_date, fmt_local, get_zone
from onthedot.model import Release, iso_utc, utcnow

PRODID = "-//onthedot//Release calendar//EN"


def select(
    releases: Iterable[Release],
    policy: Policy,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[Release]:
    """Releases whose local release date is within [start, end] (either open), by time."""
    zone = get_zone(policy.zone)
    chosen = [
        r
        for r in releases
        if (start is None or r.release_at.astimezone(zone).date() >= start)
        and (end is None or r.release_at.astimezone(zone).date() <= end)
    ]
    return sorted(chosen, key=lambda r: (r.release_at, r.id))


def release_url(release: Release) -> str | None:
    """Where users find the release: its statement URL, else its first artefact on the site.

    The artefact's address names a file that is embargoed until T: a calendar shown or handed
    out before then passes its releases through ``web.calendar_page.announced`` first (as the
    web calendar and ``onthedot calendar`` do), which links such a release to its site."""
    if release.statement_url:
        return release.statement_url
    if release.site and release.paths:
        return release.site.url(release.paths[0])
    return release.site.public if release.site else None


def _description(release: Release, policy: Policy) -> str:
    lines = [
        f"{release.producer}.",
        f"Release: {fmt_local(release.release_at, policy.zone)}.",
    ]
    if release.published_by:
        lines.append(f"Published on {release.published_by}.")
    if release.lead_statistician:
        lines.append(f"Contact: {release.lead_statistician}.")
    for item in release.change:
        previous = as_instant(item.previous, policy.zone)
        why = f": {item.reason}" if item.reason else ""
        lines.append(f"Moved from {fmt_local(previous, policy.zone)}{why}.")
    return "\n".join(lines)


def _event(
    release: Release, policy: Policy, stamp: dt.datetime, local: bool, domain: str, sequence: int
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{release.id}@{domain}")
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    start = release.release_at.astimezone(get_zone(policy.zone) if local else dt.UTC)
    event.add("dtstart", start)
    event.add("summary", release.title)
    event.add("description", _description(release, policy))
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    url = release_url(release)
    if url:
        event.add("url", url)
    return event


def to_ics(
    releases: Iterable[Release],
    policy: Policy,
    *,
    local_times: bool = False,
    stamp: dt.datetime | None = None,
    uid_domain: str = "onthedot",
    changes: Mapping[str, int] | None = None,
) -> bytes:
    """An iCalendar file with one VEVENT per release (UID from the id, SEQUENCE from changes).

    ``changes`` maps release id → number of recorded release-time changes (e.g. from the store).
    """
    chosen = list(releases)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Release calendar")
    when = stamp or utcnow()
    for release in chosen:
        sequence = _sequence(release, changes)
        cal.add_component(_event(release, policy, when, local_times, uid_domain, sequence))
    if local_times and chosen:
        years = [r.release_at.year for r in chosen]
        cal.add_missing_timezones(dt.date(min(years) - 1, 1, 1), dt.date(max(years) + 2, 1, 1))
    return bytes(cal.to_ical())


def _sequence(release: Release, changes: Mapping[str, int] | None) -> int:
    return max(len(release.change), (changes or {}).get(release.id, 0))


def entries(
    releases: Iterable[Release], policy: Policy, changes: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """One JSON-safe dict per release (``changes`` as for :func:`to_ics`)."""
    zone = get_zone(policy.zone)
    return [
        {
            "id": r.id,
            "title": r.title,
            "producer": r.producer,
            "release_at_utc": iso_utc(r.release_at),
            "release_at_local": r.release_at.astimezone(zone).isoformat(),
            "zone": policy.zone,
            "nation": r.nation,
            "url": release_url(r),
            "published_by": r.published_by,
            "lead_statistician": r.lead_statistician,
            "sequence": _sequence(r, changes),
            "changes": [
                {
                    "previous": iso_utc(as_instant(c.previous, policy.zone)),
                    "reason": c.reason,
                    "approved_by": c.approved_by,
                }
                for c in r.change
            ],
        }
        for r in releases
    ]


def to_json(
    releases: Iterable[Release], policy: Policy, changes: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The ``--json`` document ``{"zone": ..., "releases": [...]}``, JSON-safe (json.dumps it)."""
    return {"zone": policy.zone, "releases": entries(releases, policy, changes)}


_STYLE = """
body{font-family:Arial,sans-serif;margin:2rem;color:#0b0c0c;line-height:1.4}
table{border-collapse:collapse;width:100%}caption{text-align:left;font-weight:bold;
margin-bottom:.5rem}th,td{border-bottom:1px solid #b1b4b6;padding:.5rem;text-align:left;
vertical-align:top}a{color:#1d70b8}a:focus{outline:3px solid #fd0;background:#fd0}
.moved{font-size:.9rem}
"""


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _row(release: Release, policy: Policy, changes: Mapping[str, int] | None) -> str:
    local = release.release_at.astimezone(get_zone(policy.zone))
    title = html.escape(release.title)
    url = release_url(release)
    if url:
        title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    moved = ""
    if moved_times := _sequence(release, changes):
        moved = f'<br><span class="moved">Moved {_count(moved_times, "time")}</span>'
    when = html.escape(f"{fmt_date(local.date())}, {local:%H:%M} {local.tzname()}")
    return (
        f'<tr><td><time datetime="{iso_utc(release.release_at)}">{when}</time>{moved}</td>'
        f"<td>{title}</td><td>{html.escape(release.producer)}</td></tr>"
    )


def to_html(
    releases: Iterable[Release],
    policy: Policy,
    title: str = "Release calendar",
    changes: Mapping[str, int] | None = None,
) -> str:
    """A standalone, accessible HTML page: one table of releases by date."""
    chosen = list(releases)
    rows = "\n".join(_row(r, policy, changes) for r in chosen) or (
        '<tr><td colspan="3">No releases are announced for these dates.</td></tr>'
    )
    heading = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<table>
<caption>{_count(len(chosen), "release")}; times are {html.escape(policy.zone)} local time</caption>
<thead><tr><th scope="col">Date and time</th><th scope="col">Statistics</th>
<th scope="col">Producer</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</main>
</body>
</html>
"""
