"""Corrective actions: the short-term ones taken (from the timeline) and longer-term changes
suggested from the diagnosis (the cause of each breach and what the caches said).

Each action is a JSON-safe dict ``{term: "short"|"longer", status: "done"|"suggested", at, by,
what}``; ``what`` is one plain sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from onthedot.calendar.timeutil import LONDON, Zone
from onthedot.model import CheckResult, Status, iso_utc
from onthedot.record import kinds
from onthedot.record.breaches import Breach, Evidence
from onthedot.record.narrative import Teller, cache_facts, describe, text_of, who
from onthedot.record.timeline import Event

Action = dict[str, Any]
#: in the order a report lists them: what users were told, what was held back, what was fixed
SHORT_TERM_KINDS = (
    kinds.NOTICE_PUBLISHED,
    kinds.STATEMENT_PUBLISHED,
    kinds.GATE_HELD,
    kinds.ACTION_TAKEN,
    kinds.PURGE_DONE,
)
PREFLIGHT = (
    "Run `onthedot preflight {release}` before each release: it predicts which addresses would "
    "still show the previous version at the release time, and why."
)


def _done(event: Event, what: str) -> Action:
    return {"term": "short", "status": "done", "at": iso_utc(event.at), "by": who(event), "what": what}


def _suggest(what: str) -> Action:
    return {"term": "longer", "status": "suggested", "at": None, "by": None, "what": what}


def short_term(ev: Evidence, zone: Zone = LONDON) -> list[Action]:
    """What people and onthedot did to put things right, as recorded."""
    released = {str(e.data.get("gate") or e.data.get("what") or e.data.get("text")): e for e in ev.of(kinds.GATE_RELEASED)}
    taken = []
    ordered = sorted(ev.of(*SHORT_TERM_KINDS), key=lambda e: (SHORT_TERM_KINDS.index(e.kind), e.seq))
    for event in ordered:
        if event.kind == kinds.GATE_HELD:
            taken.append(_done(event, _gate(Teller(ev.release, zone), event, released)))
        else:
            taken.append(_done(event, describe(event, ev.release, zone)))
    return taken


def _gate(teller: Teller, held: Event, released: Mapping[str, Event]) -> str:
    what = text_of(held.data, "what", "text", "gate") or "the next step"
    key = str(held.data.get("gate") or held.data.get("what") or held.data.get("text"))
    end = released.get(key)
    until = f", and went ahead at {teller.clock(end.at)}" if end else ""
    held_at = teller.clock(held.at)
    return (
        f"{what[:1].upper()}{what[1:]} was held back from {held_at} until the statistics were live, "
        f"to ensure equality of access{until}."
    )


# --- longer term ------------------------------------------------------------------------------


def longer_term(ev: Evidence, breach: Breach) -> list[Action]:
    """Changes that would have prevented this breach, from its cause."""
    suggest = SUGGESTIONS.get(breach.cause.split(";")[0])
    lines = suggest(ev, breach) if suggest else []
    if breach.kind in ("late", "stale", "missing", "error"):
        lines.append(PREFLIGHT.format(release=ev.release.id))
    return [_suggest(line) for line in lines]


def _paths(breach: Breach) -> str:
    paths = [urlsplit(u).path or u for u in breach.urls]
    return ", ".join(paths) or "the release's files"


def _stale_example(ev: Evidence, breach: Breach) -> CheckResult | None:
    return next(
        (o for o in ev.results if o.status == Status.STALE and o.url in breach.urls), None
    )


def _cache(ev: Evidence, breach: Breach) -> list[str]:
    site = ev.release.site
    sample = _stale_example(ev, breach)
    named = str(sample.cache.get("product") or "") if sample else ""
    product = named.capitalize() if named else "the cache"
    facts = cache_facts(sample.cache) if sample else ""
    lines = []
    if site is None or not site.purge:
        lines.append(
            f"Configure a purger for {product} in the release's [site] purge list (for example "
            f"varnish://HOST:6081), so onthedot removes the previous version of {_paths(breach)} "
            "from the cache the moment the new one goes live."
        )
    else:
        lines.append(
            "The configured purger did not clear the cache in time: check its address and "
            "permissions against the purge.attempt events in the timeline."
        )
    kept = f" (it reported {facts})" if facts else ""
    lines.append(
        f"Ask IT to send Cache-Control: no-cache, or a max-age of a few seconds, for {_paths(breach)}: "
        f"the cache kept the previous version{kept}."
    )
    return lines


def _upload(ev: Evidence, breach: Breach) -> list[str]:
    return [
        "The web server itself still had the previous version: check that the publish target "
        "writes to the folder the web server serves and that the upload completed (see the "
        "publish.* events)."
    ]


def _not_found(ev: Evidence, breach: Breach) -> list[str]:
    return [
        f"Check that each artefact's path ({_paths(breach)}) is where the web server serves it, "
        "and run `onthedot verify` against a test site before the release day."
    ]


def _server_error(ev: Evidence, breach: Breach) -> list[str]:
    sample = next((o for o in ev.results if o.status == Status.ERROR), None)
    why = f" ({sample.diagnosis.rstrip('.')})" if sample and sample.diagnosis else ""
    return [f"Ask IT why the website answered with errors{why}, and monitor it around release times."]


def _scheduling(ev: Evidence, breach: Breach) -> list[str]:
    if breach.kind == "time":
        return [
            "Set the release time to the standard time on a weekday that is not a bank holiday, "
            "or record the approved exemption in the release file."
        ]
    return [
        "Run the publisher as a service (`onthedot run`) on a host whose clock is synchronised, "
        "so it goes live at the release time without a person pressing a button."
    ]


def _publish_failed(ev: Evidence, breach: Breach) -> list[str]:
    return [
        "Stage the release well before the release time (staging is hidden) so that a failing "
        "upload is found and fixed before it matters."
    ]


def _exposed(ev: Evidence, breach: Breach) -> list[str]:
    return [
        "Keep the new files unreachable before the release time: publish with onthedot's hidden "
        "staging and check that nothing links to the staged names."
    ]


def _change(ev: Evidence, breach: Breach) -> list[str]:
    return [
        "Record every change of release date or time as a [[change]] with its reason and "
        "approved_by (the Head of Profession), and announce it promptly."
    ]


def _pra(ev: Evidence, breach: Breach) -> list[str]:
    hours = f"{ev.policy.pra_hours:g}"
    return [
        f"Give pre-release access only to people on the list, no more than {hours} hours before "
        "the release time, and record each grant in the release file."
    ]


SUGGESTIONS = {
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
