"""The timeline: append-only events per release, each carrying the SHA-256 of its content and of the
previous event (a hash chain), so that any later change to a stored event is detectable.

The hashed content is the canonical JSON of ``release_id, seq, at, kind, actor, source, data`` plus
the previous hash, and ``recorded`` when the event has a ``recorded_at``; ``data`` is stored as
exactly the canonical JSON text that was hashed.

Each event keeps two moments: ``at``, when what it records happened (a person may enter at 11:50
what they noticed at 09:35), and ``recorded_at``, when the store appended it (by the timeline's
clock; for what onthedot records as it happens the two are the same). The chain keeps the order
of recording (``seq``); the listings sort by ``at``. Events recorded before ``recorded_at``
existed have none, and their hashes never covered it, so they still verify as they were.

After each write the new head is signed and kept outside the database when the store has an
anchor (``record.checkpoint``), so that removing the last events, or rewriting events and hashing
them again, is detected too (``checkpoint.check``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Row, Table, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.clock import SYSTEM_CLOCK, Clock
from onthedot.errors import StoreError
from onthedot.model import as_utc, iso_utc
from onthedot.record.checkpoint import check as checkpoint_check
from onthedot.record.checkpoint import sign_head
from onthedot.store.bulk import insert_rows
from onthedot.store.gathered import clashed, settle
from onthedot.store.tables import events

GENESIS = "0" * 64
_HASHED = ("release_id", "seq", "at", "kind", "actor", "source", "data", "prev_hash", "recorded_at")
"""The stored columns ``event_hash`` covers, in the order it takes them."""
CONTENTION_TRIES = 20  # another writer took the place this many times: give up
_BATCH = 500  # releases per query of ``Timeline.newer`` (well under SQLite's bound parameters)

Rows = Sequence[tuple[Table, Sequence[Mapping[str, Any]]]]
"""Rows stored with an append (``append_entries``'s ``rows``): each table's, in the order given."""


@dataclass(frozen=True, slots=True)
class Event:
    release_id: str
    seq: int
    at: dt.datetime
    kind: str
    actor: str
    source: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str
    recorded_at: dt.datetime | None = None  # None: recorded before the store kept the moment

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso_utc(self.at),
            "recorded_at": iso_utc(self.recorded_at) if self.recorded_at else None,
            "kind": self.kind,
            "actor": self.actor,
            "source": self.source,
            "data": dict(self.data),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""


_CANONICAL = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def canonical(data: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 as it is, ``str()`` of what JSON has no type for. orjson
    writes strings and integers byte for byte as ``json.dumps`` does (so every stored hash still
    verifies), ten times as fast; what it refuses (keys that are not strings, integers beyond 64
    bits) goes to ``json.dumps``. Floats may be spelt differently (``1e-5``): only in ``data``,
    whose text is stored exactly as it was hashed."""
    try:
        return orjson.dumps(data, default=str, option=_CANONICAL).decode("utf-8")
    except TypeError:
        return json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """An event to append: its kind and data, and the data as the canonical JSON that is stored
    and hashed (``entry``)."""

    kind: str
    data: Mapping[str, Any]
    data_json: str


def entry(kind: str, data: Mapping[str, Any]) -> Entry:
    return Entry(kind, data, canonical(data))


def event_hash(
    release_id: str,
    seq: int,
    at: dt.datetime | str,
    kind: str,
    actor: str,
    source: str,
    data_json: str,
    prev_hash: str,
    recorded_at: dt.datetime | str | None = None,
) -> str:
    """The hash of one event; ``at`` (and ``recorded_at``) an instant, or one already written
    out by ``iso_utc`` (a sweep's thousands of events share one). ``recorded_at`` is covered when
    there is one: an event from before it was kept hashes as it always did."""
    fields: dict[str, Any] = {
        "release_id": release_id,
        "seq": seq,
        "at": _text(at),
        "kind": kind,
        "actor": actor,
        "source": source,
        "data": data_json,
        "prev": prev_hash,
    }
    if recorded_at is not None:
        fields["recorded"] = _text(recorded_at)
    try:  # ``canonical``'s bytes, hashed as orjson writes them: not decoded and encoded again
        content = orjson.dumps(fields, default=str, option=_CANONICAL)
    except TypeError:
        content = canonical(fields).encode("utf-8")
    return hashlib.sha256(content).hexdigest()


def _text(instant: dt.datetime | str) -> str:
    return instant if isinstance(instant, str) else iso_utc(instant)


class Timeline:
    """Append to and read the hash-chained timeline in the store; ``clock`` says when each event
    is recorded (``recorded_at``), and when it happened unless the writer says (``at``)."""

    def __init__(self, engine: AsyncEngine, clock: Clock = SYSTEM_CLOCK) -> None:
        self._engine = engine
        self._clock = clock

    async def append(
        self,
        release_id: str,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str = "onthedot",
        source: str = "onthedot",
        at: dt.datetime | None = None,
        with_: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> Event:
        """Append one event; ``with_`` runs in the same transaction (e.g. marking a publish step
        done), so the event and what it records are stored together or not at all. A ``with_``
        with a ``together`` (``publish.steps.StepMark``) runs in one call of it with the others
        of its transaction."""
        (event,) = await self._write(
            release_id, [entry(kind, data or {})], actor, source, at, with_
        )
        return event

    async def append_many(
        self,
        release_id: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        actor: str = "onthedot",
        source: str = "onthedot",
        at: dt.datetime | None = None,
        with_: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> int:
        """Append several events in one transaction (a sweep of thousands of URLs); ``with_``
        runs in the same transaction (e.g. storing the results the events are about)."""
        entries = [entry(kind, data) for kind, data in items]
        return await self.append_entries(
            release_id, entries, actor=actor, source=source, at=at, with_=with_
        )

    async def append_entries(
        self,
        release_id: str,
        entries: Sequence[Entry],
        *,
        actor: str = "onthedot",
        source: str = "onthedot",
        at: dt.datetime | None = None,
        with_: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        rows: Rows = (),
    ) -> int:
        """``append_many`` of events whose data is already written out (``entry``), so a writer
        can make the next batch's while this one is being stored. ``rows`` are stored in the
        same transaction (a sweep's ``checks``), in one statement per table with the rows of the
        other appends written with it (so they need no ``with_``, a statement each); with no
        entries, only the rows are stored, still in the shared transaction."""
        if not entries and not any(part for _table, part in rows):
            return 0
        return len(await self._write(release_id, entries, actor, source, at, with_, rows))

    async def _write(
        self,
        release_id: str,
        entries: Sequence[Entry],
        actor: str,
        source: str,
        at: dt.datetime | None,
        with_: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        rows: Rows = (),
    ) -> list[Event]:
        """Chain ``entries`` onto the release's newest event, in one transaction, shared with the
        appends of other releases made at the same moment on this store (``_Appends``)."""
        recorded_at = as_utc(self._clock.now())
        at = as_utc(at) if at else recorded_at
        append = _Append(release_id, entries, actor, source, at, recorded_at, with_, rows)
        return await _Appends.of(self._engine).write(append)

    async def events(
        self, release_id: str, kind: str | None = None, *, after: int = 0
    ) -> list[Event]:
        """The release's events (of ``kind``) in the order they were recorded (``seq``); with
        ``after``, only those after it."""
        query = (
            select(events)
            .where(events.c.release_id == release_id, events.c.seq > after)
            .order_by(events.c.seq)
        )
        if kind is not None:
            query = query.where(events.c.kind == kind)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_event(r) for r in rows]

    async def newer(self, seen: Mapping[str, int]) -> dict[str, list[Event]]:
        """For each release of ``seen`` (its last event read), the events recorded after it, in
        order; a release with nothing new is left out. Two queries however many releases: one
        for the newest ``seq`` of each, one for the new events of those that have some."""
        return {rid: got for rid, (_head, got) in (await self.moved(seen)).items()}

    async def moved(
        self, seen: Mapping[str, int], of: Collection[str] | None = None
    ) -> dict[str, tuple[int, list[Event]]]:
        """``newer``, of the kinds ``of`` only (all: None), with each release's newest ``seq``:
        a release whose timeline moved on is in, even with no new event of those kinds, so that
        a reader of a few kinds knows what it need not ask about again (at T the responder reads
        what it acts on, not the thousands of ``verify.first-live``)."""
        found: dict[str, tuple[int, list[Event]]] = {}
        ids = list(seen)
        async with self._engine.connect() as conn:
            for start in range(0, len(ids), _BATCH):
                part = ids[start : start + _BATCH]
                heads = await conn.execute(
                    select(events.c.release_id, func.max(events.c.seq))
                    .where(events.c.release_id.in_(part))
                    .group_by(events.c.release_id)
                )
                for rid, head in heads.all():
                    if head > seen[rid]:
                        found[rid] = (head, [])
                moved = [rid for rid in part if rid in found]
                if not moved:
                    continue
                # (each release from its own last seq read: from the lowest of them, one release
                # read for the first time brought back every other's whole history)
                after = or_(
                    *((events.c.release_id == rid) & (events.c.seq > seen[rid]) for rid in moved)
                )
                query = select(events).where(after).order_by(events.c.release_id, events.c.seq)
                if of is not None:
                    query = query.where(events.c.kind.in_(sorted(of)))
                for row in (await conn.execute(query)).all():
                    found[row.release_id][1].append(_event(row))
        return found

    async def newest(self, release_id: str, of: Sequence[str]) -> Event | None:
        """The last recorded event of one of the kinds ``of`` (None: there is none)."""
        query = (
            select(events)
            .where(events.c.release_id == release_id, events.c.kind.in_(list(of)))
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _event(row) if row is not None else None

    async def count(self, release_id: str) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(func.count()).select_from(events).where(events.c.release_id == release_id)
            )
        return int(value or 0)

    async def verify(self, release_id: str) -> ChainCheck:
        """Recompute every hash in order; name the first event that does not match."""
        return _chain(await self._rows(release_id))

    async def verify_signed(self, release_id: str) -> ChainCheck:
        """``verify``, then the newest signed checkpoint: events removed from the end, or
        rewritten and hashed again, fail here though the chain itself holds. ``reason`` is then
        the checkpoint's one sentence; ``broken_seq`` the signed event's number."""
        return await self._signed(release_id, await self.verify(release_id))

    async def checked(self, release_id: str) -> tuple[list[Event], ChainCheck]:
        """The release's events (``events``) and ``verify``'s check of them, from one read: the
        events shown are the events checked (an event appended between two reads would be
        shown unchecked), and a page that shows both reads them once."""
        rows = await self._rows(release_id)
        return [_event(r) for r in rows], _chain(rows)

    async def checked_signed(self, release_id: str) -> tuple[list[Event], ChainCheck]:
        """``checked``, the check as ``verify_signed`` makes it."""
        found, chain = await self.checked(release_id)
        return found, await self._signed(release_id, chain)

    async def _rows(self, release_id: str) -> Sequence[Row[Any]]:
        query = select(events).where(events.c.release_id == release_id).order_by(events.c.seq)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def _signed(self, release_id: str, chain: ChainCheck) -> ChainCheck:
        if not chain.ok:
            return chain
        anchor = await checkpoint_check(self._engine, release_id, chain.count)
        if anchor.ok:
            return chain
        seq = anchor.checkpoint.seq if anchor.checkpoint else None
        return ChainCheck(False, chain.count, seq, anchor.problem)


def _chain(rows: Sequence[Row[Any]]) -> ChainCheck:
    """Every hash of ``rows`` (a release's events in order) recomputed; the first that does not
    match named."""
    prev = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            return ChainCheck(False, len(rows), expected_seq, f"event {expected_seq} is missing")
        if row.prev_hash != prev:
            return ChainCheck(False, len(rows), row.seq, "it does not link to the event before it")
        if event_hash(*(getattr(row, column) for column in _HASHED)) != row.hash:
            return ChainCheck(
                False, len(rows), row.seq, "its content was changed after it was recorded"
            )
        prev = row.hash
    return ChainCheck(True, len(rows))


def in_time_order(listed: Sequence[Event]) -> list[Event]:
    """``listed`` by the moment each thing happened; recorded order among the same moment."""
    return sorted(listed, key=lambda e: (e.at, e.seq))


def _event(row: Row[Any]) -> Event:
    return Event(
        row.release_id,
        row.seq,
        row.at,
        row.kind,
        row.actor,
        row.source,
        _loads(row.data),
        row.prev_hash,
        row.hash,
        row.recorded_at,
    )


_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
_LONG_NUMBER = "0" * 19
"""Digits enough for an integer beyond 64 bits, which orjson would read as a float (looked for
in the text with every digit made a 0: about a fifth of the time a regular expression's search
took over a sweep result's 1.2 KB, a fifth of it digits, as much as orjson's reading of it)."""


def _loads(text: str) -> dict[str, Any]:
    """The stored ``data``: by orjson (a third of the time: the responder reads 10,000 events
    at T), or by ``json`` what orjson refuses or might not read exactly (NaN, lone surrogates,
    a long run of digits)."""
    try:
        if _LONG_NUMBER in text.translate(_DIGITS_AS_ZERO):
            raise ValueError("perhaps an integer beyond 64 bits")
        value = orjson.loads(text)
    except ValueError:
        try:
            value = json.loads(text)
        except ValueError:
            return {"unreadable": text}
    return value if isinstance(value, dict) else {"value": value}


@dataclass(slots=True)
class _Append:
    """One writer's events for one release, waiting for the transaction they go in."""

    release_id: str
    entries: Sequence[Entry]
    actor: str
    source: str
    at: dt.datetime
    recorded_at: dt.datetime
    with_: Callable[[AsyncConnection], Awaitable[None]] | None
    also: Rows = ()  # rows of other tables stored with the events
    ready: list[Event] | None = None  # chained ahead onto the head expected (``_Appends``)

    def onto(self, seq: int, prev: str) -> list[Event]:
        """``chained``, or the events chained ahead when they were chained onto the same head."""
        ready = self.ready
        if ready and ready[0].seq == seq and ready[0].prev_hash == prev:
            return ready
        return self.chained(seq, prev)

    def chained(self, seq: int, prev: str) -> list[Event]:
        """The events, numbered from ``seq`` after the event whose hash is ``prev``."""
        written: list[Event] = []
        at_text, recorded_text = iso_utc(self.at), iso_utc(self.recorded_at)
        for item in self.entries:
            digest = event_hash(
                self.release_id, seq, at_text, item.kind, self.actor, self.source,
                item.data_json, prev, recorded_text,
            )  # fmt: skip
            written.append(
                Event(
                    self.release_id,
                    seq,
                    self.at,
                    item.kind,
                    self.actor,
                    self.source,
                    item.data,
                    prev,
                    digest,
                    self.recorded_at,
                )
            )
            seq, prev = seq + 1, digest
        return written

    def rows(self, written: Sequence[Event]) -> list[dict[str, Any]]:
        return [
            {
                "release_id": e.release_id,
                "seq": e.seq,
                "at": e.at,
                "recorded_at": e.recorded_at,
                "kind": e.kind,
                "actor": e.actor,
                "source": e.source,
                "data": item.data_json,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e, item in zip(written, self.entries, strict=True)
        ]


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, _Appends] = weakref.WeakKeyDictionary()
"""Each store's writer, for as long as its engine lives (the writer keeps the engine only by
weak reference, so an engine let go takes its writer with it)."""

_Pending = list[tuple[_Append, "asyncio.Future[list[Event]]"]]


class _OwnFailure(Exception):
    """An append's own failure inside a batch (its ``with_`` refused, or another writer kept
    taking its release's place): the batch is split and each append tried again alone. Never
    leaves ``_Appends``: its writer gets ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the store's failure rather than an append's: the connection lost, the
    store down or refusing, the pool full, a wait run out. Such a failure is every append's of
    the batch, and trying them again one by one could write twice what a lost COMMIT stored."""
    if isinstance(exc, IntegrityError):
        return False
    return isinstance(
        exc, StoreError | DBAPIError | SQLAlchemyTimeoutError | TimeoutError | OSError
    )


class _Appends:
    """The appends of one store, written together: the appends made while a transaction is in
    flight (200 releases recording at T) go in the next one, with one query for their heads and
    one insert for their events, instead of a transaction each.

    An append that fails in company by its own doing (its ``with_`` refused, its fence lost, or
    another writer took its place 20 times) is tried again alone, so one release's failure is
    never another's. A failure of the store (connection lost, even during COMMIT; pool full;
    store down) is every append's of the batch: each gets that error and none is tried again, as
    each got it when it was its own transaction (whether a lost COMMIT stored them stays the
    writer's to find out, as it was). A writer cancelled while its append waits or is being
    written does not take it back: it is stored with the others'. If the writer of the batches
    stops (the loop shutting down), every append it held gets an error; none waits for ever.

    The appends that arrive while a batch is being written are chained (their hashes computed,
    the loop's work) onto the heads that batch leaves, while it waits on the store
    (``_chain_ahead``); in their own transaction each is checked against its release's head as
    read there, and chained again if that is not the head expected (the batch before failed,
    another instance wrote), so what is stored is always chained onto the head in the store."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._store = weakref.ref(engine)
        self._loop = asyncio.get_running_loop()
        self._waiting: _Pending = []
        self._draining: asyncio.Task[None] | None = None
        self._expected: dict[str, tuple[int, str]] = {}  # head of each release once written
        self._ahead = False  # ``_chain_ahead`` is due

    @property
    def _engine(self) -> AsyncEngine:
        engine = self._store()
        if engine is None:  # (its writers hold it while they wait: not seen in practice)
            raise StoreError("The timeline could not be written: its store was closed.")
        return engine

    @classmethod
    def of(cls, engine: AsyncEngine) -> _Appends:
        writer = _WRITERS.get(engine)
        if writer is None or writer._loop is not asyncio.get_running_loop():
            writer = _WRITERS[engine] = cls(engine)
        return writer

    async def write(self, append: _Append) -> list[Event]:
        done: asyncio.Future[list[Event]] = self._loop.create_future()
        self._waiting.append((append, done))
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain())
        elif not self._ahead:
            self._ahead = True
            self._loop.call_soon(self._chain_ahead)
        return await asyncio.shield(done)  # (a writer cancelled leaves the others' appends be)

    async def _drain(self) -> None:
        batch: _Pending = []
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the appends of this turn of the loop join
                batch, self._waiting = self._waiting[:_APPENDS], self._waiting[_APPENDS:]
                await self._write_batch(batch)
                batch = []
        except asyncio.CancelledError:
            self._stopped(batch, StoreError(
                "The timeline's writer was stopped (the service is shutting down) before this "
                "event was confirmed stored: it may or may not have been written; look at the "
                "release's timeline before recording it again."
            ))  # fmt: skip
            raise
        except Exception as exc:  # (handed to the writers waiting: theirs to see)
            self._stopped(batch, exc)
        finally:
            self._draining = None

    def _chain_ahead(self) -> None:
        """Chain the appends waiting onto the heads their releases are expected to have once
        the appends before them are written (a release whose head is not known yet: in its
        transaction)."""
        self._ahead = False
        for append, _done in self._waiting:
            head = self._expected.get(append.release_id)
            if append.ready is None and append.entries and head is not None:
                append.ready = append.chained(*head)
                self._expect(append.ready)

    def _expect(self, written: Sequence[Event]) -> None:
        if written:
            if len(self._expected) >= _EXPECTED:  # (releases of long ago: forgotten)
                self._expected.clear()
            self._expected[written[-1].release_id] = (written[-1].seq + 1, written[-1].hash)

    def _stopped(self, batch: _Pending, error: Exception) -> None:
        """Every append the writer held, in flight or queued, fails with ``error``."""
        held, self._waiting = [*batch, *self._waiting], []
        for _append, done in held:
            settle(done, error)

    async def _write_batch(self, batch: _Pending) -> None:
        outcomes: list[list[Event] | Exception]
        try:
            outcomes = [*await self._together([a for a, _ in batch])]
        except _OwnFailure as own:  # (each append is tried alone: its own error is its own)
            outcomes = [own.error] if len(batch) == 1 else [await self._alone(a) for a, _ in batch]
        except Exception as exc:  # (the store's failure: every append's, none tried again)
            outcomes = [exc] * len(batch)
        for (_append, done), outcome in zip(batch, outcomes, strict=True):
            if outcome and not isinstance(outcome, Exception):
                last = outcome[-1]
                sign_head(self._engine, last.release_id, last.seq, last.hash)
            settle(done, outcome)

    async def _alone(self, append: _Append) -> list[Event] | Exception:
        try:
            (written,) = await self._together([append])
        except _OwnFailure as own:
            return own.error
        except Exception as exc:
            return exc
        return written

    async def _together(self, appends: Sequence[_Append]) -> list[list[Event]]:
        """Every append chained onto its release's head, in one transaction (tried again with
        the new heads when another writer took a place first). An append's own failure comes
        out as ``_OwnFailure``; the store's as it was raised."""
        for _attempt in range(CONTENTION_TRIES):
            try:
                async with self._engine.begin() as conn:
                    heads = await _heads(conn, {a.release_id for a in appends if a.entries})
                    written: list[list[Event]] = []
                    rows: list[dict[str, Any]] = []
                    also: dict[Table, list[Mapping[str, Any]]] = {}
                    for append in appends:
                        seq, prev = heads.get(append.release_id, (1, GENESIS))
                        chained = append.onto(seq, prev)
                        if chained:
                            heads[append.release_id] = (chained[-1].seq + 1, chained[-1].hash)
                            self._expect(chained)
                        written.append(chained)
                        rows += append.rows(chained)
                        for table, part in append.also:
                            also.setdefault(table, []).extend(part)
                    # (each writer takes its places, and runs its appends' own writes, in the
                    # releases' order: two writers met on two releases then wait for one
                    # another in turn, never in a circle)
                    rows.sort(key=lambda row: (row["release_id"], row["seq"]))
                    await insert_rows(conn, events, rows)
                    for table, part in also.items():
                        await insert_rows(conn, table, part)
                    await _withs(sorted(appends, key=lambda a: a.release_id), conn)
                return written
            except IntegrityError:
                continue
            except DBAPIError as exc:  # (given up for meeting another writer: nothing stored)
                if not clashed(exc):
                    raise
                continue
        ids = ", ".join(sorted({a.release_id for a in appends}))
        raise _OwnFailure(
            StoreError(
                f"The timeline of {ids} could not be written: other writers got there first "
                f"{CONTENTION_TRIES} times running; try again."
            )
        )


async def _withs(appends: Sequence[_Append], conn: AsyncConnection) -> None:
    """The appends' ``with_``, in their order; those that can go together (a ``together`` of
    the same kind: 200 releases' publish steps marked at T) in one call of it, after the others."""
    together: dict[Any, list[Any]] = {}
    for append in appends:
        if append.with_ is None:
            continue
        many = getattr(append.with_, "together", None)
        if many is None:
            await _with(append.with_, conn)
        else:
            together.setdefault(many, []).append(append.with_)
    for many, withs in together.items():
        await _with(partial(many, withs), conn)


async def _with(with_: Callable[[AsyncConnection], Awaitable[None]], conn: AsyncConnection) -> None:
    """An append's ``with_``: what it refuses is its own; the store failing under it is not (and
    a place taken is contention, tried again with the others)."""
    try:
        await with_(conn)
    except Exception as exc:
        if isinstance(exc, IntegrityError) or _store_failure(exc):
            raise
        raise _OwnFailure(exc) from exc


_APPENDS = 100  # appends in one transaction at most (their releases' heads asked in one query)
_EXPECTED = 10_000  # releases whose head ``_Appends`` expects, at most


async def _heads(conn: AsyncConnection, release_ids: set[str]) -> dict[str, tuple[int, str]]:
    """Each release's next ``seq`` and the hash to chain onto (a release with no event: none)."""
    if not release_ids:
        return {}
    newest = (
        select(events.c.release_id, func.max(events.c.seq).label("seq"))
        .where(events.c.release_id.in_(sorted(release_ids)))
        .group_by(events.c.release_id)
        .subquery()
    )
    rows = await conn.execute(
        select(events.c.release_id, events.c.seq, events.c.hash).join(
            newest,
            (events.c.release_id == newest.c.release_id) & (events.c.seq == newest.c.seq),
        )
    )
    return {r.release_id: (r.seq + 1, r.hash) for r in rows.all()}
