"""How often the responder looks: at once when the morning records something, but a crowded
morning's nudges (every release's sweeps at T) are read a few at a time, not a look each."""

from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import respond
from onthedot.respond.responder import LOOK_GAP_S, Responder
from onthedot.settings import NotifySettings
from tests.respond.conftest import MovedClock, T


class _Counted(Responder):
    """A responder that counts its looks."""

    looks = 0

    async def look(self) -> None:
        self.looks += 1
        await super().look()


async def test_a_crowded_mornings_nudges_are_read_together(store: AsyncEngine) -> None:
    responder = _Counted(
        store, NotifySettings(), MovedClock(T), ZoneInfo("Europe/London"), look_every_s=30
    )
    running = asyncio.create_task(responder.run_forever())
    started = time.monotonic()
    try:
        for _ in range(100):  # (sweeps of many releases recording, 10 ms apart)
            respond.observe()
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await responder.aclose()
    assert 2 <= responder.looks <= took / LOOK_GAP_S + 2, (responder.looks, took)
