"""The facts a report states, as sentences.

The body is written as a statistician writes to the regulator: times to the minute, in time
order, what was observed in plain English, no product or tool names. The annexes keep the exact
record: every event to the second, the clock offset and how it was measured, and what the
caches reported, for IT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from onthedot.calendar.timeutil import Zone, fmt_date, get_zone, to_local
from onthedot.model import CheckResult, Status, and_joined
from onthedot.record import kinds
from onthedot.record.breaches import Breach, Evidence, all_live_at, is_origin, public
from onthedot.record.narrative import (
    TELLERS,
    account,
    by_a_person,
    cache_facts,
    fmt_duration,
    text_of,
    who,
)
from onthedot.record.report.assess import Assessment
from onthedot.record.report.minutes import Minutes, floor, span
from onthedot.record.timeline import Event

CAUSES: Mapping[str, str] = {
    "cache": (
        "the web server had the new version, but the web cache in front of it kept showing the "
        "previous one"
    ),
    "upload": "the web server itself did not have the new version",
    "not found": "the website answered “not found” for the new files",
    "server error": "the website answered with errors",
    "scheduling": "the files were not put live at the release time",
    "publish failed": "publishing the files failed",
    "staging exposed": "the new files could be reached before the release time",
    "unannounced change": "the release time was changed without a recorded, agreed change",
    "pre-release access": "pre-release access was given outside the rules",
    "unknown": "the record does not show which part of the website served the previous version",
    "not published": "the system that publishes the release had not published it",
    "published early": "the system that publishes the release published it before the release time",
    "wrong file": "a file other than the release's was published in its place",
}
#: the same, for the public (the statement's one clause)
PUBLIC_CAUSES: Mapping[str, str] = {
    "cache": "a fault in our website meant that users still saw the previous version after the "
    "new one had been published",
    "upload": "the new files did not reach our website in time",
    "not found": "a fault in our website meant that the new files could not be found",
    "server error": "our website was not working properly",
    "scheduling": "the statistics were not put live at the announced time",
    "publish failed": "publishing the statistics on our website failed",
    "staging exposed": "a copy waiting for the release time could be opened on our website",
    "not published": "the statistics were not published at the announced time",
    "published early": "the statistics were published before the announced time",
    "wrong file": "a file other than the new one was published with the statistics",
}
#: what people did, told in the body's account (the rest is in the annex)
PEOPLE = (
    kinds.ALERT_ACKNOWLEDGED,
    kinds.PERSON_INFORMED,
    kinds.ACTION_TAKEN,
    kinds.NOTICE_PUBLISHED,
    kinds.GATE_HELD,
    kinds.GATE_RELEASED,
    kinds.STATEMENT_PUBLISHED,
    kinds.PRA_GRANTED,
    kinds.PRA_OPENED,
    kinds.NOTE,
)
GAP = dt.timedelta(minutes=15)
"""A pause in the checks longer than this is said, so a count of checks never hides it."""


def zone_name(zone: Zone, local: dt.datetime) -> str:
    key = get_zone(zone).key
    return (
        f"UK time, {local.tzname()}" if key == "Europe/London" else f"{key} time, {local.tzname()}"
    )


def main_breach(a: Assessment) -> Breach | None:
    return next((b for b in a.breaches if b.kind == "late"), a.breaches[0] if a.breaches else None)


# --- the body ------------------------------------------------------------------------------------


def clock_note() -> str:
    return (
        "Times are on that day unless a date is given, to the minute; Annex A gives each time to "
        "the second and how the clock was checked."
    )


def account_paragraphs(a: Assessment, zone: Zone) -> list[str]:
    """What happened, in time order: the publication, what the public saw, what people did."""
    ev, told = a.evidence, Minutes(a.release, zone)
    if not ev.events:
        return ["[Nothing was recorded for this release.]"]
    items = [(e.at, _person_sentence(told, e)) for e in ev.events if _told(e)]
    items += _first_alerts(ev.of(kinds.ALERT_SENT), told)
    items += [
        (e.at, f"At {told.clock(e.at)} the web cache was cleared automatically.")
        for e in ev.of(kinds.PURGE_DONE)
    ]
    items += [
        (e.at, f"At {told.clock(e.at)} clearing the web cache automatically failed.")
        for e in ev.of(kinds.PURGE_FAILED)
    ]
    items += [
        (e.at, f"At {told.clock(e.at)} publishing the files failed.")
        for e in ev.of(kinds.PUBLISH_FAILED)
    ]
    items.sort(key=lambda item: item[0])
    return [*_published(a, told), *_observed(a, told), *(text for _, text in items)]


ROLES = {
    "statistician": "the lead statistician",
    "head_of_profession": "the Head of Profession for Statistics",
    "publishing": "the publishing team",
    "it": "IT",
}
"""Who an automatic alert went to, by the role it was sent for ([notify])."""


def alerted(event: Event) -> str:
    """Whom an alert went to, in words: its role, else the address recorded (an older record)."""
    role = ROLES.get(str(event.data.get("role") or ""))
    return role or text_of(event.data, "to") or "the team"


def _first_alerts(sent: Sequence[Event], told: Minutes) -> list[tuple[dt.datetime, str]]:
    """Whom the first automatic alerts went to: every role alerted in the minute of the first."""
    if not sent:
        return []
    first = sent[0]
    minute = told.clock(first.at)
    whom = list(dict.fromkeys(alerted(e) for e in sent if told.clock(e.at) == minute))
    if len(whom) == 1:
        return [(first.at, f"At {minute} an automatic alert was sent to {whom[0]}.")]
    return [(first.at, f"At {minute} automatic alerts were sent to {and_joined(whom)}.")]


def _told(event: Event) -> bool:
    """Told in the account: what people did, and the held steps and notice handled
    automatically; not the automatic notes (they are for the record, in Annex A)."""
    return event.kind in PEOPLE and (event.kind != kinds.NOTE or by_a_person(event))


def _person_sentence(told: Minutes, event: Event) -> str:
    if not by_a_person(event) and event.kind in (kinds.GATE_HELD, kinds.GATE_RELEASED):
        what = text_of(event.data, "what", "gate") or "the held step"
        if event.kind == kinds.GATE_HELD:
            return f"At {told.clock(event.at)} {what} was held back automatically until the statistics were live."
        return f"At {told.clock(event.at)} {what} went ahead automatically, once the statistics were live."
    tell = TELLERS[event.kind]
    return tell(told, event) or f"At {told.clock(event.at)} {who(event)} recorded a note."


def _published(a: Assessment, told: Minutes) -> list[str]:
    if a.release.published_by is not None:
        return _published_by(a, told, a.release.published_by)
    flipped = a.evidence.of(kinds.PUBLISH_FLIPPED)
    if not flipped:
        return []
    at = flipped[0].at
    late = floor(at) - floor(a.release.release_at)
    after = (
        f", {fmt_duration(late.total_seconds())} after the release time"
        if late >= dt.timedelta(minutes=1)
        else ""
    )
    return [f"The new version was put on the web server at {told.clock(at)}{after}."]


def _published_by(a: Assessment, told: Minutes, who: str) -> list[str]:
    """What the system that publishes the release did, and when, as the checks saw it."""
    seen = [o for o in public(a.evidence) if o.status in (Status.LIVE, Status.EARLY)]
    said = f"{who} publishes this release"
    if not seen:
        return [f"{said}. The automatic checks did not see the new version published."]
    first = min(o.checked_at for o in seen)
    offset = (floor(first) - floor(a.release.release_at)).total_seconds()
    if offset < 0:
        when = f", {fmt_duration(-offset)} before the release time"
    elif offset >= 60:
        when = f", {fmt_duration(offset)} after the release time"
    else:
        when = ""
    sentences = [f"{said}: it was first seen published at {told.clock(first)}{when}."]
    wrong = [o for o in public(a.evidence) if o.status == Status.WRONG_FILE]
    if wrong:
        where = wrong[0].cache.get("found_at") or wrong[0].url
        sentences.append(
            f"From {told.clock(wrong[0].checked_at)} the published page linked a file with other "
            f"contents than the release's ({where})."
        )
    return sentences


def _observed(a: Assessment, told: Minutes) -> list[str]:
    """ "Checks of the public website from 09:30 showed the previous version until 10:35; the web
    server itself had the new version from 09:30." """
    main = main_breach(a)
    if (
        main is None
        or main.kind not in ("late", "stale", "missing", "error", "wrong-file")
        or main.started_at is None
    ):
        return []
    bad = _bad_checks(a.evidence, main)
    what = (
        "showed the previous version"
        if bad and all(o.status == Status.STALE for o in bad)
        else "did not show the new version"
    )
    until = (
        f"until {told.clock(main.ended_at)}"
        if main.ended_at
        else "and still did when this report was drafted"
    )
    return [
        f"Checks of the public website from {told.clock(main.started_at)} {what} {until}{_origin(a.evidence, main, told)}."
    ]


def _origin(ev: Evidence, main: Breach, told: Minutes) -> str:
    """What the web server behind the cache had: seen directly, or by the diagnosis of a stale
    result (the layer that served the previous version was the cache)."""
    since = [o for o in ev.results if main.started_at and o.checked_at >= main.started_at]
    had_new = [
        o
        for o in since
        if (is_origin(o) and o.status == Status.LIVE)
        or (o.status == Status.STALE and o.layer == "cache")
    ]
    if had_new:
        first = min(o.checked_at for o in had_new)
        return f"; the web server itself had the new version from {told.clock(first)}"
    if any(o.status == Status.STALE and (is_origin(o) or o.layer == "origin") for o in since):
        return "; the web server itself still had the previous version"
    return ""


def _bad_checks(ev: Evidence, main: Breach) -> list[CheckResult]:
    start, end = main.started_at, main.ended_at
    assert start is not None
    return sorted(
        (
            o
            for o in public(ev)
            if o.checked_at >= start
            and o.status != Status.LIVE
            and (end is None or o.checked_at < end)
        ),
        key=lambda o: o.checked_at,
    )


def noticed(a: Assessment, zone: Zone) -> list[str]:
    """Who noticed the problem and how: as people recorded it, else a prompt."""
    told = Minutes(a.release, zone)
    found = [
        f"{who(e)} noticed the problem at {told.clock(e.at)}: {text_of(e.data, 'text') or 'no detail was recorded'}."
        for e in a.evidence.of(kinds.PROBLEM_NOTICED)
    ]
    if found:
        return found
    alert = a.evidence.of(kinds.ALERT_SENT)
    hint = f", or the automatic alert sent at {told.clock(alert[0].at)}" if alert else ""
    return [
        "[To complete: who first noticed that the statistics were not available, and how (for "
        f"example a routine check of the website{hint}).]"
    ]


def summary(a: Assessment, zone: Zone) -> list[str]:
    told = Minutes(a.release, zone)
    if not a.breaches:
        live = all_live_at(a.evidence)
        when = f" It was live on every address checked at {told.clock(live)}." if live else ""
        return [f"No breach of the Code's release practices was found for this release.{when}"]
    out = []
    for b in a.breaches:
        cause = CAUSES.get(b.cause.split(";")[0])
        why = f" Cause: {cause}." if cause else ""
        out.append(f"{b.title} ({', '.join(b.practices)}){_span(told, b)}.{why}")
    return out


def _span(told: Minutes, breach: Breach) -> str:
    if breach.started_at is None:
        return ""
    start = told.clock(breach.started_at)
    if breach.ended_at is None:
        return f" from {start}, still not resolved when this report was drafted"
    return f" for {span(breach.started_at, breach.ended_at)}, from {start} to {told.clock(breach.ended_at)}"


# --- impact ----------------------------------------------------------------------------------------


def impact_facts(a: Assessment, zone: Zone) -> list[str]:
    if not a.breaches:
        return ["No breach was found, so there is no impact to report."]
    ev, told, main = a.evidence, Minutes(a.release, zone), main_breach(a)
    assert main is not None
    facts = [_availability(main, told), _coverage(ev, main, told), _places(ev, main)]
    if not [o for o in public(ev) if o.checked_at >= ev.release.release_at]:
        facts.append("[No check of the public website was recorded after the release time.]")
    urls = sorted({u for b in a.breaches for u in b.urls})
    if urls:
        facts.append(f"Address{'es' if len(urls) > 1 else ''} affected: {', '.join(urls)}.")
    facts.append(_pra(ev))
    facts += [_held(e, ev, told) for e in ev.of(kinds.GATE_HELD)]
    facts += [
        f"Users were told by a notice on the website at {told.clock(e.at)}."
        for e in ev.of(kinds.NOTICE_PUBLISHED)
    ]
    return [f for f in facts if f]


def _availability(main: Breach, told: Minutes) -> str:
    if (
        main.kind not in ("late", "stale", "missing", "error", "wrong-file")
        or main.started_at is None
    ):
        return ""
    return f"The statistics were not available to all users{_span(told, main)}."


def _coverage(ev: Evidence, main: Breach, told: Minutes) -> str:
    """How often the public website was looked at while it was wrong, and any long pause: "28
    checks at 09:30" never reads as an hour of checks."""
    if main.started_at is None:
        return ""
    bad = _bad_checks(ev, main)
    if not bad:
        return ""
    times = list(dict.fromkeys(told.clock(o.checked_at) for o in bad))
    when = (
        f"between {times[0]} and {times[-1]}{_pause(bad, told)}"
        if len(times) > 6
        else f"at {and_joined(times)}"
    )
    count = {1: "once", 2: "twice"}.get(len(bad), f"{len(bad)} times")
    what = (
        "showed the previous version"
        if all(o.status == Status.STALE for o in bad)
        else "did not show the new version"
    )
    sentence = f"The public website was checked {count} {when} while the statistics were not available to all users, and {what} each time"
    later = [o for o in public(ev) if o.checked_at > bad[-1].checked_at and o.status == Status.LIVE]
    if not later:
        return sentence + "."
    live = later[0].checked_at
    if live - bad[-1].checked_at > GAP:
        return f"{sentence}; it was not checked again until {told.clock(live)}, when it showed the new version."
    return f"{sentence}; it first showed the new version at {told.clock(live)}."


def _pause(bad: Sequence[CheckResult], told: Minutes) -> str:
    """The longest pause between checks told as a range, when longer than ``GAP``: "between 09:30
    and 10:20" must not read as checks all along when most of them were made at 09:30."""
    gaps = [(b.checked_at - a.checked_at, a, b) for a, b in pairwise(bad)]
    longest = max(gaps, key=lambda g: g[0], default=None)
    if longest is None or longest[0] <= GAP:
        return ""
    _, before, after = longest
    return f" (none between {told.clock(before.checked_at)} and {told.clock(after.checked_at)})"


def _places(ev: Evidence, main: Breach) -> str:
    after = [o for o in public(ev) if main.started_at and o.checked_at >= main.started_at]
    places = {o.vantage for o in after}
    if len(places) < 2:
        return ""
    wrong = {o.vantage for o in after if o.status != Status.LIVE}
    return (
        f"The website was checked from {len(places)} places; {len(wrong)} of them saw the problem."
    )


def _pra(ev: Evidence) -> str:
    names = [p.name for p in ev.release.pre_release_access]
    names += [str(e.data.get("name")) for e in ev.of(kinds.PRA_GRANTED) if e.data.get("name")]
    names = list(dict.fromkeys(names))
    if not names:
        return "No pre-release access was recorded for this release."
    people = "1 person" if len(names) == 1 else f"{len(names)} people"
    return f"Pre-release access was recorded for {people}: {', '.join(names)}."


def _held(held: Event, ev: Evidence, told: Minutes) -> str:
    what = text_of(held.data, "what", "text", "gate") or "a step"
    went = [e for e in ev.of(kinds.GATE_RELEASED) if e.at >= held.at]
    after = f" and went ahead at {told.clock(went[0].at)}" if went else ""
    return f"{what[:1].upper()}{what[1:]} was held back from {told.clock(held.at)} until the statistics were live{after}."


# --- what people found after: investigation, UAT, root cause, planned tests ------------------------


def entries(a: Assessment, zone: Zone, kind: str) -> list[str]:
    told = Minutes(a.release, zone)
    return [
        f"{_sentence(text_of(e.data, 'text'))} (Recorded by {who(e)} at {told.clock(e.at)}.)"
        for e in a.evidence.of(kind)
        if text_of(e.data, "text")
    ]


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def investigation(a: Assessment, zone: Zone) -> list[str]:
    main = main_breach(a)
    cause = CAUSES.get(main.cause.split(";")[0]) if main else None
    shown = [f"The record shows where the fault was: {cause}."] if cause else []
    found = entries(a, zone, kinds.INVESTIGATION_FOUND)
    return shown + (
        found
        or ["[To complete: what the investigation found, who took part, and what they looked at.]"]
    )


def uat(a: Assessment, zone: Zone) -> list[str]:
    return entries(a, zone, kinds.UAT_CHECKED) or [
        "[To complete: whether the fault can be reproduced on the test (UAT) environment, and what "
        "that says about where the cause lies.]"
    ]


def root_cause(a: Assessment, zone: Zone) -> list[str]:
    return entries(a, zone, kinds.ROOT_CAUSE) or [
        "[To complete: whether the root cause has been found and fully addressed, and if not, "
        "what remains to be done.]"
    ]


def tests_planned(a: Assessment, zone: Zone) -> list[str]:
    """The tests planned, then the rehearsals made on the live website since the release time
    (``onthedot rehearse``), each as recorded."""
    return entries(a, zone, kinds.TEST_PLANNED) + rehearsals(a, zone) or [
        "[To complete: the tests planned to confirm the fix, who will run them, and when.]"
    ]


def rehearsals(a: Assessment, zone: Zone) -> list[str]:
    """Each rehearsal on the live website recorded after the release time (a test of the fix;
    one before it is not), with when, what it found and who ran it."""
    told = Minutes(a.release, zone)
    return [
        f"In a rehearsal on the live website at {told.minute(e.at)}, {text_of(e.data, 'text')}. "
        f"(Recorded by {who(e)}.)"
        for e in a.evidence.of(kinds.REHEARSED)
        if text_of(e.data, "text") and e.at >= a.release.release_at
    ]


# --- the annexes -----------------------------------------------------------------------------------


def exact_clock_note(ev: Evidence, zone: Zone) -> str:
    day = to_local(ev.release.release_at, zone)
    intro = (
        f"Times are {get_zone(zone).key} ({day.tzname()}) on {fmt_date(day.date())} unless a date "
        "is given, as recorded in the release's timeline; times of what people did are as they "
        "recorded them."
    )
    offsets = ev.of(kinds.CLOCK_OFFSET)
    if not offsets:
        return intro + " [No clock offset was recorded: the uncertainty of these times is unknown.]"
    nearest = min(offsets, key=lambda e: abs((e.at - ev.release.release_at).total_seconds()))
    offset = float(nearest.data.get("offset_s") or 0.0)
    uncertainty = float(nearest.data.get("uncertainty_s") or 0.0)
    reference = text_of(nearest.data, "reference") or "a reference clock"
    side = "ahead of" if offset >= 0 else "behind"
    bound = abs(offset) + uncertainty
    return (
        f"{intro} At {to_local(nearest.at, zone):%H:%M:%S} the clock of the computer that published "
        f"the release was compared with {reference}: it was {abs(offset):.3f} s {side} it "
        f"(±{uncertainty:.3f} s), so each time is within ±{bound:.3f} s."
    )


def timeline(a: Assessment, zone: Zone) -> list[str]:
    ev = a.evidence
    return account(ev.events, ev.release, ev.results, zone) or [
        "[Nothing was recorded in the timeline of this release.]"
    ]


def for_it(a: Assessment, details: Iterable[str]) -> list[str]:
    """What IT needs: what the caches said, the checks made, and the technical version of each
    suggested change."""
    ev = a.evidence
    after = [o for o in public(ev) if o.checked_at >= ev.release.release_at]
    facts = []
    if after:
        bad = [o for o in after if o.status != Status.LIVE]
        vantages = sorted({o.vantage for o in after})
        wrong = sorted({o.vantage for o in bad})
        where = (
            f", seen from {len(wrong)} of the {len(vantages)} places they were made from "
            f"({', '.join(wrong) or 'none'})"
            if len(vantages) > 1
            else ""
        )
        facts.append(
            f"{len(after)} checks were made of the public addresses after the release time; "
            f"{len(bad)} found the new version missing{where}."
        )
    stale = next((o for o in after if o.status == Status.STALE and cache_facts(o.cache)), None)
    if stale is not None:
        facts.append(
            f"What the cache reported with the previous version: {cache_facts(stale.cache)}."
        )
    edges = sorted(
        {
            str(o.cache.get("served_by"))
            for o in after
            if o.status != Status.LIVE and o.cache.get("served_by")
        }
    )
    if edges:
        facts.append(
            f"Cache edges that served the previous version ({len(edges)}): {', '.join(edges)}."
        )
    return facts + list(dict.fromkeys(details))
