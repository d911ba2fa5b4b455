"""``onthedot check`` refuses an alert address no service can use (naming file, line and key,
its secret masked); ``incidents``, ``ack`` and ``close`` from the operator's side."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.cli.common import State
from onthedot.model import Status
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import IncidentBook
from onthedot.respond.problems import Reading
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.respond.conftest import T, retail, seen

runner = CliRunner()
RELEASE = """id = "retail-sales-2026-02"
title = "Retail sales"
producer = "Office for National Statistics"
release_at = 2026-03-12T09:30:00
announced_at = 2026-01-12T09:30:00

[site]
public = "https://www.example.org"
"""


def site(tmp_path: Path, notify: str) -> Path:
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "retail.toml").write_text(RELEASE, encoding="utf-8")
    config = tmp_path / "onthedot.toml"
    config.write_text('releases = ["releases/*.toml"]\n\n' + notify, encoding="utf-8")
    return config


def test_check_names_an_alert_address_no_service_can_use_with_its_line_and_no_secret(
    tmp_path: Path,
) -> None:
    config = site(
        tmp_path,
        '[notify]\nstatistician = ["mailto://127.0.0.1:2525?to=a@example.org&from=b@example.org"]\n'
        'it = [\n  "json://127.0.0.1/hook",\n  "nosuchservice://ops:hunter2-secret@example.org/x",\n]\n',
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(
        app, ["--config", str(config), "--database", db, "check", str(tmp_path / "releases")]
    )
    assert result.exit_code == 2, result.output
    assert f"{config}:5: notify.it[1]: The IT alert address " in result.output, result.output
    assert "hunter2-secret" not in result.output
    assert "notify.statistician" not in result.output  # the good addresses pass


def test_check_names_a_held_step_address_in_onthedot_toml_no_service_can_use(
    tmp_path: Path,
) -> None:
    config = site(
        tmp_path,
        '[[gates.retail-sales-2026-02]]\nname = "briefing"\nsend = "json://127.0.0.1/hook"\n\n'
        '[[gates.retail-sales-2026-02]]\nname = "press"\n'
        'send = "nosuchservice://press:hunter2-secret@example.org/x"\n',
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(
        app, ["--config", str(config), "--database", db, "check", str(tmp_path / "releases")]
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert (
        f"{config}:9: gates.retail-sales-2026-02[1].send: The held step's alert address " in said
    ), said
    assert "hunter2-secret" not in result.output and "[0].send" not in said


def test_check_passes_good_alert_addresses(tmp_path: Path) -> None:
    config = site(tmp_path, '[notify]\npublishing = ["json://127.0.0.1:9/hook"]\n')
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(
        app, ["--config", str(config), "--database", db, "check", str(tmp_path / "releases")]
    )
    assert "notify" not in result.output and result.exit_code in (0, 1), result.output


async def _stale_incident(db: str) -> int:
    """A store whose release went stale at T, its incident opened."""
    engine = await open_store(db)
    try:
        release = retail()
        await ReleaseRepository(engine).sync(release, actor="test")
        await seen(engine, Status.STALE, T + dt.timedelta(seconds=1))
        reading = Reading(T)
        for event in await Timeline(engine).events(release.id):
            reading.feed(event)
        (opened,) = await IncidentBook(engine).sync(release.id, reading.problems(T), T, ("stale",))
    finally:
        await engine.dispose()
    return opened.id


def test_incidents_are_listed_acknowledged_and_closed_with_a_reason(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    number = asyncio.run(_stale_incident(db))
    listed = runner.invoke(app, ["--database", db, "incidents", "--json"])
    (shown,) = json.loads(listed.stdout)["incidents"]
    assert (shown["id"], shown["problem"], shown["state"]) == (number, "stale", "open")
    acked = runner.invoke(app, ["--database", db, "ack", str(number), "--by", "Jo Bloggs"])
    assert acked.exit_code == 0 and "acknowledged" in acked.stdout, acked.output
    refused = runner.invoke(app, ["--database", db, "close", str(number), "--by", "Jo"])
    assert refused.exit_code == 2  # a reason is required
    closed = runner.invoke(
        app,
        ["--database", db, "close", str(number), "--by", "Jo", "--reason", "Cache expired"],
    )
    assert closed.exit_code == 0 and "closed" in closed.stdout, closed.output
    unknown = runner.invoke(app, ["--database", db, "ack", "999"])
    assert unknown.exit_code == 2 and "no incident 999" in unknown.output
    everything = runner.invoke(app, ["--database", db, "incidents", "--all", "--json"])
    (done,) = json.loads(everything.stdout)["incidents"]
    assert (done["state"], done["by"], done["reason"]) == ("closed", "Jo", "Cache expired")


def test_check_names_a_held_step_address_in_a_release_file_no_service_can_use(
    tmp_path: Path,
) -> None:
    """A release file's ``[[gate]]`` address is checked with the alert services too, not only
    for its shape: the file is refused with its line and key, the other files still checked."""
    config = site(tmp_path, "")
    gated = tmp_path / "releases" / "gated.toml"
    gated.write_text(
        RELEASE.replace("retail-sales-2026-02", "gated-2026-02")
        + '\n[[gate]]\nname = "briefing"\nsend = "json://127.0.0.1/hook"\n'
        + '\n[[gate]]\nname = "press"\nsend = "nosuchservice://press.example.org/x"\n',
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(
        app, ["--config", str(config), "--database", db, "check", str(tmp_path / "releases")]
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{gated.resolve()}:16: gate[1].send: The held step's alert address " in said, said
    assert "gate[0]" not in said and "retail-sales-2026-02" in said  # the other file checked


def test_run_will_not_start_with_an_alert_or_held_step_address_no_service_can_use(
    tmp_path: Path,
) -> None:
    """Found when the service starts, not at the release time: each address with its file,
    line and key, its secret masked; nothing is started."""
    config = site(
        tmp_path,
        '[notify]\nstatistician = ["nosuchservice://ops:hunter2-secret@example.org/x"]\n\n'
        '[[gates.retail-sales-2026-02]]\nname = "press"\n'
        'send = "nosuchservice://press:hunter2-secret@example.org/y"\n',
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--config", str(config), "--database", db, "run", "--no-web"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{config}:4: notify.statistician[0]: The statistician alert address " in said, said
    assert f"{config}:8: gates.retail-sales-2026-02[0].send: The held step's alert " in said
    assert "hunter2-secret" not in said and "Traceback" not in said
    assert not (tmp_path / "store.db").exists()  # refused before anything was opened


def test_the_service_reads_a_release_file_with_an_unusable_held_step_address_as_broken(
    tmp_path: Path,
) -> None:
    """What the scheduler reads (and re-reads) under ``onthedot run``: that file is a broken
    release file (its problem named as ``check`` names it), the others load."""
    config = site(tmp_path, "")
    gated = tmp_path / "releases" / "gated.toml"
    gated.write_text(
        RELEASE.replace("retail-sales-2026-02", "gated-2026-02")
        + '\n[[gate]]\nname = "press"\nsend = "nosuchservice://press.example.org/x"\n',
        encoding="utf-8",
    )
    files = State(config_path=config).release_files_from_config()
    assert [r.id for r in files.releases] == ["retail-sales-2026-02"]
    ((path, problems),) = files.broken.items()
    assert path == gated.resolve()
    assert problems[0].startswith(f"{gated.resolve()}:12: gate[0].send: The held step's alert")
