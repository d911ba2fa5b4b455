"""Helpers for end-to-end tests: write a release for a site, run the CLI, fetch through a cache."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from onthedot.cli import app

LONDON = ZoneInfo("Europe/London")
runner = CliRunner()


def local(instant: dt.datetime) -> str:
    """A TOML local date-time (Europe/London) for an aware instant, to the microsecond."""
    return instant.astimezone(LONDON).replace(tzinfo=None).isoformat()


def write_site_release(
    folder: Path,
    *,
    public: str,
    origin: str | None,
    release_at: dt.datetime,
    artefacts: list[tuple[str, bytes | None, str | None]],
    target: str | None = None,
    purge: tuple[str, ...] = (),
    id: str = "fatal-injuries-2019-apr-sep",
) -> Path:
    """A release file with ``(path, new bytes or None, expect_text or None)`` artefacts."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f'id = "{id}"',
        'title = "Fatal injuries arising from accidents at work in Great Britain: Summary for April to September 2019"',
        'producer = "Health and Safety Executive"',
        f"release_at = {local(release_at)}",
        f"announced_at = {local(release_at - dt.timedelta(days=40))}",
        'lead_statistician = "A Statistician <stats@example.org>"',
        "",
        "[site]",
        f'public = "{public}"',
    ]
    if origin:
        lines.append(f'origin = "{origin}"')
    if target:
        lines.append(f'target = "{target}"')
    lines.append("purge = [" + ", ".join(json.dumps(p) for p in purge) + "]")
    for index, (path, data, text) in enumerate(artefacts):
        lines += ["", "[[artefact]]", f'path = "{path}"']
        if data is not None:
            name = f"artefact-{index}{Path(path).suffix}"
            (folder / name).write_bytes(data)
            lines.append(f'file = "{name}"')
        if text is not None:
            lines.append(f"expect_text = {json.dumps(text)}")
    release = folder / f"{id}.toml"
    release.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return release


def write_config(
    folder: Path, body: str = "[verify.caches]\nvarnish = {default_ttl = 3600}\n"
) -> Path:
    """onthedot.toml for a test site (by default: its Varnish runs with -t 3600, as the fixture)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "onthedot.toml"
    path.write_text(body, encoding="utf-8")
    return path


def cli(db: str, *args: str, config: Path | None = None) -> tuple[int, Any]:
    """Run ``onthedot --database DB ARGS --json``; (exit code, parsed JSON)."""
    options = ["--config", str(config)] if config else []
    result = runner.invoke(app, [*options, "--database", db, *args, "--json"])
    try:
        data = json.loads(result.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"not JSON (exit {result.exit_code}): {result.stdout!r} {result.exception!r}"
        ) from exc
    return result.exit_code, data


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def start_service(config: Path, database: str, port: int) -> subprocess.Popen[str]:
    """``onthedot run`` as a user starts it (its own process, re-reading the release files every
    second), its output (stdout and stderr together, unbuffered) kept for the test to read."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "onthedot.cli", "--config", str(config),
            "--database", database, "run", "--port", str(port), "--poll", "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def until_live(base: str, release_id: str, seconds: float = 30) -> dict[str, Any]:
    """``/api/releases/ID`` of a running service, asked every half second until it says live
    (or ``seconds`` pass: the last answer)."""
    detail: dict[str, Any] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not detail.get("live"):
        time.sleep(0.5)
        try:
            detail = get_json(f"{base}/api/releases/{release_id}")
        except OSError:
            continue
    return detail


ONE_FILE = "/statistics/fatalquarterly.xlsx"


def one_file_site(
    tmp_path: Path, webroot: Path, public: str, in_s: float
) -> tuple[Path, dt.datetime]:
    """onthedot.toml of a release of one file (``ONE_FILE``), published into ``webroot`` by a
    file target ``in_s`` seconds from now; the config's path and the release time."""
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=in_s)
    write_site_release(
        tmp_path / "releases",
        public=public,
        origin=None,
        release_at=release_at,
        artefacts=[(ONE_FILE, b"new spreadsheet", None)],
        target=f"file://{webroot}",
    )
    return write_config(tmp_path, 'releases = ["releases/*.toml"]\n'), release_at
