"""Fixtures for the record tests: a store on SQLite in the test's temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.db import open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite:///{tmp_path / 'record.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()
