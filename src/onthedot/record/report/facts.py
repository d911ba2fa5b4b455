"""The facts a report states, as sentences: the clock note, the account, the summary of each
breach, and the facts that help people judge the impact (how long, which addresses, how many
vantage points and edges, pre-release access, what was held back)."""

from __future__ import annotations

from collections.abc import Mapping

from onthedot.calendar.timeutil import Zone, fmt_date, get_zone, to_local
from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.breaches import Breach, Evidence, all_live_at, public
from onthedot.record.narrative import Teller, account, fmt_duration, text_of
from onthedot.record.report.assess import Assessment
from onthedot.record.timeline import Event

CAUSES: Mapping[str, str] = {
    "cache": (
        "the web server had the new version, but the cache in front of it kept serving the "
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
    "unknown": "onthedot could not tell which layer served the previous version",
}


def clock_note(ev: Evidence, zone: Zone) -> str:
    day = to_local(ev.release.release_at, zone)
    intro = (
        f"Times are {get_zone(zone).key} ({day.tzname()}) on {fmt_date(day.date())} unless a date "
        "is given, as recorded in onthedot's timeline; times of what people did are as they recorded them."
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
        f"{intro} At {to_local(nearest.at, zone):%H:%M:%S} the host clock was {abs(offset):.3f} s "
        f"{side} {reference} (±{uncertainty:.3f} s), so each time is within ±{bound:.3f} s."
    )


def account_paragraphs(a: Assessment, zone: Zone) -> list[str]:
    ev = a.evidence
    told = account(ev.events, ev.release, ev.results, zone)
    return told or ["[Nothing was recorded in the timeline of this release.]"]


def _span(teller: Teller, breach: Breach) -> str:
    if breach.started_at is None:
        return ""
    start = teller.clock(breach.started_at)
    if breach.ended_at is None:
        return f" from {start}, still not resolved when this report was drafted"
    duration = fmt_duration(breach.duration_s or 0.0)
    return f" for {duration}, from {start} to {teller.clock(breach.ended_at)}"


def summary(a: Assessment, zone: Zone) -> list[str]:
    teller = Teller(a.release, zone)
    if not a.breaches:
        live = all_live_at(a.evidence)
        when = f" It was live on every address checked at {teller.clock(live)}." if live else ""
        return [f"No breach of the Code's release practices was found for this release.{when}"]
    out = []
    for b in a.breaches:
        cause = CAUSES.get(b.cause.split(";")[0], b.cause)
        practices = ", ".join(b.practices)
        out.append(f"{b.title} ({practices}){_span(teller, b)}. Cause: {b.cause} — {cause}.")
    return out


def impact_facts(a: Assessment, zone: Zone) -> list[str]:
    if not a.breaches:
        return ["No breach was found, so there is no impact to report."]
    ev, teller = a.evidence, Teller(a.release, zone)
    facts = [_availability(a, teller)]
    urls = sorted({u for b in a.breaches for u in b.urls})
    if urls:
        facts.append(f"Addresses affected ({len(urls)}): {', '.join(urls)}.")
    facts += _reach(ev)
    facts.append(_pra(ev))
    facts += [_held(e, ev, teller) for e in ev.of(kinds.GATE_HELD)]
    facts += [f"Users were told by a notice on the website at {teller.clock(e.at)}." for e in ev.of(kinds.NOTICE_PUBLISHED)]
    return [f for f in facts if f]


def _availability(a: Assessment, teller: Teller) -> str:
    main = next((b for b in a.breaches if b.kind == "late"), a.breaches[0])
    if main.kind not in ("late", "stale", "missing", "error") or main.started_at is None:
        return ""
    return f"The statistics were not available to all users{_span(teller, main)}."


def _reach(ev: Evidence) -> list[str]:
    after = [o for o in public(ev) if o.checked_at >= ev.release.release_at]
    if not after:
        return ["[No verification results were recorded after the release time.]"]
    bad = [o for o in after if o.status != Status.LIVE]
    vantages = sorted({o.vantage for o in after})
    bad_vantages = sorted({o.vantage for o in bad})
    edges = sorted({str(o.cache.get("served_by")) for o in bad if o.cache.get("served_by")})
    facts = [
        f"onthedot made {len(after)} checks after the release time; {len(bad)} found the new "
        f"version missing. {len(bad_vantages)} of {len(vantages)} vantage point(s) were affected "
        f"({', '.join(bad_vantages) or 'none'})."
    ]
    if edges:
        facts.append(f"Cache edges that served the previous version ({len(edges)}): {', '.join(edges)}.")
    return facts


def _pra(ev: Evidence) -> str:
    names = [p.name for p in ev.release.pre_release_access]
    names += [str(e.data.get("name")) for e in ev.of(kinds.PRA_GRANTED) if e.data.get("name")]
    names = list(dict.fromkeys(names))
    if not names:
        return "No pre-release access was recorded for this release."
    return f"Pre-release access was recorded for {len(names)} person(s): {', '.join(names)}."


def _held(held: Event, ev: Evidence, teller: Teller) -> str:
    what = text_of(held.data, "what", "text", "gate") or "a step"
    went = [e for e in ev.of(kinds.GATE_RELEASED) if e.at >= held.at]
    after = f" and went ahead at {teller.clock(went[0].at)}" if went else ""
    return f"{what[:1].upper()}{what[1:]} was held back from {teller.clock(held.at)} until the statistics were live{after}."
