"""Calls of one kind made at the same moment, answered by one query (``Gathered``).

At T, 200 releases sweep at once and each asks the store the same small things (post a sweep,
claim a chunk, mark it done, what is left of it): the calls made while one batch is in the
store, or in the same turn of the event loop, go together in the next, one query for all of
them. A batch the store gave up on because it met another transaction (a deadlock, a
serialization failure) is tried again one call at a time, so a clash fails only the call that
still meets it, not every release in the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

from onthedot.errors import StoreError, StoreUnreachableError

A = TypeVar("A")
R = TypeVar("R")

_Waiting = list[tuple[A, "asyncio.Future[R]"]]


class Gathered(Generic[A, R]):
    """``run`` gets the arguments of every call waiting and returns each one's answer, in order.
    A batch that fails is run again a call at a time (nothing of it was stored): the store gave
    it up for clashing with another transaction, or one call's values made it refuse the whole
    (an incident whose text the store cannot hold kept every other release's from opening, look
    after look); only a store that cannot be reached fails every call at once. A caller
    cancelled before its batch starts is left out of it; a batch whose callers were all
    cancelled is cancelled too (as a call of its own would be), one with a caller still waiting
    is done for all of them. If the batches stop (the loop shutting down), every call held gets
    an error; none waits for ever."""

    def __init__(self, run: Callable[[Sequence[A]], Awaitable[Sequence[R]]]) -> None:
        self._run = run
        self._waiting: _Waiting[A, R] = []
        self._draining: asyncio.Task[None] | None = None

    async def __call__(self, argument: A) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((argument, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        batch: _Waiting[A, R] = []
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the calls of this turn of the loop join
                batch = [(a, done) for a, done in self._waiting if not done.cancelled()]
                self._waiting = []
                if batch:
                    await self._answer(batch)
                batch = []
        except asyncio.CancelledError:
            stopped = StoreError("The store was not asked: the service is shutting down.")
            for _argument, done in [*batch, *self._waiting]:
                settle(done, stopped)
            self._waiting = []
            raise
        finally:
            self._draining = None

    async def _answer(self, batch: _Waiting[A, R]) -> None:
        """Run one batch and answer its callers (unless every one of them gave up)."""
        callers = [done for _argument, done in batch]
        running: asyncio.Task[Sequence[R | Exception]] = asyncio.create_task(self._ask(batch))
        for done in callers:
            done.add_done_callback(partial(_given_up, running, callers))
        try:
            answers = await running
        except asyncio.CancelledError:
            drain = asyncio.current_task()
            if drain is not None and drain.cancelling():
                raise  # (the drain itself was stopped)
        except Exception as exc:  # (handed to the callers waiting: theirs to see)
            for done in callers:
                settle(done, exc)
        else:
            for done, answer in zip(callers, answers, strict=True):
                settle(done, answer)

    async def _ask(self, batch: _Waiting[A, R]) -> Sequence[R | Exception]:
        arguments = [argument for argument, _ in batch]
        try:
            return await self._run(arguments)
        except Exception as exc:
            if len(arguments) < 2 or isinstance(exc, StoreUnreachableError):
                raise
        outcomes: list[R | Exception] = []
        for argument in arguments:  # (one at a time: together they might clash again, and what
            # one call's values made the store refuse is that call's alone)
            try:
                outcomes.extend(await self._run([argument]))
            except Exception as exc:  # (handed to its caller: theirs to see)
                outcomes.append(exc)
        return outcomes


CLASH_STATES = ("40001", "40P01")
"""SQLSTATEs of a transaction the store gave up on for meeting another: serialization failure,
deadlock detected (the same work alone succeeds)."""


def clashed(exc: Exception) -> bool:
    """The store gave the statement up for clashing with another transaction."""
    original = getattr(exc, "orig", None)
    return str(getattr(original, "sqlstate", "") or "") in CLASH_STATES


def _given_up(
    running: asyncio.Task[Sequence[R | Exception]], callers: list[asyncio.Future[R]], _done: object
) -> None:
    """A batch whose callers were all cancelled is cancelled too."""
    if all(done.cancelled() for done in callers):
        running.cancel()


def settle(done: asyncio.Future[R], outcome: R | Exception) -> None:
    """Answer ``done`` with ``outcome`` (an exception is raised to its waiter), once."""
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
