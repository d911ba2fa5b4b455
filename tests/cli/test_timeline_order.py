"""``onthedot timeline`` from the user's side: in the order things happened, a person's entry with
when it was entered, kinds in plain words, ``--format people|json`` (``--json`` its alias), and a
chain that covers when each event was recorded while older events still verify."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from onthedot.record.timeline import GENESIS, event_hash
from onthedot.store.db import open_store
from tests.cli.test_evidence_cli import Cli

ID = "fatal-injuries-2019-apr-sep"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path)


def add(cli: Cli, at: str, what: str) -> None:
    done = cli("timeline-add", str(cli.release), "note", "--by", "Jane Smith", "--at", at,
               "--text", what)
    assert done.exit_code == 0, done.output


def test_an_entry_made_afterwards_is_shown_where_it_happened_and_when_it_was_entered(
    cli: Cli,
) -> None:
    add(cli, "11:35", "the cache was purged by hand")
    add(cli, "09:35", "a user reported the old figures")  # entered later, happened earlier
    people = cli("timeline", str(cli.release))
    assert people.exit_code == 0, people.output
    shown = people.stdout
    assert shown.index("a user reported") < shown.index("the cache was purged")
    assert "09:35, entered at" in shown and "11:35, entered at" in shown
    assert "│ Note " in shown and not re.search(r"│ note\s+│", shown)  # plain words, not the code
    machine = json.loads(cli("timeline", str(cli.release), "--format", "json").stdout)
    assert [e["seq"] for e in machine["events"]] == [2, 1]
    assert [e["label"] for e in machine["events"]] == ["Note", "Note"]
    first = machine["events"][0]
    assert first["at"] == "2019-12-18T09:35:00Z" and first["recorded_at"] > "2026"
    assert json.loads(cli("timeline", str(cli.release), "--json").stdout) == machine


def test_onthedots_own_events_keep_their_seconds_and_show_no_entry_time(cli: Cli) -> None:
    cli.record_incident()
    shown = cli("timeline", str(cli.release)).stdout
    assert re.search(r"│ 3 +│ 09:30:00 +│ onthedot +│ Went live +│", shown), shown
    assert "publish.flipped" not in shown and "“clock.offset”" not in shown
    # the 2019 entries of people were entered today: to the minute, and when they were entered
    assert re.search(r"│ 09:40, entered at +│ Jane Smith +│ Gate held", shown), shown


def test_a_timeline_format_that_does_not_exist_is_refused(cli: Cli) -> None:
    result = cli("timeline", str(cli.release), "--format", "xml")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --format 'xml' is not a timeline format: use one of people, json."
    )


def test_when_an_event_was_recorded_is_covered_by_the_chain(cli: Cli) -> None:
    add(cli, "09:35", "a user reported the old figures")
    assert cli("timeline", str(cli.release), "--verify").exit_code == 0
    cli.sql("UPDATE events SET recorded_at = '2019-12-18 09:36:00.000000' WHERE seq = 1")
    moved = cli("timeline", str(cli.release), "--verify")
    assert moved.exit_code == 1
    assert "Event 1 (Note, happened at Wednesday 18 December 2019 09:35 GMT) fails" in moved.stdout


def test_events_recorded_before_the_recording_time_was_kept_still_verify(cli: Cli) -> None:
    """An event of an older store: no recorded_at, hashed without it. It verifies, and one
    appended after it (with recorded_at) chains onto it."""
    add(cli, "09:35", "first")

    async def as_before() -> None:
        engine = await open_store(cli.db)
        try:
            async with engine.begin() as conn:
                row = (await conn.execute(text("SELECT * FROM events WHERE seq = 1"))).one()
                old = event_hash(ID, 1, row.at.replace(" ", "T") + "Z" if isinstance(row.at, str)
                                 else row.at, row.kind, row.actor, row.source, row.data, GENESIS)
                await conn.execute(
                    text("UPDATE events SET recorded_at = NULL, hash = :h WHERE seq = 1"),
                    {"h": old},
                )
        finally:
            await engine.dispose()

    asyncio.run(as_before())
    add(cli, "09:40", "second")  # chains onto the old event's hash
    verified = cli("timeline", str(cli.release), "--verify", "--json")
    data = json.loads(verified.stdout)
    assert data["chain"]["ok"] and data["chain"]["count"] == 2, data["chain"]
    assert [e["recorded_at"] is None for e in data["events"]] == [True, False]
