"""Corrective actions: the short-term ones taken (from the timeline, in time order, to the
minute) and longer-term changes suggested from the diagnosis (the cause of each breach and what
the caches said).

Each action is a JSON-safe dict ``{term: "short"|"longer", status: "done"|"suggested", at, by,
what, detail}``; ``what`` is one plain sentence in the producer's terms, ``detail`` (suggested
changes only) the same for IT, naming the setting or command (the report's annex).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from onthedot.calendar.timeutil import LONDON, Zone
from onthedot.model import CheckResult, Status, iso_utc
from onthedot.record import kinds
from onthedot.record.breaches import Breach, Evidence
from onthedot.record.narrative import TELLERS, cache_facts, text_of, who
from onthedot.record.report.minutes import Minutes
from onthedot.record.timeline import Event

Action = dict[str, Any]
Suggestion = tuple[str, str]  # (for the producer, for IT)
SHORT_TERM_KINDS = (
    kinds.NOTICE_PUBLISHED,
    kinds.STATEMENT_PUBLISHED,
    kinds.GATE_HELD,
    kinds.ACTION_TAKEN,
    kinds.PURGE_DONE,
    kinds.REMEDY_REFLIP,
)
PREFLIGHT = (
    "Before each release, check that the website will show the new version at the release time.",
    "Run `onthedot preflight {release}` before each release: it predicts which addresses would "
    "still show the previous version at the release time, and why.",
)


def _done(event: Event, what: str) -> Action:
    return {
        "term": "short",
        "status": "done",
        "at": iso_utc(event.at),
        "by": who(event),
        "what": what,
    }


def _suggest(what: str, detail: str) -> Action:
    return {
        "term": "longer",
        "status": "suggested",
        "at": None,
        "by": None,
        "what": what,
        "detail": detail,
    }


def short_term(ev: Evidence, zone: Zone = LONDON) -> list[Action]:
    """What people did (and what was done automatically, clearing the cache) to put things
    right, in time order."""
    released = {
        str(e.data.get("gate") or e.data.get("what") or e.data.get("text")): e
        for e in ev.of(kinds.GATE_RELEASED)
    }
    told = Minutes(ev.release, zone)
    taken = []
    cleared = False
    for event in sorted(ev.of(*SHORT_TERM_KINDS), key=lambda e: (e.at, e.seq)):
        if event.kind == kinds.GATE_HELD:
            taken.append(_done(event, _gate(told, event, released)))
        elif event.kind == kinds.PURGE_DONE:
            again = " again" if cleared else ""  # (a remedy's purge after the one at T)
            cleared = True
            taken.append(
                _done(
                    event,
                    f"At {told.clock(event.at)} the web cache was cleared{again} automatically.",
                )
            )
        elif event.kind == kinds.REMEDY_REFLIP and event.data.get("outcome") != "done":
            continue  # (a failed attempt, or one that found the files in place already, is on
            # the timeline; it put nothing right)
        else:
            taken.append(_done(event, TELLERS[event.kind](told, event) or ""))
    return taken


def _gate(told: Minutes, held: Event, released: Mapping[str, Event]) -> str:
    what = text_of(held.data, "what", "text", "gate") or "the next step"
    key = str(held.data.get("gate") or held.data.get("what") or held.data.get("text"))
    end = released.get(key)
    until = f"; it went ahead at {told.clock(end.at)}" if end else ""
    return (
        f"At {told.clock(held.at)} {what} was held back until the statistics were live, to ensure "
        f"equality of access{until}."
    )


# --- longer term ------------------------------------------------------------------------------


def longer_term(ev: Evidence, breach: Breach) -> list[Action]:
    """Changes that would have prevented this breach, from its cause."""
    suggest = SUGGESTIONS.get(breach.cause.split(";")[0])
    pairs = suggest(ev, breach) if suggest else []
    if breach.kind in ("late", "stale", "missing", "error", "wrong-file"):
        pairs.append((PREFLIGHT[0], PREFLIGHT[1].format(release=ev.release.id)))
    return [_suggest(what, detail) for what, detail in pairs]


def _paths(breach: Breach) -> str:
    paths = [urlsplit(u).path or u for u in breach.urls]
    return ", ".join(paths) or "the release's files"


def _stale_example(ev: Evidence, breach: Breach) -> CheckResult | None:
    return next((o for o in ev.results if o.status == Status.STALE and o.url in breach.urls), None)


def _cache(ev: Evidence, breach: Breach) -> list[Suggestion]:
    site = ev.release.site
    sample = _stale_example(ev, breach)
    named = str(sample.cache.get("product") or "") if sample else ""
    product = named.capitalize() if named else "the cache"
    facts = cache_facts(sample.cache) if sample else ""
    if site is None or not site.purge:
        clear = (
            "Clear the web cache automatically at the moment of release, and test that it has worked.",
            f"Configure a purger for {product} in the release's [site] purge list (for example "
            f"varnish://HOST:6081), so onthedot removes the previous version of {_paths(breach)} "
            "from the cache the moment the new one goes live.",
        )
    else:
        clear = (
            "Find out why the automatic clearing of the web cache did not work at the release time, "
            "and test it before the next release.",
            "The configured purger did not clear the cache in time: check its address and "
            "permissions against the purge.attempt events in the timeline.",
        )
    kept = f" (it reported {facts})" if facts else ""
    keep = (
        "Ask IT to make the web cache keep these files only briefly, so that a new version reaches "
        "users within seconds.",
        f"Send Cache-Control: no-cache, or a max-age of a few seconds, for {_paths(breach)}: "
        f"the cache kept the previous version{kept}.",
    )
    return [clear, keep]


def _upload(ev: Evidence, breach: Breach) -> list[Suggestion]:
    return [
        (
            "Check, before the release time, that the new files reach the web server the public sees "
            "and that the upload finished.",
            "The web server itself still had the previous version: check that the publish target "
            "writes to the folder the web server serves and that the upload completed (see the "
            "publish.* events).",
        )
    ]


def _not_found(ev: Evidence, breach: Breach) -> list[Suggestion]:
    return [
        (
            "Check the address of each file on the website before the release day.",
            f"Check that each artefact's path ({_paths(breach)}) is where the web server serves it, "
            "and run `onthedot verify` against a test site before the release day.",
        )
    ]


def _server_error(ev: Evidence, breach: Breach) -> list[Suggestion]:
    sample = next((o for o in ev.results if o.status == Status.ERROR), None)
    why = f" ({sample.diagnosis.rstrip('.')})" if sample and sample.diagnosis else ""
    return [
        (
            "Ask IT why the website answered with errors, and watch it closely around release times.",
            f"The website answered with errors{why}: monitor it around release times.",
        )
    ]


def _scheduling(ev: Evidence, breach: Breach) -> list[Suggestion]:
    if breach.kind == "time":
        return [
            (
                "Release at the standard time on a weekday that is not a bank holiday, or record the "
                "approved exemption.",
                "Set release_at to the standard time on a working day, or record the exemption in the "
                "release file.",
            )
        ]
    return [
        (
            "Put the statistics live automatically at the release time, from a computer whose clock is "
            "kept right, rather than by a person pressing a button.",
            "Run the publisher as a service (`onthedot run`) on a host whose clock is synchronised.",
        )
    ]


def _publish_failed(ev: Evidence, breach: Breach) -> list[Suggestion]:
    return [
        (
            "Upload the release, hidden, well before the release time, so that a failing upload is "
            "found and fixed before it matters.",
            "Stage the release well before the release time (staging is hidden): see the "
            "publish.failed events for the failing step.",
        )
    ]


def _exposed(ev: Evidence, breach: Breach) -> list[Suggestion]:
    return [
        (
            "Keep the new files out of reach until the release time, and check that nothing links to "
            "them.",
            "Set the publishing target's staging folder outside the web root, and check that nothing "
            "links to the staged names (see the embargo.exposed events).",
        )
    ]


def _change(ev: Evidence, breach: Breach) -> list[Suggestion]:
    return [
        (
            "Record every change of release date or time with its reason and who approved it (the "
            "Head of Profession), and announce it promptly.",
            "Record each change in the release file as a [[change]] with reason and approved_by.",
        )
    ]


def _pra(ev: Evidence, breach: Breach) -> list[Suggestion]:
    hours = f"{ev.policy.pra_hours:g}"
    what = (
        f"Give pre-release access only to people on the list, no more than {hours} hours before "
        "the release time, and record each grant."
    )
    return [(what, "Record each grant as a [[pre_release_access]] in the release file.")]


def _external(ev: Evidence, breach: Breach) -> list[Suggestion]:
    who = ev.release.published_by or "the system that publishes the release"
    return [
        (
            f"Agree with those who run {who} how the release is scheduled there, and check the "
            "scheduled page and its attachments the day before the release time.",
            f"{who} publishes this release: the record shows what the public saw, and when; ask "
            "them for their own record of when it was scheduled and published.",
        )
    ]


SUGGESTIONS = {
    "not published": _external,
    "published early": _external,
    "wrong file": _external,
    "cache": _cache,
    "upload": _upload,
    "not found": _not_found,
    "server error": _server_error,
    "scheduling": _scheduling,
    "publish failed": _publish_failed,
    "staging exposed": _exposed,
    "unannounced change": _change,
    "pre-release access": _pra,
}


def actions_for(ev: Evidence, breach: Breach, zone: Zone = LONDON) -> list[Action]:
    return short_term(ev, zone) + longer_term(ev, breach)


def unique(actions: Sequence[Action]) -> list[Action]:
    """Each action once, in order (the same short-term action belongs to every breach)."""
    seen: dict[str, Action] = {}
    for action in actions:
        seen.setdefault(action["what"], action)
    return list(seen.values())
