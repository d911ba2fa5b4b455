"""What an alert says, in plain words: which release, what is wrong, where, since when, the
diagnosis in one sentence, and where to look (the dashboard) and to acknowledge (a signed link)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from onthedot.calendar.timeutil import fmt_local, to_local
from onthedot.model import Release
from onthedot.respond.incidents import Incident
from onthedot.respond.vantages import AGENT_PREFIX, agent_name

PLACES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def compose(
    incident: Incident,
    state: str,
    release: Release | None,
    zone: ZoneInfo,
    *,
    dashboard: str | None = None,
    ack_url: str | None = None,
) -> Message:
    """The message about ``incident`` entering ``state`` (opened, acknowledged, resolved,
    closed)."""
    name = release.title if release else incident.release_id
    lines = [_release_line(incident, release, zone), f"What is wrong: {incident.title}."]
    if incident.places:
        lines.append(f"Where: {_places(incident.places)}.")
    lines.append(f"Since: {_since(incident, release, zone)}.")
    if incident.diagnosis:
        lines.append(f"Diagnosis: {incident.diagnosis}")
    lines.append(_state_line(incident, state))
    if dashboard and release is not None:
        lines.append(f"Dashboard: {dashboard.rstrip('/')}/releases/{release.id}")
    if ack_url and state == "opened":
        lines.append(f"Acknowledge (you are on it, stop alerting others): {ack_url}")
    prefix = {"opened": "", "acknowledged": "Acknowledged: ", "resolved": "Resolved: "}
    title = prefix.get(state, "Closed: ") + f"{incident.title} – {name}"
    return Message(title, "\n".join(lines) + "\n")


def _release_line(incident: Incident, release: Release | None, zone: ZoneInfo) -> str:
    if release is None:
        return f"Release: {incident.release_id}."
    return f"Release: {release.title} ({release.id}), due {fmt_local(release.release_at, zone)}."


def _places(places: tuple[str, ...]) -> str:
    shown = ", ".join(_place(p) for p in places[:PLACES_SHOWN])
    more = len(places) - PLACES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _place(place: str) -> str:
    """A place in words: a remote agent's vantage point by the agent's name."""
    return f"{agent_name(place)} (a remote agent)" if place.startswith(AGENT_PREFIX) else place


def _since(incident: Incident, release: Release | None, zone: ZoneInfo) -> str:
    clock = to_local(incident.since, zone).strftime("%H:%M:%S")
    if release is None:
        return clock
    offset = (incident.since - release.release_at).total_seconds()
    way = "after" if offset >= 0 else "before"
    return f"{clock}, {abs(offset):,.1f} s {way} the release time"


def _state_line(incident: Incident, state: str) -> str:
    if state == "opened":
        return "Status: open, not yet acknowledged."
    if state == "acknowledged":
        why = f" ({incident.reason})" if incident.reason else ""
        return f"Status: {incident.by} acknowledged it{why}; no one else will be alerted."
    if state == "resolved":
        return "Status: resolved; the latest checks no longer show the problem."
    return f"Status: closed by {incident.by}: {incident.reason}"
