"""Breaches of the Code's release practices, found in the record of a release, and their store.

:func:`detect` is pure: it reads an :class:`Evidence` (the release, its timeline, every verification
result, the calendar findings) and returns one :class:`Breach` per kind, each with its practice ids,
start, end, affected URLs and cause. :func:`store` upserts them by (release, kind); the table is a
cache of the detection, so a kind no longer detected for a release is removed.

Kinds: ``late`` (not live on every URL and vantage point at ``Policy.late_after_s`` after T; one
breach from T until it was), ``early`` (new content before T, on its own address or at the address of its staged
copy: an embargo exposure), ``stale`` / ``missing`` / ``error`` (an address that had
been live went back: old content, not found, server error), ``time`` (a release
time or date the Code does not allow), ``change`` (moved without a recorded change, T3.2) and
``pra`` (pre-release access outside the window or to someone off the list, T3.4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.policy import FLIP_SLACK_S, Policy
from onthedot.model import CheckResult, Finding, Release, Severity, Status, iso_utc
from onthedot.record import kinds
from onthedot.record.timeline import Event
from onthedot.store.tables import breaches as breaches_table

PRACTICES: Mapping[str, tuple[str, ...]] = {
    "late": ("T3.6",),
    "early": ("T3.6",),
    "stale": ("T3.6",),
    "missing": ("T3.6",),
    "error": ("T3.6",),
    "wrong-file": ("T3.6",),
    "time": ("T3.6",),
    "change": ("T3.2",),
    "pra": ("T3.4",),
}
BREACH_KINDS: tuple[str, ...] = tuple(PRACTICES)
TITLES: Mapping[str, str] = {
    "late": "Not available to all users at the release time",
    "early": "New content visible before the release time",
    "stale": "The previous version came back after the release was live",
    "missing": "Not found after the release was live",
    "error": "Server errors after the release was live",
    "wrong-file": "A file other than the release's was published in its place",
    "time": "Released at a time or on a day the Code does not allow",
    "change": "Release date or time changed without a recorded, agreed change",
    "pra": "Pre-release access outside the rules",
}
_FINDING_KINDS = {"T3.6": "time", "T3.2": "change", "T3.4": "pra"}


@dataclass(frozen=True, slots=True)
class Breach:
    release_id: str
    kind: str
    practices: tuple[str, ...]
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    urls: tuple[str, ...]
    cause: str
    detail: str
    status: str = "open"
    actions: tuple[Mapping[str, Any], ...] = ()

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    def as_json(self) -> dict[str, Any]:
        return {
            "release": self.release_id,
            "kind": self.kind,
            "title": self.title,
            "practices": list(self.practices),
            "started_at": iso_utc(self.started_at) if self.started_at else None,
            "ended_at": iso_utc(self.ended_at) if self.ended_at else None,
            "duration_s": self.duration_s,
            "urls": list(self.urls),
            "cause": self.cause,
            "detail": self.detail,
            "status": self.status,
            "actions": [dict(a) for a in self.actions],
        }


@dataclass(frozen=True)
class Evidence:
    """Everything detection reads, loaded once."""

    release: Release
    events: Sequence[Event]
    results: Sequence[CheckResult]
    findings: Sequence[Finding] = ()
    policy: Policy = field(default_factory=Policy)

    def of(self, *kind: str) -> list[Event]:
        return [e for e in self.events if e.kind in kind]

    @property
    def urls(self) -> tuple[str, ...]:
        site = self.release.site
        from_artefacts = [site.url(p) for p in self.release.paths] if site else []
        return tuple(dict.fromkeys([*from_artefacts, *(o.url for o in self.results)]))


# --- results --------------------------------------------------------------------------------


def read_result(data: Mapping[str, Any], at: dt.datetime) -> CheckResult | None:
    """A CheckResult read back from its JSON (a verify.result event or a checks row), recorded at
    ``at``; None when it cannot be read. Read leniently: an older record may lack fields."""
    seen = read_seen(data, at)
    if seen is None:
        return None
    cache, http, timings = data.get("cache"), data.get("http_status"), data.get("timings")
    return CheckResult.model_construct(
        url=seen.url,
        status=seen.status,
        served_sha256=_text(data.get("served_sha256")),
        expected_sha256=_text(data.get("expected_sha256")),
        diagnosis=seen.diagnosis,
        cache=dict(cache) if isinstance(cache, Mapping) else {},
        vantage=seen.vantage,
        checked_at=seen.checked_at,
        http_status=http if isinstance(http, int) else None,
        layer=seen.layer,
        timings=dict(timings) if isinstance(timings, Mapping) else {},
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """What a result says of its URL, without the rest (``read_seen``)."""

    url: str
    vantage: str
    status: Status
    checked_at: dt.datetime
    diagnosis: str
    layer: str | None


def read_seen(data: Mapping[str, Any], at: dt.datetime) -> Seen | None:
    """A result's URL, vantage point, status, time, diagnosis and layer, read leniently (the
    part of ``read_result`` that the responder reads of 10,000 results at T, without the cache
    and timings copied). None when it cannot be read."""
    try:
        status = Status(str(data.get("status")))
    except ValueError:
        return None
    layer = data.get("layer")
    return Seen(
        url=str(data.get("url", "")),
        vantage=str(data.get("vantage") or "default"),
        status=status,
        checked_at=_instant(data.get("checked_at")) or at,
        diagnosis=str(data.get("diagnosis") or ""),
        layer=layer if isinstance(layer, str) else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def merge_results(*groups: Iterable[CheckResult]) -> list[CheckResult]:
    """All results in time order, each recorded twice (timeline and checks) kept once."""
    seen: dict[tuple[str, str, str, str], CheckResult] = {}
    for group in groups:
        for obs in group:
            seen.setdefault((obs.url, obs.vantage, iso_utc(obs.checked_at), obs.status), obs)
    return sorted(seen.values(), key=lambda o: o.checked_at)


def _instant(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def is_origin(obs: CheckResult) -> bool:
    return origin_vantage(obs.vantage)


def origin_vantage(name: str) -> bool:
    """A vantage point that looks behind the cache, at the origin web server (``origin...``)."""
    return name.lower().startswith("origin")


# --- detection ------------------------------------------------------------------------------


def detect(ev: Evidence) -> list[Breach]:
    """Every breach the record shows, in the order of BREACH_KINDS."""
    found = [
        _late(ev),
        _early(ev),
        *(
            _after_t(ev, status)
            for status in (Status.STALE, Status.MISSING, Status.ERROR, Status.WRONG_FILE)
        ),
        *_from_findings(ev),
        _pra_events(ev),
    ]
    merged: dict[str, Breach] = {}
    for breach in found:
        if breach is None:
            continue
        old = merged.get(breach.kind)
        merged[breach.kind] = _combine(old, breach) if old else breach
    return [merged[k] for k in BREACH_KINDS if k in merged]


def public(ev: Evidence) -> list[CheckResult]:
    return [o for o in ev.results if not is_origin(o)]


def first_after_t(ev: Evidence) -> dict[tuple[str, str], CheckResult]:
    """Per (URL, vantage point): the first public result at or after T."""
    first: dict[tuple[str, str], CheckResult] = {}
    for obs in public(ev):
        if obs.checked_at >= ev.release.release_at:
            first.setdefault((obs.url, obs.vantage), obs)
    return first


def all_live_at(ev: Evidence) -> dt.datetime | None:
    """When the release was first live on every URL at every vantage point, if it was."""
    recorded = ev.of(kinds.VERIFY_ALL_LIVE)
    if recorded:
        return _instant(recorded[0].data.get("at")) or recorded[0].at
    last_live: dict[tuple[str, str], dt.datetime | None] = {}
    for obs in public(ev):
        if obs.checked_at < ev.release.release_at:
            continue
        key = (obs.url, obs.vantage)
        if obs.status == Status.LIVE:
            last_live.setdefault(key, obs.checked_at)
            if last_live[key] is None:
                last_live[key] = obs.checked_at
        else:
            last_live[key] = None
    if not last_live or any(v is None for v in last_live.values()):
        return None
    return max(v for v in last_live.values() if v is not None)


def _late(ev: Evidence) -> Breach | None:
    t = ev.release.release_at
    slack = ev.policy.late_after_s  # the one rule for late, which preflight predicts
    flips = ev.of(kinds.PUBLISH_FLIPPED)
    failed = ev.of(kinds.PUBLISH_FAILED)
    late_flip = [f for f in flips if float(f.data.get("late_s") or 0) > slack]
    not_live = [o for o in first_after_t(ev).values() if o.status != Status.LIVE]
    if not (late_flip or not_live or (failed and not flips)):
        return None
    if failed and not flips:
        cause = "publish failed"
    elif late_flip:
        cause = "scheduling"
    else:
        cause = cause_of(ev, not_live)
    end = all_live_at(ev)
    if end is not None and end <= t + dt.timedelta(seconds=slack) and not late_flip:
        return None
    urls = tuple(dict.fromkeys(o.url for o in not_live)) or ev.urls
    detail = _late_detail(ev, cause, late_flip, failed)
    return _breach(ev, "late", t, end, urls, cause, detail)


def _late_detail(ev: Evidence, cause: str, late_flip: list[Event], failed: list[Event]) -> str:
    if cause == "publish failed":
        return str(failed[-1].data.get("error") or "publishing failed")
    if late_flip:
        return f"The files went live {float(late_flip[0].data.get('late_s') or 0):,.1f} s late."
    return f"Not live at the release time: {cause}."


def cause_of(ev: Evidence, bad: Sequence[CheckResult]) -> str:
    """cache | upload | not found | server error | unknown — for the first bad results; for a
    release another system publishes, also not published | wrong file."""
    statuses = {o.status for o in bad}
    stale = [o for o in bad if o.status == Status.STALE]
    cause = _stale_cause(ev, stale) if stale else None
    if cause == "cache":
        return cause
    if Status.WRONG_FILE in statuses:
        return "wrong file"
    if ev.release.published_by is not None and (stale or Status.MISSING in statuses):
        return "not published"  # (by the system that publishes it)
    if cause is not None:
        return cause
    if Status.MISSING in statuses:
        return "not found"
    if Status.ERROR in statuses:
        return "server error"
    return "unknown"


def _stale_cause(ev: Evidence, stale: Sequence[CheckResult]) -> str:
    layers = {o.layer for o in stale if o.layer}
    if "origin" in layers:
        return "upload"
    if "cache" in layers:
        return "cache"
    start = stale[0].checked_at
    origin = [o for o in ev.results if is_origin(o) and o.checked_at >= ev.release.release_at]
    near = [o for o in origin if abs((o.checked_at - start).total_seconds()) < 300]
    if any(o.status == Status.LIVE for o in near):
        return "cache"
    if any(o.status == Status.STALE for o in near):
        return "upload"
    return "unknown"


def _early(ev: Evidence) -> Breach | None:
    t = ev.release.release_at
    seen = [o for o in ev.results if o.checked_at < t and o.status == Status.EARLY]
    early_flips = [
        f for f in ev.of(kinds.PUBLISH_FLIPPED) if float(f.data.get("early_s") or 0) > FLIP_SLACK_S
    ]
    exposed = [e for e in ev.of(kinds.EMBARGO_EXPOSED) if e.at < t]
    if not (seen or early_flips or exposed):
        return None
    starts = [o.checked_at for o in seen] + [f.at for f in early_flips] + [e.at for e in exposed]
    urls = [o.url for o in seen] + [u for f in early_flips for u in _public_urls(ev, f)]
    urls += [_exposed_url(ev, e) for e in exposed]
    cause = "scheduling" if early_flips else "staging exposed"
    if ev.release.published_by is not None:
        cause = "published early"  # (by the system that publishes it)
    detail = "The new version could be seen before the release time."
    if exposed:
        detail += " Its copy waiting to be published could be fetched from the public website."
    return _breach(
        ev, "early", min(starts), t, tuple(dict.fromkeys(u for u in urls if u)), cause, detail
    )


def _exposed_url(ev: Evidence, exposed: Event) -> str:
    """The public address of an exposed staged copy's file (its path without a site), never the
    staged copy's own address: a report must not name the hidden copy, a way in to the embargo."""
    path = str(exposed.data.get("path") or "")
    site = ev.release.site
    return site.url(path) if site and path.startswith("/") else path


def _public_urls(ev: Evidence, flipped: Event) -> list[str]:
    site = ev.release.site
    return [site.url(str(path)) if site else str(path) for path in flipped.data.get("paths", [])]


def _after_t(ev: Evidence, status: Status) -> Breach | None:
    """Non-live results at an address that had already been live after T (a regression).

    Not being live from T onwards is the ``late`` breach; this one is the release going back.
    """
    t = ev.release.release_at
    live_since: dict[tuple[str, str], dt.datetime] = {}
    bad: list[CheckResult] = []
    for obs in public(ev):
        key = (obs.url, obs.vantage)
        if obs.checked_at < t:
            continue
        if obs.status == Status.LIVE:
            live_since.setdefault(key, obs.checked_at)
        elif obs.status == status and key in live_since:
            bad.append(obs)
    if not bad:
        return None
    keys = {(o.url, o.vantage) for o in bad}
    last_bad = max(o.checked_at for o in bad)
    recovered = [
        o.checked_at
        for o in public(ev)
        if (o.url, o.vantage) in keys and o.status == Status.LIVE and o.checked_at > last_bad
    ]
    end = min(recovered) if recovered else None
    vantages = sorted({o.vantage for o in bad})
    detail = bad[0].diagnosis or f"{len(bad)} check(s) at {len(vantages)} vantage point(s)."
    urls = tuple(dict.fromkeys(o.url for o in bad))
    return _breach(ev, str(status), bad[0].checked_at, end, urls, cause_of(ev, bad), detail)


def _from_findings(ev: Evidence) -> list[Breach]:
    found: list[Breach] = []
    t = ev.release.release_at
    for finding in ev.findings:
        practice = ".".join(finding.rule.split(".")[:2])
        kind = _FINDING_KINDS.get(practice)
        if kind is None or finding.severity != Severity.ERROR:
            continue
        cause = {"time": "scheduling", "change": "unannounced change", "pra": "pre-release access"}
        found.append(_breach(ev, kind, t, t, ev.urls, cause[kind], finding.message))
    return found


def _pra_events(ev: Evidence) -> Breach | None:
    """Pre-release access opened by someone not on the list, or outside the window before T."""
    t = ev.release.release_at
    window = dt.timedelta(hours=ev.policy.pra_hours_for(ev.release.nation))
    listed = {p.name.casefold() for p in ev.release.pre_release_access}
    listed |= {str(e.data.get("name", "")).casefold() for e in ev.of(kinds.PRA_GRANTED)}
    problems: list[tuple[dt.datetime, str]] = []
    for opened in ev.of(kinds.PRA_OPENED):
        name = str(opened.data.get("name") or opened.actor)
        if name.casefold() not in listed:
            problems.append(
                (
                    opened.at,
                    f"{name} opened the statistics before release but is not on the pre-release access list.",
                )
            )
        elif not t - window <= opened.at < t:
            problems.append(
                (opened.at, f"{name} opened the statistics outside the pre-release access window.")
            )
    if not problems:
        return None
    detail = " ".join(text for _, text in problems)
    return _breach(ev, "pra", min(a for a, _ in problems), t, (), "pre-release access", detail)


def _breach(
    ev: Evidence,
    kind: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    urls: Sequence[str],
    cause: str,
    detail: str,
) -> Breach:
    status = "open" if end is None else "ended"
    return Breach(
        ev.release.id, kind, PRACTICES[kind], start, end, tuple(urls), cause, detail, status
    )


def _combine(a: Breach, b: Breach) -> Breach:
    starts = [s for s in (a.started_at, b.started_at) if s is not None]
    ends = [e for e in (a.ended_at, b.ended_at) if e is not None]
    return Breach(
        a.release_id,
        a.kind,
        tuple(dict.fromkeys(a.practices + b.practices)),
        min(starts) if starts else None,
        max(ends) if ends and a.ended_at and b.ended_at else None,
        tuple(dict.fromkeys(a.urls + b.urls)),
        a.cause if a.cause == b.cause else f"{a.cause}; {b.cause}",
        f"{a.detail} {b.detail}",
        a.status if a.status == b.status else "open",
    )


# --- store ----------------------------------------------------------------------------------


async def store(engine: AsyncEngine, release_id: str, found: Sequence[Breach]) -> None:
    """Upsert ``found`` by (release, kind); drop the kinds of this release no longer detected."""
    async with engine.begin() as conn:
        rows = await conn.execute(
            select(breaches_table.c.id, breaches_table.c.kind).where(
                breaches_table.c.release_id == release_id
            )
        )
        existing = {row.kind: row.id for row in rows}
        for breach in found:
            values = _row(breach)
            if breach.kind in existing:
                where = breaches_table.c.id == existing.pop(breach.kind)
                await conn.execute(breaches_table.update().where(where).values(**values))
            else:
                await conn.execute(breaches_table.insert().values(**values))
        if existing:
            await conn.execute(
                delete(breaches_table).where(breaches_table.c.id.in_(existing.values()))
            )


async def load(engine: AsyncEngine, release_id: str | None = None) -> list[Breach]:
    """Stored breaches (of one release, or all), oldest first."""
    query = select(breaches_table).order_by(breaches_table.c.started_at, breaches_table.c.id)
    if release_id is not None:
        query = query.where(breaches_table.c.release_id == release_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        Breach(
            r.release_id,
            r.kind,
            tuple(r.practices or ()),
            r.started_at,
            r.ended_at,
            tuple(r.urls or ()),
            r.cause,
            r.detail,
            r.status,
            tuple(r.actions or ()),
        )
        for r in rows
    ]


def _row(b: Breach) -> dict[str, Any]:
    return {
        "release_id": b.release_id,
        "kind": b.kind,
        "practices": list(b.practices),
        "started_at": b.started_at,
        "ended_at": b.ended_at,
        "urls": list(b.urls),
        "cause": b.cause,
        "detail": b.detail,
        "status": b.status,
        "actions": [dict(a) for a in b.actions],
    }
