"""The sweeps after T, spread across every ``onthedot run`` on one PostgreSQL store.

The leader's watch (``morning.watch``) hands each sweep to ``Spread.check``: the URLs to look at
are split into parts of ``[publish] spread_chunk_urls`` (a release's pages, the files found
through them and their landing pages stay in one part, so no page is fetched twice) and posted
as chunks (``store.sweeps``). The leader looks at no more at once, across every release sweeping
at that moment, than its budget (``at_once``: ``LOOK_AHEAD`` times as many URLs as its prober
fetches at once, ``[verify] concurrency``): of each sweep it keeps what is left of that budget,
claimed in the same transaction and looked at in one sweep (its addresses resolved once, its
requests sent at once), so a sweep is usually no later than the leader alone would make it (it
waits for the chunks others hold: a slower instance delays it by as long as it takes over its
chunk, a dead one by up to the lease, ``store.sweeps.LEASE_S``, plus the look at that chunk by
whoever claims it then); the rest go to whichever instance claims them first, the leader too as
its budget frees. So 200 releases of 50 URLs due at one T are spread across the instances, not
each kept whole by the leader because each alone fits. Each standby runs a ``Helper``: woken
by the ``NOTIFY`` of a posted sweep, it claims chunks, looks at their URLs and stores the
results in the chunk. Before T it opens a verifier for each release due within a
minute and, ``PREPARE_BEFORE_S`` before T, resolves the site's addresses and builds the sweep's
requests, as the leader does. The leader waits for the chunks others hold (a chunk whose holder
died is claimed again once its lease ran out), then records every result once, each with the
instance that looked (``checks.checked_by``; the chunks keep who did which, their results are
taken out): the timeline, the incidents and the watch's end are judged by the leader alone, as
before.

A sweep that fits in what is left of the leader's budget, and every sweep on SQLite (one
instance), is the leader's alone, with no cost added (``alone`` counts it against the budget).
With no other instance listening for posted sweeps (``SweepBoard.others_listening``, asked at
most every ``HELPERS_FRESH_S``) nothing is posted and there is no budget: every sweep is the
leader's alone at once, as on SQLite (the probe engine bounds the fetches): held to a budget meant
for sharing, one instance's 400 chunks of 200 releases due at one T were looked at three at a time,
each after a claim from the store, its engine idle most of the time (``bench/bench_load.py``).
A store that fails in the middle of a spread sweep makes the leader sweep every URL itself, once
its other claimers have stopped (``together``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import CheckResult, Release
from onthedot.store.releases import ReleaseRepository
from onthedot.store.sweeps import Chunk, SweepBoard, SweepNotices, wait_for
from onthedot.verify.discovery import found_artefacts, landing_urls
from onthedot.verify.verifier import Verifier, VerifyReport, release_urls, result_json, watched_urls

log = logs.get_logger("onthedot.spread")

CHUNK_URLS = 25
"""URLs in one chunk, by default (``[publish] spread_chunk_urls``)."""
POLL_S = 0.5  # a helper looks for chunks at least this often (a NOTIFY wakes it at once)
PREPARE_BEFORE_S = 3.0  # a helper gets the sweep at T ready this long before T
LOOK_AHEAD_S = 60.0  # a helper opens a verifier for a release due this soon
KEEP_AFTER_S = 1800.0  # ... and keeps it this long after T (the dense sweeps)
REFRESH_S = 5.0  # a helper reads the releases from the store this often
KEPT_DAYS = 1  # the chunks of sweeps older than this are deleted (by the leader, at most ...)
FORGET_EVERY_S = 600.0  # ... this often)
HELPERS_FRESH_S = 2.0  # the leader asks whether another instance listens at most this often
_STORE_FAILED = (OnthedotError, SQLAlchemyError, OSError)

OpenVerifier = Callable[[Release], AbstractAsyncContextManager[Verifier]]


LOOK_AHEAD = 4
"""An instance looks at this many times as many URLs at once as its prober fetches at once: a
chunk's look also waits on the store (its claim, its results written) and on judging, and with
only as many chunks as the engine fetches URLs at once (three of 25) the engines sat idle
between chunks: with three instances, 200 releases of 50 URLs due at one T were every one
classified 11.5 s after T, with four times as many 8.6 s (``bench/bench_load.py``)."""


def at_once(concurrency: int, chunk_urls: int) -> int:
    """How many chunks an instance looks at at once: ``LOOK_AHEAD`` times as many URLs as its
    prober fetches at once (``[verify] concurrency``), so a sweep shared fetches no fewer URLs at
    once than one done alone, and the engine always has the next chunk's requests waiting."""
    return max(1, -(-concurrency * LOOK_AHEAD // chunk_urls))


def parts_of(release: Release, urls: Sequence[str], size: int) -> list[list[str]]:
    """``urls`` in parts of at most ``size``; the pages, the files found through landing pages
    and those landing pages all in the first part (a page's links are followed where it is)."""
    site = release.site
    together = {t.public_url for t in release_urls(release) if t.expect_text}
    together |= landing_urls(release) | {url for url, _ in found_artefacts(release)}
    if site is None:
        together = set()
    first = [url for url in urls if url in together]
    rest = [url for url in urls if url not in together]
    return ([first] if first else []) + [rest[i : i + size] for i in range(0, len(rest), size)]


async def look_at(
    verifier: Verifier, release: Release, chunks: Sequence[Chunk], board: SweepBoard
) -> list[CheckResult]:
    """The results of these chunks, looked at in one sweep (the site's addresses resolved once),
    their leases renewed while the look takes."""
    renewing = [asyncio.create_task(_renew(board, chunk)) for chunk in chunks]
    try:
        only = [url for chunk in chunks for url in chunk.urls]
        return (await verifier.check(release, only=only)).results
    finally:
        for task in renewing:
            task.cancel()
        await asyncio.gather(*renewing, return_exceptions=True)


async def _renew(board: SweepBoard, chunk: Chunk) -> None:
    while True:
        await asyncio.sleep(board.lease_s / 4)
        try:
            if not await board.renew(chunk):
                return  # taken over: the other instance's results will count
        except _STORE_FAILED as exc:
            log.warning("chunk lease not renewed", chunk=chunk.id, error=str(exc))


@dataclass
class Spread:
    """The leader's side: one sweep, spread and merged (see the module)."""

    board: SweepBoard
    notices: SweepNotices
    chunk_urls: int = CHUNK_URLS
    at_once: int = 1
    """Chunks the leader looks at at once across every release (``at_once``): as many URLs as
    it would alone."""
    _forgot: float = field(default=-FORGET_EVERY_S, init=False)
    _looking: int = field(default=0, init=False)
    """Chunks' worth of URLs the leader is looking at now, every release's sweeps together."""
    _freed: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _helped: bool | None = field(default=None, init=False)
    """Whether another instance listened when last asked (None: not known; as if one did)."""
    _asked: float = field(default=-HELPERS_FRESH_S, init=False)

    @property
    def instance(self) -> str:
        return self.board.instance

    async def check(
        self, verifier: Verifier, release: Release, only: Sequence[str] | None, now: dt.datetime
    ) -> SpreadSweep | None:
        """Sweep ``only`` these URLs (None: all) with the other instances; None when the sweep
        is better done alone (it fits in one part, or the store failed: do it alone)."""
        urls = list(only) if only is not None else watched_urls(release)
        parts = parts_of(release, urls, self.chunk_urls)
        if len(parts) <= self.at_once - self._looking:
            return None  # (the caller sweeps it ``alone``, at once: nothing awaited meanwhile)
        try:
            if not await self._helpers():
                return None  # (no one would claim a chunk: ``alone``, with no budget)
            keep = max(0, self.at_once - self._looking)
            self._looking += keep  # (taken now, before another release's sweep counts it)
            return await self._spread(verifier, release, parts, keep, now)
        except _STORE_FAILED as exc:
            log.warning("sweep not spread: the store failed", release=release.id, error=str(exc))
            return None

    async def _helpers(self) -> bool:
        """Whether another instance listens for posted sweeps (asked at most every
        ``HELPERS_FRESH_S``; the sweeps asking at one moment share one query)."""
        if time.monotonic() - self._asked >= HELPERS_FRESH_S:
            others = await self.board.others_listening(self.notices.backend)
            self._helped, self._asked = others > 0, time.monotonic()
        return self._helped is not False

    @asynccontextmanager
    async def alone(self, urls: int) -> AsyncIterator[None]:
        """Count a sweep of ``urls`` the leader does alone against its budget while it runs (it
        waits for room only when the budget is spent and something else is being looked at);
        with no other instance to leave work to, there is no budget."""
        if self._helped is False:
            yield
            return
        async with self._room(max(1, -(-urls // self.chunk_urls))):
            yield

    @asynccontextmanager
    async def _room(self, chunks: int) -> AsyncIterator[None]:
        while self._looking > 0 and self._looking + chunks > self.at_once:
            self._freed.clear()
            await self._freed.wait()
        self._looking += chunks
        try:
            yield
        finally:
            self._give_back(chunks)

    def _give_back(self, chunks: int) -> None:
        self._looking -= chunks
        self._freed.set()

    async def _spread(
        self,
        verifier: Verifier,
        release: Release,
        parts: list[list[str]],
        keep: int,
        now: dt.datetime,
    ) -> SpreadSweep:
        """The sweep posted, its ``keep`` first chunks (already counted in the budget) looked at
        here, the others by whoever claims them; every result, with who looked."""
        mine: dict[int, list[CheckResult]] = {}
        try:
            await self._forget_old()
            sweep, kept = await self.board.post(release.id, parts, keep=keep)
        except BaseException:
            self._give_back(keep)
            raise
        done = self.notices.waiting_for(sweep)
        try:
            try:
                if kept:
                    await self._look_kept(verifier, release, kept, mine)
            finally:
                self._give_back(keep)  # (the rest is claimed as the budget allows)
            while True:
                await together(
                    self._claim_all(verifier, release, sweep, mine) for _ in range(max(1, keep))
                )
                settled = await self.board.settle(sweep)
                if not settled.left:
                    break
                lease, expires_in = self.board.lease_s, settled.expires_in
                await wait_for(done, lease if expires_in is None else min(expires_in + 0.01, lease))
        finally:
            self.notices.forget(sweep)
        phase = "before" if now < release.release_at else "after"
        merged = SpreadSweep(VerifyReport(release.id, phase, now))
        for chunk in settled.chunks:
            if chunk.results is None:
                merged.add(self.instance, mine.get(chunk.id, []))
            else:
                found = [CheckResult.model_validate(r) for r in chunk.results]
                merged.add(chunk.done_by, found)
        return merged

    async def _forget_old(self) -> None:
        """Delete the chunks of old sweeps (at most every ``FORGET_EVERY_S``)."""
        if time.monotonic() - self._forgot >= FORGET_EVERY_S:
            self._forgot = time.monotonic()
            await self.board.forget_older(KEPT_DAYS)

    async def _look_kept(
        self,
        verifier: Verifier,
        release: Release,
        kept: list[Chunk],
        mine: dict[int, list[CheckResult]],
    ) -> None:
        """The chunks kept when the sweep was posted, looked at in one sweep, as the leader alone
        would; the results of a chunk another instance took over meanwhile are dropped (its
        results count), the rest kept under the first chunk finished (they are all this
        instance's; a file found through a page belongs to no chunk's list)."""
        found = await look_at(verifier, release, kept, self.board)
        lost: set[str] = set()
        for chunk in kept:
            if await self.board.finish(chunk, None):
                mine[chunk.id] = []
            else:
                lost |= set(chunk.urls)
        if mine:
            mine[next(iter(mine))] = [r for r in found if r.url not in lost]

    async def _claim_all(
        self,
        verifier: Verifier,
        release: Release,
        sweep: str,
        mine: dict[int, list[CheckResult]],
    ) -> None:
        """Claim this sweep's chunks one at a time, as the leader's budget allows, until none is
        free; the results kept here."""
        while True:
            async with self._room(1):
                chunk = await self.board.claim(sweep)
                if chunk is None:
                    return
                found = await look_at(verifier, release, [chunk], self.board)
            if await self.board.finish(chunk, None):
                mine[chunk.id] = found


@dataclass
class SpreadSweep:
    """A sweep done by several instances: the merged report, and who looked at what."""

    report: VerifyReport
    by: dict[str, list[CheckResult]] = field(default_factory=dict)

    def add(self, instance: str, results: list[CheckResult]) -> None:
        self.report.results += results
        self.by.setdefault(instance, []).extend(results)


@dataclass
class _Ready:
    """A release a helper is ready for: its verifier (open until ``stack`` is closed)."""

    release: Release
    verifier: Verifier
    stack: AsyncExitStack
    digest: str | None = None
    """Its stored document's digest when read with it (``Helper._get_ready`` reads it again
    only when the store's differs)."""
    prepared: bool = False
    preparing: asyncio.Task[None] | None = None
    """The sweep at T being got ready (``Verifier.prepare``): cancelled before the verifier
    it uses is closed."""

    def prepare(self) -> None:
        """Get the sweep at T ready alongside (once); a failure is only logged."""
        self.prepared = True
        self.preparing = asyncio.create_task(self.verifier.prepare(self.release))
        self.preparing.add_done_callback(partial(log_failed_preparation, self.release.id))

    async def close(self) -> None:
        """Stop getting ready, then close the verifier."""
        if self.preparing is not None:
            self.preparing.cancel()
            await asyncio.gather(self.preparing, return_exceptions=True)
        await self.stack.aclose()


class Helper:
    """A standby's side (see the module): ready before T, then claims whatever chunk is free."""

    def __init__(
        self,
        board: SweepBoard,
        notices: SweepNotices,
        engine: AsyncEngine,
        *,
        open_verifier: OpenVerifier,
        clock: Clock,
        leads: Callable[[], bool],
        at_once: int = 1,
    ) -> None:
        self._board = board
        self._notices = notices
        self._repo = ReleaseRepository(engine)
        self._open = open_verifier
        self._clock = clock
        self._leads = leads
        self._at_once = at_once
        self._ready: dict[str, _Ready] = {}
        self._read_at: dt.datetime | None = None
        self.chunks_done = 0

    async def run_forever(self) -> None:
        try:
            while True:
                if not self._leads():  # (the leader claims the chunks of its own sweeps)
                    await self._help()
                await wait_for(self._notices.posted, POLL_S)
        finally:
            await self.aclose()

    async def _help(self) -> None:
        """Get ready for the releases due soon; look at chunks (``at_once``) until none is free."""
        try:
            await self._get_ready()
            await together(self._claim_all() for _ in range(self._at_once))
        except _STORE_FAILED as exc:
            log.warning("sweep helper: the store failed", error=str(exc))
        except Exception:  # a bug must not stop this instance's part in the next sweeps
            log.exception("sweep helper crashed")

    async def _claim_all(self) -> None:
        while (chunk := await self._board.claim()) is not None:
            ready = await self._ready_for(chunk.release_id)
            if ready is None:  # (a release no longer in the store: nothing to look at)
                await self._board.finish(chunk, [])
                continue
            found = await look_at(ready.verifier, ready.release, [chunk], self._board)
            if await self._board.finish(chunk, [result_json(r) for r in found]):
                self.chunks_done += 1

    async def _get_ready(self) -> None:
        """Open a verifier for each release due soon, prepare it just before T, close the old."""
        now = self._clock.now()
        if self._read_at is None or (now - self._read_at).total_seconds() >= REFRESH_S:
            self._read_at = now
            due = await self._repo.due_between(
                now - dt.timedelta(seconds=KEEP_AFTER_S), now + dt.timedelta(seconds=LOOK_AHEAD_S)
            )
            # (only the new and changed ones read: at T, 200 releases of 50 files read and
            # checked every few seconds took the CPU the sweeps needed)
            changed = [
                rid
                for rid, digest in due.items()
                if (kept := self._ready.get(rid)) is None or kept.digest != digest
            ]
            for release in await self._repo.get_many(changed) if changed else ():
                if _soon(release, now):
                    await self._keep(release, due[release.id])
        for release_id, ready in list(self._ready.items()):
            until = (ready.release.release_at - now).total_seconds()
            if -until > KEEP_AFTER_S:
                del self._ready[release_id]
                await ready.close()
            elif not ready.prepared and 0 < until <= PREPARE_BEFORE_S:
                ready.prepare()

    async def _keep(self, release: Release, digest: str | None = None) -> _Ready:
        """The verifier for ``release`` (a changed release gets a new one); ``digest``: its
        stored document's, when read with it (what the next read compares)."""
        ready = self._ready.get(release.id)
        if ready is not None and ready.release == release:
            ready.digest = digest or ready.digest
            return ready
        if ready is not None:
            await ready.close()
        stack = AsyncExitStack()
        verifier = await stack.enter_async_context(self._open(release))
        ready = self._ready[release.id] = _Ready(release, verifier, stack, digest)
        return ready

    async def _ready_for(self, release_id: str) -> _Ready | None:
        ready = self._ready.get(release_id)
        if ready is not None:
            return ready
        release = await self._repo.get(release_id)
        return None if release is None else await self._keep(release)

    async def aclose(self) -> None:
        ready, self._ready = self._ready, {}
        for one in ready.values():
            await one.close()


def _soon(release: Release, now: dt.datetime) -> bool:
    until = (release.release_at - now).total_seconds()
    return -KEEP_AFTER_S < until <= LOOK_AHEAD_S and bool(release.artefact)


async def together(work: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` at once until all of it is done; the first to fail cancels the others and
    waits for them to end (``asyncio.TaskGroup``), then its exception is raised as it is, for
    the caller's own handling (not wrapped in an ``ExceptionGroup``)."""
    try:
        async with asyncio.TaskGroup() as group:
            for one in work:
                group.create_task(one)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


def log_failed_preparation(release_id: str, task: asyncio.Task[None]) -> None:
    """A preparation that failed is only a lost head start: the sweep at T resolves and builds
    for itself. Say so in the log."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("sweep.prepare_failed", release=release_id, error=repr(task.exception()))
