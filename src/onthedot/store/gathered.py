"""Calls of one kind made at the same moment, answered by one query (``Gathered``).

At T, 200 releases sweep at once and each asks the store the same small things (post a sweep,
claim a chunk, mark it done, how many are left): the calls made while one batch is in the store,
or in the same turn of the event loop, go together in the next, one transaction for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from onthedot.errors import StoreError

A = TypeVar("A")
R = TypeVar("R")


class Gathered(Generic[A, R]):
    """``run`` gets the arguments of every call waiting and returns each one's answer, in order.
    A batch that fails fails every call in it (the store's failure is each one's). A caller
    cancelled while its call waits or is in the store does not take it back: it is done with
    the others (``asyncio.shield``). If the batches stop (the loop shutting down), every call
    held gets an error; none waits for ever."""

    def __init__(self, run: Callable[[Sequence[A]], Awaitable[Sequence[R]]]) -> None:
        self._run = run
        self._waiting: list[tuple[A, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def __call__(self, argument: A) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((argument, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        batch: list[tuple[A, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the calls of this turn of the loop join
                batch, self._waiting = self._waiting, []
                try:
                    answers = await self._run([argument for argument, _ in batch])
                except Exception as exc:  # (handed to the callers waiting: theirs to see)
                    for _argument, done in batch:
                        settle(done, exc)
                else:
                    for (_argument, done), answer in zip(batch, answers, strict=True):
                        settle(done, answer)
                batch = []
        except asyncio.CancelledError:
            stopped = StoreError("The store was not asked: the service is shutting down.")
            for _argument, done in [*batch, *self._waiting]:
                settle(done, stopped)
            self._waiting = []
            raise
        finally:
            self._draining = None


def settle(done: asyncio.Future[R], outcome: R | Exception) -> None:
    """Answer ``done`` with ``outcome`` (an exception is raised to its waiter), once."""
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
