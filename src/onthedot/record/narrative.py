"""The account of what happened, in plain English, from the timeline.

"At 09:30:00 the file was published to the web server by FTP. At 09:30:01 the automatic checks
found that the public website was still serving the previous version from its cache (Age 2,940 s,
max-age 3,600 s) ..." Every time is the recorded instant shown as HH:MM:SS in the report's zone
(Europe/London); an event on another day than the release also names its date.

The sentences are read by statisticians, the regulator and the public: what the service did is
told in the passive or as "the automatic checks", never by the tool's name; an error's reason
keeps its human part, without a program's exception name or the hidden name of a staged copy.

Verification results are many (one per URL, vantage point and poll): only the changes are told,
and the same change at several vantage points within a minute is told once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, to_local
from onthedot.model import STAGED_PREFIX, CheckResult, Release, Status
from onthedot.record import kinds
from onthedot.record.breaches import is_origin, origin_vantage, read_result
from onthedot.record.timeline import Event

TRANSPORTS: Mapping[str, str] = {
    "ftp": "to the web server by FTP",
    "ftps": "to the web server by FTPS",
    "sftp": "to the web server by SFTP",
    "file": "to the web server's folder",
    "s3": "to the S3 bucket behind the website",
    "webhook+https": "through the publishing system's webhook",
    "webhook+http": "through the publishing system's webhook",
    "memory": "to the test target",
}


@dataclass(frozen=True)
class Teller:
    """Tells events of one release in one zone."""

    release: Release
    zone: Zone = LONDON

    def clock(self, instant: dt.datetime) -> str:
        """09:30:00, or 09:30:00 on Thursday 19 December 2019 away from the release day."""
        return self._shown(instant, "%H:%M:%S")

    def minute(self, instant: dt.datetime) -> str:
        """09:35, or 09:35 on Thursday 19 December 2019 away from the release day."""
        return self._shown(instant, "%H:%M")

    def _shown(self, instant: dt.datetime, form: str) -> str:
        local = to_local(instant, self.zone)
        day = to_local(self.release.release_at, self.zone).date()
        shown = local.strftime(form)
        return shown if local.date() == day else f"{shown} on {fmt_date(local.date())}"


def who(event: Event) -> str:
    """The person or system that did it, with their role: "Jane Smith (lead statistician)"."""
    data = event.data
    name = str(data.get("by") or event.actor or "someone")
    role = str(
        data.get("by_role") or (data.get("role") if event.kind == kinds.ACTION_TAKEN else "") or ""
    )
    return f"{name} ({role})" if role else name


def text_of(data: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = data.get(key)
        if value:
            return str(value).strip().rstrip(".")
    return ""


_EXCEPTION = r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Timeout|Warning|Failure|Exit)\b"
_NAMED = (
    re.compile(rf"\s*\(\s*{_EXCEPTION}(?::[^()]*)?\)"),  # "no answer (TimeoutError: ...)"
    re.compile(rf"\s*\(\s*{_EXCEPTION}.*\)\s*$"),  # the same, at the end, with brackets inside
    re.compile(rf"^\s*{_EXCEPTION}(?::\s*|\s*$)"),  # "TimeoutError: ..." or only the name
)
_STAGED = re.compile(rf"[^\s'\"()<>]*{re.escape(STAGED_PREFIX)}[^\s'\"()<>]*")


def reason(text: str) -> str:
    """The human part of an error's reason: "Could not connect (ClientConnectorError: ...)" →
    "Could not connect"; a staged copy's hidden name is "a copy waiting for release"."""
    for named in _NAMED:
        text = named.sub("", text)
    return _STAGED.sub("a copy waiting for release", text).strip().rstrip(".:;,")


def number(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


def fmt_duration(seconds: float) -> str:
    """3902 → "1 hour 5 minutes 2 seconds" (zero parts left out)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if n
    ]
    return " ".join(parts) or "0 seconds"


def transport(target: Any) -> str:
    scheme = urlsplit(str(target or "")).scheme.lower()
    return TRANSPORTS.get(scheme, "to the website" if not scheme else f"to the {scheme} target")


def public_address(release: Release, data: Mapping[str, Any]) -> str:
    """The address the public will find a staged file at once it is released (its site's public
    address and its own path; the path alone without a site): never the staged copy's own."""
    path = text_of(data, "path")
    if not path:
        return ""
    return release.site.url(path) if release.site and path.startswith("/") else path


def things(paths: Sequence[Any]) -> str:
    if len(paths) == 1:
        return f"the file {paths[0]} was"
    return f"{len(paths)} files were" if paths else "the files were"


# --- one sentence per event kind -----------------------------------------------------------------


def _flipped(t: Teller, e: Event) -> str:
    paths = list(e.data.get("paths") or [])
    return f"At {t.clock(e.at)} {things(paths)} published {transport(e.data.get('target'))}."


def _external(t: Teller, e: Event) -> str:
    who = text_of(e.data, "published_by") or "another system"
    return f"At {t.clock(e.at)} the release time came; {who} publishes this release."


def _staged(t: Teller, e: Event) -> str:
    count = len(e.data.get("manifest") or [])
    what = "the file was" if count == 1 else f"{count} files were" if count else "the files were"
    return f"At {t.clock(e.at)} {what} uploaded, hidden, {transport(e.data.get('target'))} ready for release."


def _failed(t: Teller, e: Event) -> str:
    step = text_of(e.data, "step")
    why = reason(text_of(e.data, "error"))
    where = f" at the {step} step" if step else ""
    return f"At {t.clock(e.at)} publishing failed{where}{f': {why}' if why else ''}."


def _purge(t: Teller, e: Event) -> str:
    purger = urlsplit(str(e.data.get("purger", ""))).scheme or "the cache"
    asked = f"At {t.clock(e.at)} the cache ({purger}) was asked to remove the previous version"
    if e.data.get("ok"):
        return f"{asked}; it agreed."
    detail = reason(text_of(e.data, "detail", "status"))
    return f"{asked}; it failed{f' ({detail})' if detail else ''}."


def _purge_done(t: Teller, e: Event) -> str:
    return (
        f"At {t.clock(e.at)} the cache was purged of {len(e.data.get('urls') or [])} address(es)."
    )


def _purge_failed(t: Teller, e: Event) -> str:
    why = reason(text_of(e.data, "error"))
    return f"At {t.clock(e.at)} purging the cache failed{f': {why}' if why else ''}."


def _remedy(t: Teller, e: Event) -> str:
    """An automatic attempt to put right what still showed the previous version."""
    paths = ", ".join(str(p) for p in e.data.get("paths") or []) or "the release's files"
    purge = e.kind == kinds.REMEDY_PURGE
    count = f"attempt {e.data.get('attempt', '?')} of {e.data.get('limit', '?')}"
    outcome = e.data.get("outcome")
    if outcome == "in-place":
        return (
            f"At {t.clock(e.at)} the new version of {paths} was found already in place on the "
            "web server, which still showed the previous version: it was still serving its own "
            "copy of the previous version, kept by a file cache or by a network drive that had "
            f"not yet seen the change ({count})."
        )
    if outcome == "done":
        done = (
            f"the web cache of {paths} was cleared again automatically"
            if purge
            else f"the new version of {paths} was put in place again automatically"
        )
        placed = ", ".join(str(p) for p in e.data.get("in_place") or [])
        already = f"; {placed} was in place already" if placed else ""
        return (
            f"At {t.clock(e.at)} {done}, as it still showed the previous version ({count})"
            f"{already}."
        )
    tried = (
        f"clearing the web cache of {paths} again automatically"
        if purge
        else f"putting the new version of {paths} in place again automatically"
    )
    why = reason(text_of(e.data, "error"))
    return (
        f"At {t.clock(e.at)} {tried}, as it still showed the previous version, failed ({count})"
        f"{f': {why}' if why else ''}."
    )


def _all_live(t: Teller, e: Event) -> str:
    late = (e.at - t.release.release_at).total_seconds()
    after = f", {fmt_duration(late)} after the release time" if late >= 1 else ""
    return f"At {t.clock(e.at)} the automatic checks confirmed the new version was live on every address they check{after}."


def _gave_up(t: Teller, e: Event) -> str:
    missing = ", ".join(str(u) for u in e.data.get("not_live") or [])
    return (
        f"At {t.clock(e.at)} the automatic checks stopped; still not live: {missing or 'unknown'}."
    )


def _watch_ended(t: Teller, e: Event) -> str:
    ended = e.data.get("reason")
    missing = ", ".join(str(u) for u in e.data.get("not_live") or []) or "unknown"
    stopped = f"At {t.clock(e.at)} the automatic checks stopped"
    if ended == "all-live":
        return f"{stopped}: every address they check was live."
    if ended == "stopped":
        why = text_of(e.data, "why")
        asked = f", as {text_of(e.data, 'by') or 'a person'} asked{f' ({why})' if why else ''}"
        return f"{stopped}{asked}; still not live: {missing}."
    after = fmt_duration(float(e.data.get("after_s") or 0))
    return (
        f"{stopped} {after} after the files were published (their limit); still not live: "
        f"{missing}."
    )


def _watch_stopped(t: Teller, e: Event) -> str:
    why = text_of(e.data, "reason")
    return (
        f"At {t.clock(e.at)} {who(e)} asked for the automatic checks to stop"
        f"{f': {why}' if why else ''}."
    )


def _alert(t: Teller, e: Event) -> str:
    channel = text_of(e.data, "channel")
    how = f" by {channel}" if channel else ""
    return f"At {t.clock(e.at)} an automatic alert was sent to {text_of(e.data, 'to') or 'the team'}{how}."


def _ack(t: Teller, e: Event) -> str:
    return f"At {t.clock(e.at)} {text_of(e.data, 'by') or who(e)} acknowledged the alert."


def _informed(t: Teller, e: Event) -> str:
    name, role = text_of(e.data, "name", "text"), text_of(e.data, "role")
    whom = f"{name} ({role})" if name and role else name or role or "a colleague"
    how = text_of(e.data, "how")
    return f"At {t.clock(e.at)} {who(e)} informed {whom}{f' by {how}' if how else ''}."


def _action(t: Teller, e: Event) -> str:
    return f"At {t.clock(e.at)} {who(e)} {text_of(e.data, 'what', 'text') or 'took action'}."


def _notice(t: Teller, e: Event) -> str:
    url, text = text_of(e.data, "url"), text_of(e.data, "text")
    where = f" on {url}" if url else " on the website"
    said = f": “{text}.”" if text else "."
    return f"At {t.clock(e.at)} a notice alerting users was published{where}{said}"


def _notice_replaced(t: Teller, e: Event) -> str:
    said = text_of(e.data, "text")
    return f"At {t.clock(e.at)} the notice to users was replaced{f': “{said}”' if said else ''}."


def _notice_failed(t: Teller, e: Event) -> str:
    what = "replaced" if e.data.get("replacing") else "published"
    why = reason(text_of(e.data, "error"))
    return (
        f"At {t.clock(e.at)} the notice to users could not be {what}"
        f"{f' ({why})' if why else ''}; IT was alerted."
    )


def _gate_failed(t: Teller, e: Event) -> str:
    what = text_of(e.data, "what", "gate") or "a held step"
    why = reason(text_of(e.data, "error"))
    then = "IT was alerted" if e.data.get("final") else "it is tried again"
    return f"At {t.clock(e.at)} {what} could not be sent{f' ({why})' if why else ''}; {then}."


def _preflight(t: Teller, e: Event) -> str:
    at_risk = e.data.get("risks") if isinstance(e.data.get("risks"), list) else []
    if e.data.get("ok") or not at_risk:
        return f"At {t.clock(e.at)} preflight found no address that would hide the update."
    count = "one address" if len(at_risk) == 1 else f"{len(at_risk)} addresses"
    return (
        f"At {t.clock(e.at)} preflight found {count} that might still show the previous version "
        "after the release time."
    )


def _held(t: Teller, e: Event) -> str:
    what = text_of(e.data, "what", "text", "gate") or "the next step"
    if not by_a_person(e):
        return (
            f"At {t.clock(e.at)} {what} was held back automatically until the statistics were live."
        )
    return f"At {t.clock(e.at)} {who(e)} held back {what} until the statistics were live."


def _released(t: Teller, e: Event) -> str:
    what = text_of(e.data, "what", "text", "gate") or "the held step"
    if not by_a_person(e):
        return f"At {t.clock(e.at)} {what} went ahead automatically, once the statistics were live."
    return f"At {t.clock(e.at)} {who(e)} let {what} go ahead."


def _exposed(t: Teller, e: Event) -> str:
    """Where the public would find the file once released, never its hidden staged name."""
    where = public_address(t.release, e.data)
    at = f" (the file {where})" if where else ""
    return (
        f"At {t.clock(e.at)} a copy of the statistics waiting for the release time could be "
        f"opened on the public website{at}."
    )


def _contained(t: Teller, e: Event) -> str:
    count = len(e.data.get("urls") or [])
    what = "copies" if count > 1 else "copy"
    return (
        f"At {t.clock(e.at)} the {what} waiting for the release time could no longer be opened on "
        "the public website."
    )


def _pra(t: Teller, e: Event) -> str:
    verb = (
        "was given pre-release access"
        if e.kind == kinds.PRA_GRANTED
        else "opened the statistics under pre-release access"
    )
    return f"At {t.clock(e.at)} {text_of(e.data, 'name') or who(e)} {verb}."


def _statement(t: Teller, e: Event) -> str:
    return f"At {t.clock(e.at)} a statement about the breach was published at {text_of(e.data, 'url') or 'the website'}."


def _synced(t: Teller, e: Event) -> str | None:
    changes = [c for c in e.data.get("changes") or [] if isinstance(c, Mapping)]
    moved = [c for c in changes if c.get("field") == "release_at"]
    if not moved:
        return None
    why = text_of(moved[0], "reason")
    return (
        f"At {t.clock(e.at)} the release time was changed from {moved[0].get('old')} to "
        f"{moved[0].get('new')}{f' ({why})' if why else ''}."
    )


def _note(t: Teller, e: Event) -> str:
    said = text_of(e.data, "text") or "(no text)"
    if not by_a_person(e):
        return f"At {t.clock(e.at)} it was noted automatically: {said}."
    return f"At {t.clock(e.at)} {who(e)} noted: {said}."


def _report_edited(t: Teller, e: Event) -> str:
    section = text_of(e.data, "title", "section") or "a section"
    return f"At {t.clock(e.at)} {who(e)} wrote “{section}” in the breach report."


REPORT_STEPS: Mapping[str, str] = {
    "draft": "returned the breach report to draft",
    "approved": "approved the breach report",
    "sent": "recorded that the breach report was sent to the regulator",
    "published": "recorded that the breach report was published",
}


def _report_status(t: Teller, e: Event) -> str:
    step = REPORT_STEPS.get(str(e.data.get("status")), "changed the breach report's status")
    sent = f" on {e.data['sent_on']}" if e.data.get("sent_on") else ""
    return f"At {t.clock(e.at)} {who(e)} {step}{sent}."


INQUIRY: Mapping[str, str] = {
    kinds.PROBLEM_NOTICED: "noticed the problem",
    kinds.INVESTIGATION_FOUND: "recorded a finding of the investigation",
    kinds.UAT_CHECKED: "recorded whether the test (UAT) environment shows the fault",
    kinds.ROOT_CAUSE: "recorded the state of the root cause",
    kinds.TEST_PLANNED: "recorded a planned test",
    kinds.REHEARSED: "rehearsed the release on the live website with a test file",
}


def _inquiry(t: Teller, e: Event) -> str:
    return (
        f"At {t.clock(e.at)} {who(e)} {INQUIRY[e.kind]}: {text_of(e.data, 'text') or '(no text)'}."
    )


TELLERS: Mapping[str, Callable[[Teller, Event], str | None]] = {
    **dict.fromkeys(INQUIRY, _inquiry),
    kinds.PUBLISH_STAGED: _staged,
    kinds.PUBLISH_FLIPPED: _flipped,
    kinds.PUBLISH_EXTERNAL: _external,
    kinds.PUBLISH_FAILED: _failed,
    kinds.EMBARGO_EXPOSED: _exposed,
    kinds.EMBARGO_CONTAINED: _contained,
    kinds.PURGE_ATTEMPT: _purge,
    kinds.PURGE_DONE: _purge_done,
    kinds.PURGE_FAILED: _purge_failed,
    kinds.REMEDY_PURGE: _remedy,
    kinds.REMEDY_REFLIP: _remedy,
    kinds.VERIFY_ALL_LIVE: _all_live,
    kinds.VERIFY_GAVE_UP: _gave_up,
    kinds.WATCH_ENDED: _watch_ended,
    kinds.WATCH_STOPPED: _watch_stopped,
    kinds.ALERT_SENT: _alert,
    kinds.ALERT_ACKNOWLEDGED: _ack,
    kinds.PERSON_INFORMED: _informed,
    kinds.ACTION_TAKEN: _action,
    kinds.NOTICE_PUBLISHED: _notice,
    kinds.NOTICE_REPLACED: _notice_replaced,
    kinds.NOTICE_FAILED: _notice_failed,
    kinds.PREFLIGHT_CHECKED: _preflight,
    kinds.GATE_HELD: _held,
    kinds.GATE_FAILED: _gate_failed,
    kinds.GATE_RELEASED: _released,
    kinds.PRA_GRANTED: _pra,
    kinds.PRA_OPENED: _pra,
    kinds.STATEMENT_PUBLISHED: _statement,
    kinds.RELEASE_SYNCED: _synced,
    kinds.NOTE: _note,
    kinds.REPORT_EDITED: _report_edited,
    kinds.REPORT_STATUS: _report_status,
}
# told elsewhere (the clock note) or not worth a sentence
SILENT = frozenset(
    {
        kinds.CLOCK_OFFSET,
        kinds.PUBLISH_WAITING,
        kinds.PUBLISH_DONE,
        kinds.PUBLISH_DISCARDED,
        kinds.VERIFY_FIRST_LIVE,
        kinds.REPORT_EDITED,
        kinds.REPORT_STATUS,
    }
)


LABELS: Mapping[str, str] = {
    kinds.RELEASE_SYNCED: "Release changed",
    kinds.CLOCK_OFFSET: "Clock measured",
    kinds.PREFLIGHT_CHECKED: "Preflight",
    kinds.PUBLISH_STAGED: "Staged",
    kinds.PUBLISH_DISCARDED: "Staged copies removed",
    kinds.PUBLISH_WAITING: "Waiting for the release time",
    kinds.PUBLISH_FLIPPED: "Went live",
    kinds.PUBLISH_EXTERNAL: "Release time (published by another system)",
    kinds.PUBLISH_FAILED: "Publishing failed",
    kinds.PURGE_ATTEMPT: "Cache purge asked",
    kinds.PURGE_DONE: "Cache purged",
    kinds.PURGE_FAILED: "Cache purge failed",
    kinds.REMEDY_PURGE: "Cache purged again",
    kinds.REMEDY_REFLIP: "New version put in place again",
    kinds.PUBLISH_DONE: "Publishing finished",
    kinds.EMBARGO_EXPOSED: "Staged copy exposed",
    kinds.EMBARGO_CONTAINED: "Staged copy no longer exposed",
    kinds.VERIFY_RESULT: "Checked",
    kinds.VERIFY_FIRST_LIVE: "First seen live",
    kinds.VERIFY_ALL_LIVE: "Live everywhere",
    kinds.VERIFY_GAVE_UP: "Stopped checking",
    kinds.WATCH_STOPPED: "Checking stopped by a person",
    kinds.WATCH_ENDED: "Stopped checking",
    kinds.ALERT_SENT: "Alert sent",
    kinds.ALERT_ACKNOWLEDGED: "Alert acknowledged",
    kinds.PERSON_INFORMED: "Person informed",
    kinds.ACTION_TAKEN: "Action taken",
    kinds.NOTICE_PUBLISHED: "Notice published",
    kinds.NOTICE_REPLACED: "Notice replaced",
    kinds.NOTICE_FAILED: "Notice not published",
    kinds.GATE_HELD: "Gate held",
    kinds.GATE_FAILED: "Gate not sent",
    kinds.GATE_RELEASED: "Gate released",
    kinds.PRA_GRANTED: "Pre-release access given",
    kinds.PRA_OPENED: "Opened under pre-release access",
    kinds.STATEMENT_PUBLISHED: "Statement published",
    kinds.PROBLEM_NOTICED: "Problem noticed",
    kinds.INVESTIGATION_FOUND: "Investigation finding",
    kinds.UAT_CHECKED: "Test (UAT) environment checked",
    kinds.ROOT_CAUSE: "Root cause",
    kinds.TEST_PLANNED: "Test planned",
    kinds.REHEARSED: "Rehearsed on the live website",
    kinds.NOTE: "Note",
    kinds.REPORT_EDITED: "Breach report written",
    kinds.REPORT_STATUS: "Breach report status",
}


def label(kind: str) -> str:
    """The kind of an event in plain words ("Staged", "Went live", "Gate held"); a kind without
    one of its own is spelt out from its name ("incident.opened" → "Incident opened")."""
    known = LABELS.get(kind)
    if known:
        return known
    return (
        kind.replace(".", " ").replace("-", " ").replace("_", " ").strip().capitalize() or "Event"
    )


def by_a_person(event: Event) -> bool:
    """Entered by a person (``timeline-add``, ``watch-stop``, ...), not recorded by onthedot."""
    return event.source != "onthedot" or bool(event.data.get("by"))


def when(event: Event, release: Release, zone: Zone = LONDON) -> str:
    """When it happened: to the second for what onthedot recorded; to the minute for a person's
    entry, with when it was entered if that was another minute ("09:35, entered at 11:50")."""
    teller = Teller(release, zone)
    if not by_a_person(event):
        return teller.clock(event.at)
    shown = teller.minute(event.at)
    entered = event.recorded_at
    if entered is None or teller.minute(entered) == shown:
        return shown
    return f"{shown}, entered at {teller.minute(entered)}"


def describe(event: Event, release: Release, zone: Zone = LONDON) -> str:
    """One sentence for one event (the timeline listing uses it for every kind)."""
    teller = Teller(release, zone)
    if event.kind == kinds.VERIFY_RESULT:
        obs = read_result(event.data, event.at)
        return (
            _observed(teller, obs, 1)
            if obs
            else f"At {teller.clock(event.at)} an unreadable result was recorded."
        )
    tell = TELLERS.get(event.kind)
    told = tell(teller, event) if tell else None
    if told:
        return told
    if not by_a_person(event):
        return f"At {teller.clock(event.at)} “{label(event.kind)}” was recorded automatically."
    return f"At {teller.clock(event.at)} {who(event)} recorded “{label(event.kind)}”."


RUN_TOLD_WHOLE = 10
"""A run of more per-address checks than this on a timeline listing (``told``) is one line."""

_RUN_FOUND = {  # what the checks found of {n} addresses at {place}
    "live": "found the new version of {n} on {place}",
    "early": "found the new version of {n} on {place} before the release time",
    "stale": "found {place} still serving the previous version of {n}",
    "missing": "were answered “not found” by {place} for {n}",
    "error": "were answered with an error by {place} for {n}",
    "wrong-file": "found {place} linking a file with other contents than the release's for {n}",
    "embargoed": "found {n} not yet published on {place}, rightly before the release time",
}


@dataclass(frozen=True, slots=True)
class Told:
    """One line of a timeline listing: one event, or a run of per-address checks told together
    (``events`` of them, from ``first`` to ``last``)."""

    first: Event
    last: Event
    events: int
    sentence: str
    kinds: tuple[str, ...]  # of its events, each once, in the order met
    actors: tuple[str, ...]  # who recorded them (the service, a remote agent), the same way


def told(events: Sequence[Event], release: Release, zone: Zone = LONDON) -> list[Told]:
    """The lines of a timeline listing, in order: each event in its own sentence (``describe``),
    except a run of more than ``RUN_TOLD_WHOLE`` per-address checks one after another (their
    results and first sights of live) that found the same thing at the same place, told in one:
    a sweep of 6,000 addresses is 12,000 events, every one in the record, one line here."""
    lines: list[Told] = []
    run: list[Event] = []
    key: tuple[str, bool] | None = None

    def close() -> None:
        if len(run) > RUN_TOLD_WHOLE and key is not None:
            sentence = _run_sentence(run, key, release, zone)
            met = tuple(dict.fromkeys(e.kind for e in run))
            actors = tuple(dict.fromkeys(e.actor for e in run))
            lines.append(Told(run[0], run[-1], len(run), sentence, met, actors))
        else:
            lines.extend(_alone(e, release, zone) for e in run)
        run.clear()

    for event in events:
        found = _routine(event)
        if found is None or found != key:
            close()
            key = found
        if found is None:
            lines.append(_alone(event, release, zone))
        else:
            run.append(event)
    close()
    return lines


def _alone(event: Event, release: Release, zone: Zone) -> Told:
    return Told(event, event, 1, describe(event, release, zone), (event.kind,), (event.actor,))


def _routine(event: Event) -> tuple[str, bool] | None:
    """What a per-address check found and where (status, behind the cache), or None for any
    other event: a first sight of live goes with the live results it follows."""
    status: Any
    if event.kind == kinds.VERIFY_FIRST_LIVE:
        status = Status.LIVE.value
    elif event.kind == kinds.VERIFY_RESULT:
        status = event.data.get("status")
    else:
        return None
    vantage = event.data.get("vantage")
    if not isinstance(status, str) or status not in _RUN_FOUND or not isinstance(vantage, str):
        return None
    return status, origin_vantage(vantage)


def _run_sentence(run: Sequence[Event], key: tuple[str, bool], release: Release, zone: Zone) -> str:
    teller = Teller(release, zone)
    status, origin = key
    results = [e for e in run if e.kind == kinds.VERIFY_RESULT]
    firsts = len(run) - len(results)
    addresses = {e.data.get("url") for e in results or run}
    vantages = {e.data.get("vantage") for e in results or run}
    start, end = teller.clock(run[0].at), teller.clock(run[-1].at)
    at = f"At {start}" if start == end else f"From {start} to {end}"
    place = _place(origin)
    count = f"{number(len(addresses))} address{'es' if len(addresses) != 1 else ''}"
    if len(vantages) > 1:
        count += f" from {number(len(vantages))} vantage points"
    if not results:  # (first sights alone: the results before them said live already)
        return f"{at} the automatic checks first saw the new version of {count} on {place}."
    found = _RUN_FOUND[status].format(n=count, place=place)
    seen = ""
    if firsts:
        seen = (
            ", each seen there for the first time"
            if firsts == len(results)
            else f", {number(firsts)} of them seen there for the first time"
        )
    return f"{at} the automatic checks {found}{seen}."


# --- verification results -------------------------------------------------------------------------


def cache_facts(cache: Mapping[str, Any]) -> str:
    """ "Varnish, Age 2,940 s, max-age 3,600 s" from a result's ``cache`` (what is known of it)."""
    control = cache.get("cache_control") if isinstance(cache.get("cache_control"), Mapping) else {}
    assert isinstance(control, Mapping)
    max_age = cache.get("max_age") or control.get("s-maxage") or control.get("max-age")
    parts = [str(cache["product"]).capitalize()] if cache.get("product") else []
    if cache.get("age") is not None:
        parts.append(f"Age {number(cache['age'])} s")
    if max_age is not None:
        parts.append(f"max-age {number(max_age)} s")
    return ", ".join(parts)


def _observed(t: Teller, obs: CheckResult, count: int) -> str:
    at = f"At {t.clock(obs.checked_at)}"
    where = f" at {count} vantage points" if count > 1 else ""
    origin = is_origin(obs)
    place = _place(origin)
    found_at = f" (at {obs.cache['found_at']})" if obs.cache.get("found_at") else ""
    if obs.status == Status.LIVE:
        return f"{at} the automatic checks found the new version of {obs.url}{found_at} on {place}{where}."
    if obs.status == Status.WRONG_FILE:
        return f"{at} {place} linked a file with other contents than the release's in place of {obs.url}{found_at}{where}."
    if obs.status == Status.STALE:
        return f"{at} the automatic checks found that {place} was still serving the previous version of {obs.url}{where}{_why_stale(obs, origin)}."
    if obs.status == Status.MISSING:
        code = f" ({obs.http_status})" if obs.http_status else ""
        return f"{at} {place} answered “not found”{code} for {obs.url}{where}."
    if obs.status == Status.ERROR:
        why = f" ({obs.diagnosis.rstrip('.')})" if obs.diagnosis else ""
        return f"{at} {place} answered with an error for {obs.url}{where}{why}."
    if obs.status == Status.EARLY:
        return f"{at}, before the release time, the new version of {obs.url}{found_at} could already be seen on {place}{where}."
    return (
        f"{at} the automatic checks found that {obs.url} did not yet show the new version{where}."
    )


def _place(origin: bool) -> str:
    """Where a check looked: behind the cache (an origin vantage point), or as the public does."""
    return "the web server behind the cache" if origin else "the public website"


def _why_stale(obs: CheckResult, origin: bool) -> str:
    if origin or obs.layer == "origin":
        return ": the web server itself still had the previous version"
    facts = cache_facts(obs.cache)
    shown = f" ({facts})" if facts else ""
    if obs.layer == "cache":
        return (
            f" from its cache{shown}, although the web server behind it already had the new version"
        )
    return shown


@dataclass
class _Group:
    first: CheckResult
    count: int = 1


def _groups(results: Sequence[CheckResult]) -> list[_Group]:
    """Only changes of status per (URL, vantage point); the same change within a minute told once."""
    last: dict[tuple[str, str], Status] = {}
    groups: list[_Group] = []
    for obs in sorted(results, key=lambda o: o.checked_at):
        key = (obs.url, obs.vantage)
        if last.get(key) == obs.status:
            continue
        last[key] = obs.status
        prev = groups[-1] if groups else None
        if prev and _same_change(prev.first, obs):
            prev.count += 1
            continue
        groups.append(_Group(obs))
    return groups


def _same_change(a: CheckResult, b: CheckResult) -> bool:
    origin_a, origin_b = is_origin(a), is_origin(b)
    close = (b.checked_at - a.checked_at).total_seconds() < 60
    return a.url == b.url and a.status == b.status and origin_a == origin_b and close


def account(
    events: Sequence[Event],
    release: Release,
    results: Sequence[CheckResult] | None = None,
    zone: Zone = LONDON,
) -> list[str]:
    """The sentences of the account, in time order.

    ``results`` (timeline and stored checks merged) replace the timeline's own verify.result
    events when given.
    """
    teller = Teller(release, zone)
    if results is None:
        results = [
            o for e in events if e.kind == kinds.VERIFY_RESULT if (o := read_result(e.data, e.at))
        ]
    items: list[tuple[dt.datetime, int, str]] = []
    for index, event in enumerate(events):
        if event.kind in SILENT or event.kind == kinds.VERIFY_RESULT:
            continue
        if event.kind == kinds.WATCH_ENDED and event.data.get("reason") == "all-live":
            continue  # (told by verify.all-live)
        told = describe(event, release, zone)
        items.append((event.at, index, told))
    for group in _groups(results):
        items.append((group.first.checked_at, -1, _observed(teller, group.first, group.count)))
    items.sort(key=lambda item: (item[0], item[1]))
    return [text for _, _, text in items]
