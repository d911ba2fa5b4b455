"""The release-morning board (``/``) on a morning of 200 releases × 50 URLs, in process.

Run as ``.venv/bin/python -m bench.board_figure [RELEASES FILES] [--postgres]``: fills a SQLite
store (or a throwaway PostgreSQL database on 127.0.0.1:5432)
(tests/web/busy_morning.py: every file embargoed before T, then live but for 2 stale per
release at T + 3 s), then asks for ``/`` at T + 10 s ``TIMES`` times after one warm-up, in
process (the store read and the page rendered, no network), and prints one JSON document: the
page's size, the statements it took, and its time (median, slowest). A figure for the dashboard's
section, not a benchmark of its own: bench_dashboard.py may take it in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from tests.servers.postgres import throwaway_database
from tests.web.busy_morning import T, fill_morning
from tests.web.conftest import FixedClock

from onthedot.config import Config
from onthedot.store.db import open_store
from onthedot.web.app import create_app

TIMES = 10


async def measure(releases: int, files: int, postgres: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        if postgres:
            url = stack.enter_context(throwaway_database())
        engine = await open_store(url)
        started = time.perf_counter()
        await fill_morning(engine, releases, files)
        filled_s = time.perf_counter() - started
        statements: list[str] = []
        event.listen(
            engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        clock = FixedClock(T + dt.timedelta(seconds=10))
        app = create_app(engine, config=Config(), clock=clock)
        times, size, asked = [], 0, 0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for n in range(TIMES + 1):
                statements.clear()
                started = time.perf_counter()
                page = await client.get("/")
                if n:  # (the first warms the caches)
                    times.append(time.perf_counter() - started)
                size, asked = len(page.content), len(statements)
                assert page.status_code == 200, page.status_code
        await engine.dispose()
    return {
        "store": "postgresql" if postgres else "sqlite",
        "releases": releases,
        "files_each": files,
        "store_filled_s": round(filled_s, 1),
        "page_bytes": size,
        "statements": asked,
        "page_ms_median": round(statistics.median(times) * 1000, 1),
        "page_ms_slowest": round(max(times) * 1000, 1),
        "times": TIMES,
    }


def main(argv: list[str]) -> None:
    numbers = [int(a) for a in argv if a != "--postgres"]
    releases, files = numbers if numbers else (200, 50)
    print(json.dumps(asyncio.run(measure(releases, files, "--postgres" in argv)), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
