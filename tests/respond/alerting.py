"""A process that only alerts: ``python -m tests.respond.alerting DATABASE ADDRESS`` looks once
at the release of ``tests.respond.conftest`` one second after its release time, starts sending
what is due to ``ADDRESS`` (the statistician's), and waits to be killed."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from zoneinfo import ZoneInfo

from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from onthedot.store.db import open_store
from tests.respond.conftest import MovedClock, T


async def main(database: str, address: str) -> None:
    engine = await open_store(database)
    settings = NotifySettings.model_validate({"statistician": [address]})
    clock = MovedClock(T + dt.timedelta(seconds=1))
    responder = Responder(engine, settings, clock, ZoneInfo("Europe/London"), pauses_s=(60,))
    await responder.tick()
    print("looked", flush=True)
    await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
