"""``onthedot run`` reads ``[web]`` from onthedot.toml, and ``ONTHEDOT_AGENT_TOKENS`` adds agents:
both kinds of token are let in, any other is refused, and the dashboard refreshes as configured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.ports import free_port

pytestmark = pytest.mark.services

FROM_FILE = "edinburgh-0123456789abcdef"
FROM_ENV = "cardiff-fedcba9876543210"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "onthedot.toml"
    config.write_text(
        f'[web]\nagents = {{edinburgh = "{FROM_FILE}"}}\nrefresh_s = 7\n', encoding="utf-8"
    )
    port = free_port()
    command = [sys.executable, "-m", "onthedot.cli", "--config", str(config), "--database"]
    command += [f"sqlite:///{tmp_path / 'store.db'}", "run", "--port", str(port)]
    env = {**os.environ, "ONTHEDOT_AGENT_TOKENS": f"cardiff:{FROM_ENV}", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
        assert b"Traceback" not in output, output.decode()


def ask(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_agents_from_the_file_and_the_environment_are_let_in(service: str) -> None:
    for token, name in ((FROM_FILE, "edinburgh"), (FROM_ENV, "cardiff")):
        status, body = ask(f"{service}/api/agent/assignments", token)
        assert (status, json.loads(body)["agent"]) == (200, name)
    status, _ = ask(f"{service}/api/agent/assignments", "x" * 24)
    assert status == 401
    status, page = ask(f"{service}/")
    assert status == 200 and b'data-refresh="7.0"' in page
