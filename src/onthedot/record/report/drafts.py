"""What people write into a release's breach report, and its status, kept with their history.

The report is drafted from the record (``model.build``); people add what only they know, one
section at a time (``SECTIONS``). Every save is a row of ``report_edits`` (who, when, the text;
the newest row of a section is its text, the rows before it its history) and an event on the
release's timeline (``report.edited``, with the text's SHA-256), written in one transaction.

The status moves draft → approved → sent (to the regulator, on a date) → published; an approved
report may go back to draft. Each move is a row of ``report_statuses`` and a ``report.status``
event. Who may make which move is the web layer's rule (``onthedot.web.access.REPORT_STEPS``);
what is written is checked here: only a draft is edited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.clock import SYSTEM_CLOCK, Clock
from onthedot.errors import InputError
from onthedot.model import is_web_url
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.tables import report_edits, report_statuses

SECTIONS: Mapping[str, str] = {
    "impact_inside": "Impact inside the producer body",
    "impact_outside": "Impact outside the producer body",
    "investigation": "Investigation",
    "longer_term": "Longer-term changes agreed",
    "contact": "Name and contact details of person dealing with report",
    "statement_link": "Link to published statement about the breach",
}
STATUSES = ("draft", "approved", "sent", "published")
MOVES: frozenset[tuple[str, str]] = frozenset(
    {("draft", "approved"), ("approved", "draft"), ("approved", "sent"), ("sent", "published")}
)
MAX_TEXT = 20_000


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes or moves the report: their name and role (as the dashboard knows them)."""

    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Edit:
    section: str
    text: str
    by: str
    role: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: str
    sent_on: dt.date | None
    by: str
    role: str
    at: dt.datetime


@dataclass(frozen=True)
class Draft:
    """A release's report as people left it: ``edits`` and ``changes`` oldest first."""

    release_id: str
    edits: tuple[Edit, ...] = ()
    changes: tuple[StatusChange, ...] = ()

    @property
    def written(self) -> dict[str, str]:
        """Each section's newest text (an emptied section is left out)."""
        newest = {e.section: e.text for e in self.edits}
        return {key: text for key, text in newest.items() if text.strip()}

    @property
    def status(self) -> str:
        return self.changes[-1].status if self.changes else "draft"

    @property
    def sent_on(self) -> dt.date | None:
        sent = [c.sent_on for c in self.changes if c.status == "sent"]
        return sent[-1] if sent and self.status in ("sent", "published") else None

    def last(self, status: str) -> StatusChange | None:
        return next((c for c in reversed(self.changes) if c.status == status), None)


def checked_text(section: str, text: str) -> str:
    """The text to keep for ``section``, or InputError naming the field and the fix."""
    if section not in SECTIONS:
        raise InputError(
            f"{section!r} is not a section people write: use one of {', '.join(SECTIONS)}."
        )
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise InputError(
            f"{SECTIONS[section]}: the text is {len(text):,} characters long: shorten it to "
            f"{MAX_TEXT:,} or attach the detail to the report by hand."
        )
    if section == "statement_link" and text and not is_web_url(text):
        raise InputError(
            f"{SECTIONS[section]}: {text[:80]!r} is not a web address: give one starting "
            "https:// (or http://)."
        )
    return text


class Drafts:
    def __init__(self, engine: AsyncEngine, clock: Clock = SYSTEM_CLOCK) -> None:
        self._engine = engine
        self._clock = clock

    async def read(self, release_id: str) -> Draft:
        edits = select(report_edits).where(report_edits.c.release_id == release_id)
        moves = select(report_statuses).where(report_statuses.c.release_id == release_id)
        async with self._engine.connect() as conn:
            edit_rows = (await conn.execute(edits.order_by(report_edits.c.id))).all()
            move_rows = (await conn.execute(moves.order_by(report_statuses.c.id))).all()
        return Draft(
            release_id,
            tuple(Edit(r.section, r.text, r.by, r.role, r.at) for r in edit_rows),
            tuple(StatusChange(r.status, _date(r.sent_on), r.by, r.role, r.at) for r in move_rows),
        )

    async def write(self, release_id: str, section: str, text: str, who: Author) -> bool:
        """Keep ``text`` as the section's newest; False when it is what the section says already."""
        text = checked_text(section, text)
        draft = await self.read(release_id)
        if (draft.written.get(section) or "") == text:
            return False
        now = self._clock.now()
        row: dict[str, object] = {"release_id": release_id, "section": section, "text": text}
        row |= {"by": who.name, "role": who.role, "at": now}

        async def keep(conn: AsyncConnection) -> None:
            await _only_a_draft(conn, release_id, SECTIONS[section])
            await conn.execute(insert(report_edits).values(row))

        data = {"section": section, "title": SECTIONS[section]}
        data |= {"sha256": hashlib.sha256(text.encode()).hexdigest()}
        await self._record(release_id, kinds.REPORT_EDITED, data, who, keep, now)
        return True

    async def move(
        self, release_id: str, status: str, who: Author, sent_on: dt.date | None = None
    ) -> None:
        """Move the report's status one step (``MOVES``); ``sent_on`` is needed for "sent"."""
        if status == "sent" and sent_on is None:
            raise InputError("Give the date the report was sent to the regulator (YYYY-MM-DD).")
        day, now = sent_on.isoformat() if sent_on else None, self._clock.now()
        row: dict[str, object] = {"release_id": release_id, "status": status, "sent_on": day}
        row |= {"by": who.name, "role": who.role, "at": now}

        async def keep(conn: AsyncConnection) -> None:
            was = await _status(conn, release_id)
            if (was, status) not in MOVES:
                raise InputError(_not_a_move(was, status))
            await conn.execute(insert(report_statuses).values(row))

        data = {"status": status} | ({"sent_on": day} if day else {})
        await self._record(release_id, kinds.REPORT_STATUS, data, who, keep, now)

    async def _record(
        self,
        release_id: str,
        kind: str,
        data: dict[str, str],
        who: Author,
        keep: Callable[[AsyncConnection], Awaitable[None]],
        at: dt.datetime,
    ) -> None:
        """The event on the release's timeline, and ``keep`` (the row) in the same transaction."""
        await Timeline(self._engine, self._clock).append(
            release_id,
            kind,
            data | {"by": who.name, "by_role": who.role},
            actor=who.name,
            source="dashboard",
            at=at,
            with_=keep,
        )


async def statuses(engine: AsyncEngine) -> dict[str, tuple[str, dt.date | None]]:
    """Every release's report status and the date it was sent (for the breach register);
    a release with no status change is a draft (and not listed)."""
    query = select(report_statuses).order_by(report_statuses.c.id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[str, tuple[str, dt.date | None]] = {}
    for r in rows:
        before = found.get(r.release_id, ("draft", None))[1]
        sent = _date(r.sent_on) if r.status == "sent" else before
        found[r.release_id] = (r.status, sent if r.status in ("sent", "published") else None)
    return found


async def _status(conn: AsyncConnection, release_id: str) -> str:
    query = (
        select(report_statuses.c.status)
        .where(report_statuses.c.release_id == release_id)
        .order_by(report_statuses.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(query)).scalar() or "draft"


async def _only_a_draft(conn: AsyncConnection, release_id: str, title: str) -> None:
    status = await _status(conn, release_id)
    if status != "draft":
        raise InputError(
            f"{title}: the report is {status} and no longer edited: the Head of Profession "
            "returns it to draft first."
            if status == "approved"
            else f"{title}: the report was {status} and is no longer edited: record what "
            "changed as a note on the timeline."
        )


def _not_a_move(was: str, to: str) -> str:
    if was == to:
        return f"The report is {was} already."
    steps = " or ".join(b for a, b in sorted(MOVES) if a == was) or "nothing further"
    return f"A report that is {was} cannot become {to}: it can become {steps}."


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None
