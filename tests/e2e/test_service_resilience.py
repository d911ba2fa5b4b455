"""``onthedot run`` holds up: a broken release file is one bad file (the others are published on
the dot, /api/health says degraded and names it), and no request, however long it holds the web
side, delays a flip."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from onthedot.cli.common import State
from onthedot.cli.service_cmds import serve
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.web.access import ROUTES, Access
from onthedot.web.app import create_app
from onthedot.web.server import WebSpec, listen
from tests.e2e.helpers import one_file_site, start_service, until_live
from tests.servers.nginx import Nginx
from tests.servers.ports import free_port

pytestmark = pytest.mark.services

PATH = "/statistics/fatalquarterly.xlsx"
RELEASE = "fatal-injuries-2019-apr-sep"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_broken_file_beside_a_due_release_is_one_bad_file(
    tmp_path: Path, webroot: Path, origin: Nginx
) -> None:
    config, release_at = one_file_site(tmp_path, webroot, origin.url, in_s=8)
    broken = tmp_path / "releases" / "broken.toml"
    broken.write_text('id = "broken"\ntitle = \n', encoding="utf-8")
    nested = tmp_path / "releases" / "nested.toml"
    nested.write_text("x = " + "[" * 100_000 + "]" * 100_000, encoding="utf-8")
    port = free_port()
    service = start_service(config, f"sqlite:///{tmp_path / 'store.db'}", port)
    try:
        detail = until_live(f"http://127.0.0.1:{port}", RELEASE)
        assert detail.get("live"), detail
        assert (webroot / PATH.lstrip("/")).read_bytes() == b"new spreadsheet"
        (first,) = detail["first_live"]
        assert dt.datetime.fromisoformat(first["at"].replace("Z", "+00:00")) >= release_at
        health = _get(f"http://127.0.0.1:{port}/api/health")
        assert (health["ok"], health["status"]) == (True, "degraded")
        assert [p["file"] for p in health["problems"]] == [str(broken), str(nested)]
        assert health["problems"][0]["message"].startswith(f"{broken} cannot be read: run")
        assert service.poll() is None  # the nested file did not end it
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            output, _ = service.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            service.kill()
            output, _ = service.communicate()
    assert service.returncode == 0, output
    assert "Traceback" not in output, output
    assert output.count(f"file={broken}") == 1, output  # logged once, not on every tick
    assert f"{broken}:2: invalid TOML" in output and "nests brackets too deeply" in output
    assert "onthedot stopped." in output


HOLD_S = 1.5


def _hold_the_interpreter(seconds: float) -> None:
    """Hold Python's interpreter lock for about ``seconds`` in one C call (as parsing a huge
    JSON body does): no other thread of this process runs meanwhile."""
    started = time.perf_counter()
    sum(range(1_000_000))
    per_item = (time.perf_counter() - started) / 1_000_000
    sum(range(int(seconds / per_item)))


def _ask(url: str, answered: list[int] | None = None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            if answered is not None:
                answered.append(response.status)
    except OSError:  # (the service stopping while a request is held)
        pass


def holding_app(engine: Any, **kwargs: Any) -> FastAPI:
    """The service's app with one more route that holds the interpreter for HOLD_S seconds."""
    app = create_app(engine, **kwargs)
    # (in the web side's own process: its access table opens the two test routes to anyone)
    ROUTES.update({"/hold": Access.PUBLIC, "/block": Access.PUBLIC})

    @app.get("/hold")
    def hold() -> dict[str, bool]:  # (run by Starlette in a worker thread of the web side)
        _hold_the_interpreter(HOLD_S)
        return {"held": True}

    @app.get("/block")
    async def block() -> dict[str, bool]:  # blocks the web side's event loop itself
        time.sleep(HOLD_S)
        return {"blocked": True}

    return app


def test_a_request_holding_the_web_side_does_not_delay_the_flip(
    tmp_path: Path, webroot: Path, origin: Nginx
) -> None:
    config, release_at = one_file_site(tmp_path, webroot, origin.url, in_s=10)
    database = f"sqlite:///{tmp_path / 'store.db'}"
    st = State(config_path=config, database=database)
    port = free_port()
    spec = WebSpec(database, config, {}, make_app=holding_app)

    answered: list[int] = []

    def hammer() -> None:
        """From T − 0.8 s, requests that hold the web side past T."""
        time.sleep(max(0.0, (release_at - dt.datetime.now(dt.UTC)).total_seconds() - 0.8))
        for route in ("/hold", "/block", "/hold"):
            threading.Thread(
                target=_ask, args=(f"http://127.0.0.1:{port}{route}", answered), daemon=True
            ).start()

    async def main() -> float:
        stop = asyncio.Event()
        engine = await open_store(database)  # (created and migrated before the service starts)
        service = asyncio.create_task(
            serve(st, poll=1.0, web=(spec, listen("127.0.0.1", port)), stop=stop)
        )
        threading.Thread(target=hammer, daemon=True).start()
        try:
            flipped: list[Any] = []
            while not flipped and not service.done():
                await asyncio.sleep(0.2)
                flipped = await Timeline(engine).events(RELEASE, kinds.PUBLISH_FLIPPED)
            assert flipped, service
            # the held requests were served (they did hold the web side); the web side runs at a
            # lower CPU priority than the scheduler, so on a busy machine they take a while
            for _ in range(150):
                if len(answered) == 3:
                    break
                await asyncio.sleep(0.2)
            assert answered == [200, 200, 200]
            stop.set()
            await service
            return float(flipped[0].data["late_s"])
        finally:
            await engine.dispose()

    late_s = asyncio.run(main())
    assert late_s < 0.5
    assert (webroot / PATH.lstrip("/")).read_bytes() == b"new spreadsheet"
