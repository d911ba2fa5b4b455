"""The problems a release has now, read from its timeline (pure: no I/O).

``Reading`` is fed a release's events in order and says which problems are current at an
instant: each ``Problem`` with where it is, since when, the one-sentence diagnosis and what is at
fault (``cache``, ``server`` or ``""``: the ladder alerts IT at once only for the first two).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onthedot.calendar.policy import Policy
from onthedot.record import kinds
from onthedot.record.breaches import read_seen
from onthedot.record.timeline import Event

FLIP_RECORDED_S = 10.0
"""A flip is on the record this soon after it happens, even when hundreds of releases are
recorded at the same T; a release staged and not yet recorded as flipped is late only once the
rule's seconds and these have passed (before, the flip may be done but not yet recorded)."""
CLOCK_OFF_S = 1.0
"""The host's clock this far from the reference: the release time itself is in doubt."""

TITLES: Mapping[str, str] = {
    "late": "The release was not published at its release time",
    "stale": "The previous version is still served after the release time",
    "missing": "A file of the release is not found after the release time",
    "error": "The website answers with an error after the release time",
    "early": "New content can be seen before the release time",
    "wrong-file": "A file of the release is published with the wrong contents",
    "embargo": "A copy waiting to be published can be fetched by the public",
    "failed": "Publishing failed",
    "clock": "This server's clock is wrong",
    "file": "A release file cannot be read",
    "notice": "The notice to users could not be published",
    "gate": "A step held until the release is live could not be sent",
    "preflight": "A check before the release time found the update may not be seen on time",
    "vantage": "Checks from a vantage point stopped",
}
PROBLEMS: tuple[str, ...] = tuple(TITLES)
_STATUS_PROBLEMS = ("stale", "missing", "error", "early", "wrong-file")


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    since: dt.datetime
    places: tuple[str, ...]
    diagnosis: str
    cause: str = ""  # "cache" | "server" | ""

    @property
    def title(self) -> str:
        return TITLES[self.kind]


@dataclass(frozen=True, slots=True)
class _Seen:
    status: str
    at: dt.datetime
    diagnosis: str
    layer: str | None


@dataclass
class Reading:
    """The state of one release's record, brought up to date one event at a time."""

    release_at: dt.datetime
    late_after_s: float = Policy().late_after_s
    """The one rule for late (``Policy.late_after_s``): not flipped, or flipped, this long
    after T."""
    external: bool = False
    """Another system publishes the release: what it shows after T is a problem only once it
    still shows it ``late_after_s`` after T, as publishing within it is on time."""
    last_seq: int = 0
    results: dict[tuple[str, str], _Seen] = field(default_factory=dict)
    exposed: dict[str, tuple[dt.datetime, str]] = field(default_factory=dict)
    failed: tuple[dt.datetime, str] | None = None
    flipped: bool = False
    staged: bool = False
    late_s: float | None = None
    all_live: bool = False
    live_at: dt.datetime | None = None  # when it was first recorded live everywhere
    clock: tuple[dt.datetime, float] | None = None
    preflight: tuple[dt.datetime, list[dict[str, Any]]] | None = None  # the latest, if at risk
    passing: dict[str, tuple[str, _Seen]] = field(default_factory=dict)
    """The first result of each status problem since ``passed`` was last asked (its URL)."""

    def feed(self, event: Event) -> None:
        self.last_seq = max(self.last_seq, event.seq)
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)

    def problems(self, now: dt.datetime) -> dict[str, Problem]:
        """Every problem current at ``now``, by kind."""
        found = [*self._by_status(now), self._exposure(), self._failed(), self._late(now)]
        found += [self._clock(), self._preflight()]
        return {p.kind: p for p in found if p is not None}

    def _by_status(self, now: dt.datetime) -> list[Problem]:
        found = []
        for kind in _STATUS_PROBLEMS:
            seen = sorted(
                ((key, s) for key, s in self.results.items() if s.status == kind),
                key=lambda item: item[1].at,
            )
            if kind != "early":
                seen = [(key, s) for key, s in seen if s.at >= self.release_at]
                seen = seen if now >= self._counts_from else []
            if seen:
                first = seen[0][1]
                places = tuple(dict.fromkeys(url for (url, _), _ in seen))
                found.append(Problem(kind, first.at, places, first.diagnosis, _fault(kind, first)))
        return found

    def passed(self, now: dt.datetime) -> dict[str, Problem]:
        """The status problems a result showed since the last call, counted as ``problems``
        counts them, whether or not still current: one that came and went between two looks
        (an origin answering with errors for a few seconds after T) is still an incident."""
        taken, self.passing = self.passing, {}
        found = {}
        for kind, (url, seen) in taken.items():
            if kind != "early" and (seen.at < self.release_at or now < self._counts_from):
                continue
            found[kind] = Problem(kind, seen.at, (url,), seen.diagnosis, _fault(kind, seen))
        return found

    @property
    def _counts_from(self) -> dt.datetime:
        """From when a result after T may be a problem (see ``external``)."""
        grace = self.late_after_s if self.external else 0.0
        return self.release_at + dt.timedelta(seconds=grace)

    def _exposure(self) -> Problem | None:
        if not self.exposed or self.flipped:
            return None
        since = min(at for at, _ in self.exposed.values())
        fix = next(iter(self.exposed.values()))[1]
        sentence = f"The public website serves the copy waiting to be published: {fix}"
        return Problem("embargo", since, tuple(sorted(self.exposed)), sentence, "server")

    def _failed(self) -> Problem | None:
        if self.failed is None or self.flipped:
            return None
        return Problem("failed", self.failed[0], (), self.failed[1], "server")

    def _late(self, now: dt.datetime) -> Problem | None:
        if self.late_s is not None and not self.all_live:
            sentence = f"The files went live {self.late_s:,.1f} s after the release time."
            return Problem("late", self.release_at, (), sentence, "server")
        due = self.release_at + dt.timedelta(seconds=self.late_after_s + FLIP_RECORDED_S)
        if self.staged and not self.flipped and self.failed is None and now >= due:
            sentence = (
                "The files were staged but not yet published: check that onthedot is running "
                "on the publishing server."
            )
            return Problem("late", self.release_at, (), sentence, "server")
        return None

    def _clock(self) -> Problem | None:
        if self.clock is None or abs(self.clock[1]) <= CLOCK_OFF_S:
            return None
        at, offset = self.clock
        way = "ahead of" if offset > 0 else "behind"
        sentence = (
            f"This server's clock is {abs(offset):,.1f} s {way} the reference clock: correct its "
            "time synchronisation, or the release may go out at the wrong time."
        )
        return Problem("clock", at, (), sentence, "server")

    def _preflight(self) -> Problem | None:
        if self.preflight is None or self.all_live:
            return None
        at, at_risk = self.preflight
        first = at_risk[0]
        what = "one address" if len(at_risk) == 1 else f"{len(at_risk)} addresses, the first"
        sentence = (
            f"A check before the release time found {what} ({first['url']}) at risk: "
            f"{first['reason']} {first['fix']}"
        )
        cause = "cache" if any(r.get("layer") == "cache" for r in at_risk) else "server"
        places = tuple(dict.fromkeys(str(r["url"]) for r in at_risk))
        return Problem("preflight", at, places, sentence, cause)


def _fault(kind: str, seen: _Seen) -> str:
    if kind == "stale":
        return "cache" if seen.layer == "cache" else "server"
    return "server" if kind in ("missing", "error") else ""


def _result(reading: Reading, event: Event) -> None:
    obs = read_seen(event.data, event.at)
    if obs is not None:
        seen = _Seen(obs.status.value, obs.checked_at, obs.diagnosis, obs.layer)
        reading.results[(obs.url, obs.vantage)] = seen
        if seen.status in _STATUS_PROBLEMS:
            reading.passing.setdefault(seen.status, (obs.url, seen))


def _exposed(reading: Reading, event: Event) -> None:
    reading.exposed[str(event.data.get("url") or "")] = (event.at, str(event.data.get("fix", "")))


def _contained(reading: Reading, event: Event) -> None:
    for url in _strings(event.data.get("urls")):
        reading.exposed.pop(url, None)


def _failed(reading: Reading, event: Event) -> None:
    reading.failed = (event.at, str(event.data.get("error") or "Publishing failed."))


def _staged(reading: Reading, event: Event) -> None:
    reading.staged, reading.failed = True, None


def _flipped(reading: Reading, event: Event) -> None:
    reading.flipped, reading.failed, reading.exposed = True, None, {}
    late_s = _number(event.data.get("late_s"))
    if late_s > reading.late_after_s:
        reading.late_s = late_s


def _all_live(reading: Reading, event: Event) -> None:
    reading.all_live = True
    reading.live_at = reading.live_at or event.at


def _clock_offset(reading: Reading, event: Event) -> None:
    reading.clock = (event.at, _number(event.data.get("offset_s")))


def _preflight(reading: Reading, event: Event) -> None:
    at_risk = [r for r in event.data.get("risks") or [] if isinstance(r, dict) and r.get("url")]
    if event.data.get("ok") or not at_risk:
        reading.preflight = None
    else:  # still at risk: since the first preflight that found it
        since = reading.preflight[0] if reading.preflight else event.at
        reading.preflight = (since, at_risk)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


_HANDLERS = {
    kinds.VERIFY_RESULT: _result,
    kinds.EMBARGO_EXPOSED: _exposed,
    kinds.EMBARGO_CONTAINED: _contained,
    kinds.PUBLISH_FAILED: _failed,
    kinds.PUBLISH_STAGED: _staged,
    kinds.PUBLISH_FLIPPED: _flipped,
    kinds.VERIFY_ALL_LIVE: _all_live,
    kinds.CLOCK_OFFSET: _clock_offset,
    kinds.PREFLIGHT_CHECKED: _preflight,
}
KINDS = frozenset(_HANDLERS)
"""The kinds of event a ``Reading`` is fed (the others change nothing in it)."""
