"""What the acts share: the ``Stage`` they tell through, what an act claims (``ActResult``), the
``Follower`` that tells each event and e-mail as it comes, and small readings of the timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock
from onthedot.model import Release
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.sandbox.mail import Mailbox


class Stage(Protocol):
    """Where the acts tell what happens (Rich for people: ``demo.show``)."""

    def heading(self, text: str) -> None: ...

    def say(self, text: str, style: str = "") -> None: ...

    async def countdown(self, clock: Clock, until: dt.datetime) -> None: ...

    def event(self, at: str, label: str, sentence: str) -> None: ...

    def mail(self, to: str, subject: str, body: str) -> None: ...

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...


@dataclass
class ActResult:
    """What an act saw, and the claims it makes about it (each True when it held)."""

    name: str
    claims: dict[str, bool] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.claims.values())


class Follower:
    """Tells the stage each new event of a release and each new message in the mail sink."""

    def __init__(self, engine: AsyncEngine, release: Release, box: Mailbox, stage: Stage) -> None:
        self._timeline, self._release, self._box, self._stage = (
            Timeline(engine),
            release,
            box,
            stage,
        )
        self._seq, self._mails = 0, len(box.messages)  # only mail from now on

    async def follow(self) -> None:
        while True:
            await self.catch_up()
            await asyncio.sleep(0.2)

    async def catch_up(self) -> None:
        from onthedot.record.narrative import describe, label

        for event in await self._timeline.events(self._release.id, after=self._seq):
            self._seq = event.seq
            if event.kind not in QUIET:
                said = incident_line(event) or describe(event, self._release)
                self._stage.event(clock_time(event), label(event.kind), said)
        for (subject, body), to in zip(
            self._box.texts()[self._mails :], self._box.recipients()[self._mails :], strict=True
        ):
            self._mails += 1
            self._stage.mail(to, subject, body)


QUIET = {kinds.RELEASE_SYNCED, kinds.CLOCK_OFFSET, kinds.PUBLISH_WAITING, kinds.ALERT_SENT}
"""Not told as they happen (an alert's e-mail is shown instead)."""


def clock_time(event: Event) -> str:
    """When it happened, London time: to the second for what onthedot recorded, to the minute for
    what a person entered (as the report gives them)."""
    from onthedot.calendar.timeutil import to_local
    from onthedot.record.narrative import by_a_person

    return to_local(event.at).strftime("%H:%M" if by_a_person(event) else "%H:%M:%S")


def incident_line(event: Event) -> str | None:
    """What an incident event is about (its title), which the timeline's sentence leaves out."""
    if event.kind in (kinds.INCIDENT_OPENED, kinds.INCIDENT_RESOLVED):
        what = "Opened" if event.kind == kinds.INCIDENT_OPENED else "Resolved"
        title = str(event.data.get("title") or "")
        return f"{what}: {title}" if title else f"{what}: the problem is no longer seen."
    return None


async def events_of(engine: AsyncEngine, release_id: str, kind: str | None = None) -> list[Event]:
    return await Timeline(engine).events(release_id, kind)


async def wait_for(check: Callable[[], object], seconds: float) -> bool:
    """Poll an async ``check`` until it is true or ``seconds`` pass."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found or loop.time() >= until:
            return bool(found)
        await asyncio.sleep(0.2)
