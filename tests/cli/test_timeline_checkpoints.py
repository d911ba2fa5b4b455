"""``timeline --verify`` against signed checkpoints kept outside the database: deleting the last
events, or rewriting events and hashing them all again with the project's own function, leaves
the chain looking intact but not the checkpoint; ``timeline-key`` prints the public key."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner, Result

from onthedot.cli import app
from onthedot.record.timeline import GENESIS, Timeline, event_hash
from onthedot.store.db import open_store
from onthedot.store.tables import events
from tests.cli.test_evidence_cli import Cli
from tests.conftest import write_release
from tests.record.readback import docx_text

runner = CliRunner()
ID = "fatal-injuries"
Rows = list[dict[str, Any]]
Change = Callable[[AsyncConnection, Rows], Coroutine[Any, Any, None]]


class Site:
    """A release, its store and an onthedot.toml whose [evidence] files sit in another folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = f"sqlite:///{tmp_path / 'store' / 'onthedot.db'}"
        (tmp_path / "store").mkdir()
        self.evidence = tmp_path / "evidence"
        self.config = tmp_path / "onthedot.toml"
        self.config.write_text(
            '[evidence]\nkey = "evidence/timeline.key"\n'
            'checkpoints = "evidence/checkpoints.jsonl"\n',
            encoding="utf-8",
        )
        self.release = write_release(tmp_path)

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, ["--config", str(self.config), "--database", self.db, *args])

    def record(self, count: int) -> None:
        for n in range(count):
            done = self(
                "timeline-add", str(self.release), "note", "--by", "Jane", "--text", f"n{n}"
            )
            assert done.exit_code == 0, done.output

    def verify(self) -> Result:
        return self("timeline", str(self.release), "--verify")

    def change(self, how: Change) -> None:
        async def go() -> None:
            engine = await open_store(self.db)
            try:
                async with engine.begin() as conn:
                    query = select(events).where(events.c.release_id == ID).order_by(events.c.seq)
                    await how(conn, [dict(r._mapping) for r in await conn.execute(query)])
                assert (await Timeline(engine).verify(ID)).ok  # the chain alone sees nothing
            finally:
                await engine.dispose()

        asyncio.run(go())


async def _rehash(conn: AsyncConnection, rows: Rows) -> None:
    """Every event hashed again in order, as someone with the project's code would."""
    prev = GENESIS
    for row in rows:
        digest = event_hash(
            ID,
            row["seq"],
            row["at"],
            row["kind"],
            row["actor"],
            row["source"],
            row["data"],
            prev,
            row["recorded_at"],
        )
        where = (events.c.release_id == ID) & (events.c.seq == row["seq"])
        await conn.execute(update(events).where(where).values(prev_hash=prev, hash=digest))
        prev = digest


async def drop_last_two(conn: AsyncConnection, rows: Rows) -> None:
    await conn.execute(
        delete(events).where(events.c.release_id == ID, events.c.seq > len(rows) - 2)
    )


async def rewrite_second(conn: AsyncConnection, rows: Rows) -> None:
    where = (events.c.release_id == ID) & (events.c.seq == 2)
    rows[1]["data"] = rows[1]["data"].replace("n1", "nothing happened")
    await conn.execute(update(events).where(where).values(data=rows[1]["data"]))
    await _rehash(conn, rows)


async def swap_two(conn: AsyncConnection, rows: Rows) -> None:
    rows[0]["data"], rows[1]["data"] = rows[1]["data"], rows[0]["data"]
    for row in rows[:2]:
        where = (events.c.release_id == ID) & (events.c.seq == row["seq"])
        await conn.execute(update(events).where(where).values(data=row["data"]))
    await _rehash(conn, rows)


def test_an_untouched_timeline_matches_its_signed_checkpoint(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.record(3)
    result = site.verify()
    assert result.exit_code == 0, result.output
    assert "The timeline is intact: 3 events" in result.output
    assert "The first 3 are the ones signed at" in " ".join(result.output.split())
    for name in ("timeline.key", "checkpoints.jsonl"):
        assert stat.S_IMODE((site.evidence / name).stat().st_mode) == 0o600
    assert (
        not list((tmp_path / "store").glob("*.key")) and (site.evidence / "timeline.key").exists()
    )


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (drop_last_two, "holds 3 events, but 5 were signed at"),
        (rewrite_second, "Event 5 of fatal-injuries is not the one signed at"),
        (swap_two, "Event 5 of fatal-injuries is not the one signed at"),
    ],
)
def test_removed_rewritten_or_reordered_events_are_found(
    tmp_path: Path, how: Change, said: str
) -> None:
    site = Site(tmp_path)
    site.record(5)
    site.change(how)
    result = site.verify()
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())
    as_json = json.loads(site("timeline", str(site.release), "--json").stdout)
    assert as_json["ok"] is False and as_json["chain"]["ok"] is True
    assert as_json["checkpoint"]["ok"] is False and as_json["checkpoint"]["seq"] == 5


def test_a_checkpoint_not_signed_by_the_key_is_found(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.record(2)
    checkpoints = site.evidence / "checkpoints.jsonl"
    lines = checkpoints.read_text(encoding="utf-8").splitlines()
    forged = json.loads(lines[-1]) | {"seq": 1}
    checkpoints.write_text("\n".join([*lines, json.dumps(forged)]) + "\n", encoding="utf-8")
    result = site.verify()
    assert result.exit_code == 1
    assert "Line 3 of the checkpoint file" in " ".join(result.output.split())


def test_timeline_key_prints_the_public_key_that_checks_the_checkpoints(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.record(1)
    shown = json.loads(site("timeline-key", "--json").stdout)
    assert shown["key"] == str(site.evidence / "timeline.key")
    (line,) = (site.evidence / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    signed = json.loads(line)
    message = "\n".join(
        ["onthedot timeline checkpoint v1", signed["store"], ID, str(signed["seq"]),
         signed["head"], signed["at"]]
    ).encode()  # fmt: skip
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(shown["public_key"]))
    public.verify(base64.b64decode(signed["signature"]), message)  # raises if not
    assert signed["seq"] == 1 and signed["store"].endswith("store/onthedot.db")


def test_the_report_and_the_statement_carry_the_record_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = Cli(tmp_path)
    cli.record_incident()
    made = cli("report", str(cli.release), "--format", "docx", "-o", "r.docx")
    assert made.exit_code == 0, made.output
    assert cli("report", str(cli.release), "--format", "md", "-o", "r.md").exit_code == 0
    statement = cli("statement", str(cli.release)).stdout
    shown = json.loads(cli("timeline", str(cli.release), "--json").stdout)
    head = shown["events"][-1]["hash"]
    reference = f"Record reference: {head}. This is the fingerprint (SHA-256) of the last of the 18"
    assert reference in docx_text((tmp_path / "r.docx").read_bytes())
    assert reference in (tmp_path / "r.md").read_text(encoding="utf-8")
    # kept out of the statement's text, in an attribute of the fragment
    assert f'data-record-reference="{head}"' in statement and "Record reference" not in statement


def test_the_report_warns_when_events_signed_for_were_removed(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.record(4)
    before = site("report", str(site.release), "--format", "md", "-o", str(tmp_path / "a.md"))
    assert before.exit_code == 0, before.output
    assert "WARNING" not in (tmp_path / "a.md").read_text(encoding="utf-8")
    site.change(drop_last_two)
    after = site("report", str(site.release), "--format", "md", "-o", str(tmp_path / "b.md"))
    assert after.exit_code == 0, after.output
    text = " ".join((tmp_path / "b.md").read_text(encoding="utf-8").split())
    assert "WARNING: the timeline of this release fails its integrity check" in text
    assert "holds 2 events, but 4 were signed at" in text
