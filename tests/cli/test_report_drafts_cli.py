"""``onthedot report`` and ``onthedot register`` include what people wrote on the dashboard and
the report's status."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from docx import Document

from onthedot.record.report.drafts import Author, Drafts
from onthedot.store.db import open_store
from tests.cli.test_evidence_cli import Cli

IMPACT = "Two newspapers asked why the spreadsheet was last year's."
HOP = Author("A Head", "head_of_profession")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path)


def written(cli: Cli) -> None:
    async def go() -> None:
        engine = await open_store(cli.db)
        try:
            drafts = Drafts(engine)
            await drafts.write("fatal-injuries-2019-apr-sep", "impact_outside", IMPACT, HOP)
            await drafts.move("fatal-injuries-2019-apr-sep", "approved", HOP)
            await drafts.move("fatal-injuries-2019-apr-sep", "sent", HOP, dt.date(2019, 12, 20))
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_the_report_and_the_register_hold_what_people_wrote_and_the_status(cli: Cli) -> None:
    cli.record_incident()
    written(cli)
    made = cli("report", str(cli.release), "--format", "docx", "-o", "r.docx")
    assert made.exit_code == 0, made.output
    document = Document(io.BytesIO((cli.folder / "r.docx").read_bytes()))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    assert IMPACT in cells
    assert any(c.startswith("Sent to the regulator; approved by A Head on ") for c in cells)
    assert any(c.endswith("sent to the regulator on Friday 20 December 2019.") for c in cells)
    listed = json.loads(cli("register", "--json").output)["breaches"][0]
    assert (listed["report"], listed["report_sent_on"]) == ("sent", "2019-12-20")
    rows = list(csv.DictReader(io.StringIO(cli("register", "--csv").output)))
    assert rows[0]["report"] == "sent" and rows[0]["report_sent_on"] == "2019-12-20"
    assert "sent" in cli("register").output
