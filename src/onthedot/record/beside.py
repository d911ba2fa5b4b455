"""A sweep's results stored beside the sweep: ``CheckRecorder.record_as_judged`` run on an event
loop of its own, in a thread of its own, with its own connection to the store.

Storing a 6,000-URL sweep (its rows, its timeline events and their hashes, and the database's own
work) costs about as much CPU as fetching and judging it; on the sweep's event loop every step of
it holds up the probe engine. On a loop of its own it runs while the sweep's thread waits on the
network or works inside libcurl, which hold no GIL, so on two cores the two mostly overlap
(``bench/bench_verify_cli.py``). Nothing else changes: the same recorder stores the same batches
in the same order, one transaction per chunk, having first taken up what earlier runs and the
watch recorded (``CheckRecorder.take_up``), so a run records on the timeline only the statuses that
changed and no second first-live. The sweep's loop hands each batch over as it comes;
if storing fails, the next hand-over raises the store's error (the sweep stops there), and a sweep
that fails still has every batch it handed over stored before its error is raised.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult
from onthedot.record.checks import CheckRecorder

Batch = Sequence[CheckResult]
Store = Callable[[], AbstractAsyncContextManager[AsyncEngine]]
_DONE: Any = object()  # the end of the batches


class _Beside:
    """The thread, its loop, and the batches handed to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[Batch] = asyncio.Queue()
        self.thread = threading.Thread(target=self._run, name="onthedot-recorder")

    def _run(self) -> None:
        try:
            self.loop.run_forever()
        finally:  # (a recording that failed may leave its batches' generator unfinished)
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def hand(self, batch: Batch) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)

    async def batches(self) -> AsyncIterator[Batch]:
        while (batch := await self.queue.get()) is not _DONE:
            yield batch

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


async def record_beside(store: Store, release_id: str, batches: AsyncIterable[Batch]) -> None:
    """Store each of ``batches`` as ``CheckRecorder(engine).record_as_judged`` does, on a loop
    and a connection of its own (``store()`` opens the store there, once), after taking up what
    earlier runs recorded (``CheckRecorder.take_up``, as the watch does after a restart): every
    result is stored, but the timeline gets only what changed since, no second first-live."""
    beside = _Beside()
    beside.thread.start()

    async def recording() -> None:
        async with store() as engine:
            recorder = CheckRecorder(engine)
            await recorder.take_up(release_id)  # (read before this sweep stores anything)
            await recorder.record_as_judged(release_id, beside.batches())

    done = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(recording(), beside.loop))
    try:
        try:
            async for batch in batches:
                if done.done():
                    break  # storing failed: its error is raised below
                beside.hand(batch)
        finally:
            beside.hand(_DONE)
            await asyncio.wait([done])  # what was handed over is stored (or not) first
        done.result()
    finally:
        beside.stop()
