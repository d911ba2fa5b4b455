"""The publish path records through a pool of its own on PostgreSQL (``store.db.publishing``):
its events — staged, flipped, purged — are signed with the service's key like every other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


async def test_heads_are_signed_without_making_the_folder_again_each_time(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At T the leader signs thousands of heads: the checkpoint folder is made when the file
    cannot be opened for want of it (first, or removed since), not before every line."""
    folder = tmp_path / "evidence"
    anchor = Anchor(tmp_path / "key", folder / "checkpoints", "the store")
    bind(engine, anchor)
    made: list[Path] = []
    real_mkdir = Path.mkdir

    def mkdir(path: Path, *args: Any, **kwargs: Any) -> None:
        made.append(path)
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    timeline = Timeline(engine)
    await timeline.append("gdp", kinds.PUBLISH_STAGED, {})
    assert folder in made  # (the first line: no folder yet)
    made.clear()
    for _ in range(5):
        await timeline.append("gdp", kinds.PUBLISH_WAITING, {})
    assert made == []
    (folder / "checkpoints").unlink()
    folder.rmdir()
    last = await timeline.append("gdp", kinds.PUBLISH_FLIPPED, {})
    assert made == [folder]
    signed = anchor.latest("gdp")
    assert signed is not None and (signed.seq, signed.head) == (7, last.hash)
    assert folder.stat().st_mode & 0o777 == 0o700
