"""``timeline``, ``timeline-add``, ``breaches``, ``report``, ``statement``, ``register`` from the
user's side: a release file in a temp dir, a SQLite store, the 2019 incident recorded in it."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import text
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.config import load_release
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.record.incident import TITLE, record_2019
from tests.record.readback import docx_text, in_order

runner = CliRunner()

RELEASE = f"""\
id = "fatal-injuries-2019-apr-sep"
title = "{TITLE}"
producer = "Health and Safety Executive (HSE)"
release_at = 2019-12-18T09:30:00
announced_at = 2019-11-01T09:30:00
lead_statistician = "Jane Smith <jane.smith@hse.gov.uk>"
head_of_profession = "A Head <hop@hse.gov.uk>"

[site]
public = "https://www.hse.gov.uk"
target = "memory://cli-statement"

[[artefact]]
file = "fatalquarterly.xlsx"
path = "/statistics/fatalquarterly.xlsx"
"""


class Cli:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = f"sqlite:///{folder / 'x.db'}"
        (folder / "fatalquarterly.xlsx").write_bytes(b"new quarterly figures")
        self.release = folder / "release.toml"
        self.release.write_text(RELEASE, encoding="utf-8")

    def __call__(self, *args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--database", self.db, *args])

    def record_incident(self) -> None:
        async def go() -> None:
            engine = await open_store(self.db)
            try:
                release = load_release(self.release)
                await ReleaseRepository(engine).sync(release, actor="publisher")
                await record_2019(engine, release)
            finally:
                await engine.dispose()

        asyncio.run(go())

    def sql(self, statement: str) -> None:
        async def go() -> None:
            engine = await open_store(self.db)
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
            finally:
                await engine.dispose()

        asyncio.run(go())


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path)


def test_people_add_what_they_did_and_the_timeline_shows_it(cli: Cli) -> None:
    added = cli("timeline-add", str(cli.release), "informed", "--by", "Jane Smith", "--role",
                "lead statistician", "--at", "09:33", "--text", "the Head of Profession", "--json")
    assert added.exit_code == 0, added.output
    event = json.loads(added.stdout)["event"]
    assert (event["at"], event["kind"], event["actor"]) == ("2019-12-18T09:33:00Z", "person.informed", "Jane Smith")
    cli("timeline-add", str(cli.release), "action", "--by", "IT", "--at", "2019-12-18T10:35:00", "--text", "purged the cache")
    shown = cli("timeline", "fatal-injuries-2019-apr-sep", "--json")
    data = json.loads(shown.stdout)
    assert data["ok"] and [e["text"] for e in data["events"]] == [
        "At 09:33:00 Jane Smith (lead statistician) informed the Head of Profession.",
        "At 10:35:00 IT purged the cache.",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["informd", "--by", "X", "--text", "y"], "did you mean 'informed'?"),
        (["informed", "--by", "X"], "needs --text"),
        (["note", "--by", "X", "--text", "y", "--at", "25:99"], "is not a time"),
        (["statement", "--by", "X"], "needs --url"),
        (["note", "--by", "", "--text", "y"], "--by is empty: give the name of who did it"),
        (["note", "--by", " \t", "--text", "y"], "--by is empty: give the name of who did it"),
        (["note", "--by", "X", "--text", "y", "--at", "9999-12-31T23:59"], "'9999-12-31T23:59' is in the future"),
        (["note", "--by", "", "--text", "y", "--at", "9999-12-31T23:59"], "--by is empty"),  # as the issue tried
        (["note", "--by", "X", "--text", "y", "--at", "2019-10-31T09:30"],
         "is before fatal-injuries-2019-apr-sep could have anything on its record (it was announced: "
         "Friday 1 November 2019 09:30 GMT): check the date."),
        (["note", "--by", "X", "--text", "y", "--at", "0001-01-01T00:00"], "it was announced"),
        (["statement", "--by", "X", "--url", "javascript:alert(1)"], "--url 'javascript:alert(1)' must be an http://"),
        (["notice", "--by", "X", "--url", "https://x.org/\r\nSet-Cookie: a"], "must be one web address"),
    ],
)
def test_timeline_add_refuses_bad_input(cli: Cli, args: list[str], message: str) -> None:
    result = cli("timeline-add", str(cli.release), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert "0 events" in cli("timeline", str(cli.release)).stdout  # nothing was recorded


def test_timeline_add_takes_a_time_a_little_ahead_of_this_clock(cli: Cli) -> None:
    import datetime as dt

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).isoformat(timespec="seconds")
    result = cli("timeline-add", str(cli.release), "note", "--by", "X", "--text", "y", "--at", soon)
    assert result.exit_code == 0, result.output


def test_verify_passes_then_fails_after_one_byte_changes_in_the_store(cli: Cli) -> None:
    cli.record_incident()
    ok = cli("timeline", str(cli.release), "--verify")
    assert ok.exit_code == 0 and "The timeline is intact: 18 events" in ok.stdout
    cli.sql("UPDATE events SET data = replace(data, 'referred', 'reterred') WHERE seq = 9")
    broken = cli("timeline", str(cli.release), "--verify")
    assert broken.exit_code == 1
    assert "Event 9 (Action taken, happened at Wednesday 18 December 2019 09:36 GMT) fails the check" in broken.stdout
    assert "its content was changed after it was recorded" in broken.stdout
    as_json = json.loads(cli("timeline", str(cli.release), "--verify", "--json").stdout)
    assert as_json["chain"]["broken_seq"] == 9 and not as_json["ok"]


def test_report_docx_and_md_state_the_facts_of_the_acceptance(cli: Cli) -> None:
    cli.record_incident()
    facts = [TITLE, "Health and Safety Executive (HSE)", "T3.6", "09:30", "10:35", "Cause: the web server",
             "3. Impact of the breach", "4. Corrective actions"]
    made = cli("report", str(cli.release), "--format", "docx", "-o", "r.docx", "--date", "2019-12-19")
    assert made.exit_code == 0, made.output
    document = (cli.folder / "r.docx").read_bytes()
    assert Document(io.BytesIO(document)).paragraphs[0].text.startswith("Report of a breach")
    assert in_order(docx_text(document), facts) == []
    assert cli("report", "fatal-injuries-2019-apr-sep", "--format", "md", "-o", "r.md").exit_code == 0
    assert in_order((cli.folder / "r.md").read_text(encoding="utf-8"), facts) == []


def test_report_of_an_unknown_release_exits_2_with_a_suggestion(cli: Cli) -> None:
    cli.record_incident()
    result = cli("report", "fatal-injuries-2019-apr", "--format", "md", "-o", "r.md")
    assert result.exit_code == 2 and "did you mean 'fatal-injuries-2019-apr-sep'?" in result.stderr
    bad = cli("report", str(cli.release), "--format", "pdf", "-o", "r.pdf")
    assert bad.exit_code == 2 and "use one of docx, odt, html, md" in bad.stderr


def test_report_of_a_tampered_timeline_warns_or_refuses(cli: Cli) -> None:
    cli.record_incident()
    cli.sql("UPDATE events SET actor = 'someone else' WHERE seq = 3")
    warned = cli("report", str(cli.release), "--format", "md", "-o", "r.md")
    assert warned.exit_code == 0 and "WARNING" in warned.stdout
    assert (cli.folder / "r.md").read_text().count("fails its integrity check at event 3") == 1
    refused = cli("report", str(cli.release), "--format", "md", "-o", "strict.md", "--strict")
    assert refused.exit_code == 1 and "Event 3 (Went live" in refused.stderr
    assert not (cli.folder / "strict.md").exists()


def test_breaches_statement_and_register(cli: Cli) -> None:
    clean = cli("breaches", str(cli.release), "--json")
    assert clean.exit_code == 0 and json.loads(clean.stdout)["breaches"] == []
    assert cli("statement", str(cli.release)).exit_code == 1
    cli.record_incident()
    found = cli("breaches", str(cli.release), "--json")
    assert found.exit_code == 1
    (late,) = json.loads(found.stdout)["breaches"]
    assert (late["kind"], late["cause"], late["duration_s"]) == ("late", "cache", 3902.0)
    fragment = cli("statement", str(cli.release))
    assert fragment.exit_code == 0 and fragment.stdout.startswith('<section class="onthedot-statement"')
    published = cli("statement", str(cli.release), "-o", "s.html", "--publish", "/statistics/statement.html")
    assert published.exit_code == 0 and "https://www.hse.gov.uk/statistics/statement.html" in published.stdout
    assert (cli.folder / "s.html").read_text().startswith("<section")
    register = json.loads(cli("register", "--json").stdout)
    assert register["by_kind"] == {"late": 1} and register["by_cause"] == {"cache": 1}
    as_csv = cli("register", "--csv").stdout.splitlines()
    assert as_csv[0].startswith("release,kind,") and as_csv[1].startswith("fatal-injuries-2019-apr-sep,late,")
    assert cli("register", "--csv", "--json").exit_code == 2


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/statistics/fatalquarterly.xlsx", "is one of the files of fatal-injuries-2019-apr-sep"),
        ("/statistics/../fatalquarterly.xlsx", "'..' part"),
        ("/statistics/statement.html?x=1", "'?'"),
        ("/statistics/statement.html#top", "'#'"),
        ("/statistics/statement.csv", "must end in .html"),
    ],
)
def test_statement_publish_refuses_a_released_file_and_unplain_paths(
    cli: Cli, path: str, says: str
) -> None:
    from onthedot.publish.targets.memory import MemoryTarget

    cli.record_incident()
    store = MemoryTarget.store("cli-statement")
    store.files["/statistics/fatalquarterly.xlsx"] = b"new quarterly figures"
    result = cli("statement", str(cli.release), "-o", "s.html", "--publish", path)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert store.files["/statistics/fatalquarterly.xlsx"] == b"new quarterly figures"
    assert not (cli.folder / "s.html").exists()  # refused before anything was written
