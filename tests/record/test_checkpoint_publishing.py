"""The publish path records through a pool of its own on PostgreSQL (``store.db.publishing``):
its events — staged, flipped, purged — are signed with the service's key like every other."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.checkpoint import Anchor, bind, bound
from onthedot.record.timeline import Timeline
from onthedot.store.db import publishing


async def test_the_publish_path_signs_its_events_with_the_services_key(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    anchor = Anchor(tmp_path / "key", tmp_path / "checkpoints", "the store")
    bind(engine, anchor)
    assert bound(publishing(engine)) is anchor  # (on SQLite the same engine; its own on PostgreSQL)
    await Timeline(engine).append("gdp", kinds.PUBLISH_STAGED, {})
    flipped = await Timeline(publishing(engine)).append("gdp", kinds.PUBLISH_FLIPPED, {})
    signed = anchor.latest("gdp")
    assert signed is not None and (signed.seq, signed.head) == (2, flipped.hash)
