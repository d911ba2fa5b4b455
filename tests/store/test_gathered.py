"""Calls gathered into one batch (``store.gathered``): each caller answered, a batch whose callers
all gave up is stopped (as a call of its own would be), one with a caller left is finished."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.exc import DataError, OperationalError

from onthedot.errors import StoreUnreachableError
from onthedot.store.gathered import Gathered


class _Store:
    """Answers each batch once ``go`` is set; remembers the batches asked and stopped."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.asked: list[list[int]] = []
        self.stopped = 0

    async def run(self, arguments: Sequence[int]) -> list[int]:
        self.asked.append(list(arguments))
        try:
            await self.go.wait()
        except asyncio.CancelledError:
            self.stopped += 1
            raise
        return [n * 10 for n in arguments]


async def test_calls_made_together_are_one_batch_each_answered_its_own() -> None:
    store = _Store()
    gathered = Gathered(store.run)
    calls = [asyncio.create_task(gathered(n)) for n in (1, 2, 3)]
    await asyncio.sleep(0.01)
    later = asyncio.create_task(gathered(4))  # (while the first batch is in the store)
    calls[1].cancel()  # (a caller leaving a batch with others in it: the batch goes on)
    await asyncio.sleep(0.01)
    store.go.set()
    assert [await calls[0], await calls[2], await later] == [10, 30, 40]
    assert store.asked == [[1, 2, 3], [4]] and store.stopped == 0


async def test_a_batch_whose_callers_all_gave_up_is_stopped() -> None:
    store = _Store()
    gathered = Gathered(store.run)
    alone = asyncio.create_task(gathered(1))
    gone = asyncio.create_task(gathered(2))
    await asyncio.sleep(0)  # (both wait for the batch to start)
    gone.cancel()  # (before its batch started: left out of it)
    await asyncio.sleep(0.01)
    alone.cancel()
    await asyncio.gather(alone, gone, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert store.asked == [[1]] and store.stopped == 1
    store.go.set()
    assert await gathered(5) == 50  # (the next call is answered as usual)


class _Clash(Exception):
    """What the driver raises when PostgreSQL gives a statement up for a deadlock."""

    sqlstate = "40P01"


async def test_a_batch_given_up_for_a_clash_is_tried_again_one_call_at_a_time() -> None:
    asked: list[list[int]] = []

    async def run(arguments: Sequence[int]) -> list[int]:
        asked.append(list(arguments))
        if len(arguments) > 1:
            raise OperationalError("UPDATE sweep_chunks", {}, _Clash("deadlock detected"))
        if arguments[0] == 2:  # (the call that still fails alone fails alone)
            raise OperationalError("UPDATE sweep_chunks", {}, ValueError("bad row"))
        return [n * 10 for n in arguments]

    gathered = Gathered(run)
    answers = await asyncio.gather(*(gathered(n) for n in (1, 2, 3)), return_exceptions=True)
    assert answers[0] == 10 and answers[2] == 30, answers
    assert isinstance(answers[1], OperationalError) and "bad row" in str(answers[1])
    assert asked == [[1, 2, 3], [1], [2], [3]]


async def test_a_batch_one_call_makes_the_store_refuse_is_tried_a_call_at_a_time() -> None:
    """One incident whose text the store cannot hold failed every release's in its batch, look
    after look: now only its own call fails."""
    asked: list[list[int]] = []

    async def run(arguments: Sequence[int]) -> list[int]:
        asked.append(list(arguments))
        if 2 in arguments:
            raise DataError("INSERT INTO incidents", {}, ValueError("a NUL in the text"))
        return [n * 10 for n in arguments]

    gathered = Gathered(run)
    answers = await asyncio.gather(*(gathered(n) for n in (1, 2, 3)), return_exceptions=True)
    assert answers[0] == 10 and answers[2] == 30, answers
    assert isinstance(answers[1], DataError)
    assert asked == [[1, 2, 3], [1], [2], [3]]


async def test_a_store_that_cannot_be_reached_fails_every_call_at_once() -> None:
    asked: list[list[int]] = []

    async def run(arguments: Sequence[int]) -> list[int]:
        asked.append(list(arguments))
        raise StoreUnreachableError("The store cannot be reached.")

    gathered = Gathered(run)
    answers = await asyncio.gather(*(gathered(n) for n in (1, 2)), return_exceptions=True)
    assert all(isinstance(a, StoreUnreachableError) for a in answers) and asked == [[1, 2]]
