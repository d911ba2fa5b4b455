"""The store keeps no secret and no one else can read it: site URLs are masked before a release is
stored or its changes are written to the history, and a new SQLite file is its owner's alone."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from onthedot.adapters import mask_secrets
from onthedot.cli import app
from onthedot.store.db import open_store
from tests.conftest import write_release

runner = CliRunner()
FTP_PASSWORD = "Ftp-Pass-4711"
NEW_FTP_PASSWORD = "Ftp-Pass-4712"
CF_TOKEN = "Cf-Token-0815"
SITE = """
[site]
public = "https://www.example.org"
origin = "https://stats:{password}@origin.example.org"
target = "ftp://publisher:{password}@127.0.0.1:1/www"
purge = ["cloudflare://zone123?token={token}"]

[[artefact]]
path = "/statistics/x.xlsx"
expect_text = "2019"
"""


def _rows(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT * FROM releases").fetchall()
        stored += conn.execute("SELECT * FROM release_history").fetchall()
    return repr(stored)


def test_a_synced_release_leaves_no_secret_in_either_table(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    release = write_release(tmp_path, extra=SITE.format(password=FTP_PASSWORD, token=CF_TOKEN))
    assert (
        runner.invoke(app, ["--database", f"sqlite:///{db}", "check", str(release)]).exit_code == 0
    )
    moved = write_release(
        tmp_path,
        release_at="2019-12-19T09:30:00",
        extra=SITE.format(password=NEW_FTP_PASSWORD, token=CF_TOKEN)
        + '\n[[change]]\nprevious = 2019-12-18T09:30:00\nreason = "Supplier delay"\n',
    )
    checked = runner.invoke(app, ["--database", f"sqlite:///{db}", "check", str(moved)])
    assert checked.exit_code in (0, 1)  # 1: the change's approval is not recorded
    stored = _rows(db)
    assert "ftp://publisher:****@127.0.0.1:1/www" in stored and "Supplier delay" in stored
    for secret in (FTP_PASSWORD, NEW_FTP_PASSWORD, CF_TOKEN):
        assert secret not in stored


def test_a_release_known_only_from_the_store_is_not_published_with_masked_secrets(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    release = write_release(tmp_path, extra=SITE.format(password=FTP_PASSWORD, token=CF_TOKEN))
    assert runner.invoke(app, ["--database", db, "check", str(release)]).exit_code == 0
    result = runner.invoke(app, ["--database", db, "publish", "fatal-injuries"])
    assert result.exit_code == 2
    assert "masked secret" in result.stderr and "publish from the release file" in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://u:p@ss@host/www", "ftp://u:****@host/www"),
        (
            "s3://KEY:abc@bucket/www?endpoint=https://s3.internal",
            "s3://KEY:****@bucket/www?endpoint=https://s3.internal",
        ),
        ("fastly://svc?Key=abc&soft=1", "fastly://svc?Key=****&soft=1"),
        ("https://www.example.org/a?b=c", "https://www.example.org/a?b=c"),
        ("not a url", "not a url"),
    ],
)
def test_masking_keeps_a_url_as_written_but_its_secrets(url: str, shown: str) -> None:
    assert mask_secrets(url) == shown


async def test_a_new_sqlite_store_and_its_journal_are_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "onthedot.db"
    engine = await open_store(f"sqlite:///{path}")
    try:
        async with engine.begin() as conn:  # the -wal and -shm files exist while it is open
            await conn.execute(text("SELECT count(*) FROM releases"))
            files = [path, path.with_name("onthedot.db-wal"), path.with_name("onthedot.db-shm")]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    finally:
        await engine.dispose()
    assert modes == dict.fromkeys(modes, 0o600)
