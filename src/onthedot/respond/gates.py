"""Gates: the actions that wait until a release is live everywhere, then go, each recorded.

A gate (``[[gate]]`` in a release file, or ``[[gates.<release>]]`` in onthedot.toml when its
address holds a password or token) is a briefing to officials, a press or social-media webhook,
a data-API switch: an Apprise address (``mailto://``, ``json://`` for a webhook POST ...) and a
message. From the release time it is held (``gate.held``) until every address of the release is
live from every vantage point (``verify.all-live``), then sent (``gate.released``): no one hears
of the statistics through a gate before the public can read them. A send that fails is
recorded (``gate.failed``) and tried again, ``ATTEMPTS`` times ``PAUSES_S`` apart, then every
``RETRY_S`` until it goes; until then it is the release's ``gate`` problem (an incident; IT is
alerted). Addresses are recorded masked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import Gate, Release
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.channels import channel, masked
from onthedot.respond.notice import Tasks
from onthedot.respond.problems import Problem

log = logs.get_logger("onthedot.gates")

ATTEMPTS = 3
PAUSES_S = (2.0, 10.0)
RETRY_S = 60.0
KINDS = frozenset({kinds.VERIFY_ALL_LIVE, kinds.GATE_HELD, kinds.GATE_RELEASED, kinds.GATE_FAILED})
"""The kinds of event a ``GateRecord`` is fed (the others change nothing in it)."""


@dataclass
class GateRecord:
    """What one release's timeline says about its gates (pure: fed events in order)."""

    live_at: dt.datetime | None = None
    held: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    failed: dict[str, tuple[dt.datetime, str]] = field(default_factory=dict)  # since, why
    next_try: dict[str, dt.datetime] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def feed(self, event: Event) -> None:
        if event.seq in self.seen:
            return
        self.seen.add(event.seq)
        name = str(event.data.get("gate") or "")
        if event.kind == kinds.VERIFY_ALL_LIVE and self.live_at is None:
            self.live_at = event.at
        elif event.kind == kinds.GATE_HELD:
            self.held.add(name)
        elif event.kind == kinds.GATE_RELEASED:
            self.released.add(name)
            self.failed.pop(name, None)
        elif event.kind == kinds.GATE_FAILED and event.data.get("final"):
            since = self.failed[name][0] if name in self.failed else event.at
            self.failed[name] = (since, str(event.data.get("error") or "it was refused"))
            self.next_try[name] = event.at + dt.timedelta(seconds=RETRY_S)


def gates_of(release: Release, configured: Mapping[str, Sequence[Gate]]) -> tuple[Gate, ...]:
    """The release file's gates and those onthedot.toml keeps for it."""
    return (*release.gate, *configured.get(release.id, ()))


@dataclass
class Gates:
    """The gates of the releases the responder watches."""

    engine: AsyncEngine
    configured: Mapping[str, Sequence[Gate]]
    clock: Clock
    pauses_s: Sequence[float] = PAUSES_S
    tasks: Tasks = field(default_factory=Tasks)
    records: dict[str, GateRecord] = field(default_factory=dict)

    def feed(self, release_id: str, events: Sequence[Event]) -> None:
        record = self.records.setdefault(release_id, GateRecord())
        for event in events:
            record.feed(event)

    async def look(self, release: Release, now: dt.datetime) -> dict[str, Problem]:
        """Hold the gates at the release time, send them once live; the ``gate`` problem."""
        record = self.records.setdefault(release.id, GateRecord())
        timeline = Timeline(self.engine)
        for gate in gates_of(release, self.configured):
            if gate.name in record.released:
                continue
            if record.live_at is None:
                if now >= release.release_at and gate.name not in record.held:
                    data = {"gate": gate.name, "what": gate.name, "who": masked(gate.send)}
                    held = await timeline.append(release.id, kinds.GATE_HELD, data, at=now)
                    record.feed(held)
                continue
            key = f"{release.id}\0{gate.name}"
            waited = record.next_try.get(gate.name)
            if not self.tasks.busy(key) and (waited is None or now >= waited):
                self.tasks.start(key, self._send(release, gate, record))
        return _problem(record) if record.failed else {}

    async def _send(self, release: Release, gate: Gate, record: GateRecord) -> None:
        about: dict[str, Any] = {"gate": gate.name, "what": gate.name, "who": masked(gate.send)}
        timeline = Timeline(self.engine)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await channel(f"“{gate.name}” gate", 0, gate.send).send(
                    release.title, _message(release, gate)
                )
            except OnthedotError as exc:
                final = attempt == ATTEMPTS
                data = {**about, "attempt": attempt, "error": str(exc), "final": final}
                at = self.clock.now()
                record.feed(await timeline.append(release.id, kinds.GATE_FAILED, data, at=at))
                log.warning("gate.failed", release=release.id, **data)
                if final:
                    return
                await asyncio.sleep(self.pauses_s[min(attempt, len(self.pauses_s)) - 1])
            else:
                data = {**about, "attempt": attempt}
                at = self.clock.now()
                record.feed(await timeline.append(release.id, kinds.GATE_RELEASED, data, at=at))
                return


def _message(release: Release, gate: Gate) -> str:
    if gate.message:
        return gate.message
    where = ""
    if release.site is not None and release.paths:
        where = f" at {release.site.url(release.paths[0])}"
    return f"“{release.title}” is published and available to everyone{where}."


def _problem(record: GateRecord) -> dict[str, Problem]:
    names = tuple(sorted(record.failed))
    since = min(at for at, _ in record.failed.values())
    first = record.failed[names[0]][1]
    sentence = (
        f"The held step {names[0]!r} could not be sent ({first}): check its address "
        f"([[gate]] in the release file, or [[gates]] in onthedot.toml); it is tried again every "
        f"{RETRY_S:g} s."
    )
    return {"gate": Problem("gate", since, names, sentence, "server")}
