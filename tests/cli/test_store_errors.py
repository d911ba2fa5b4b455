"""A store onthedot cannot use, from the user's side: one sentence with the fix and exit 2, never a
traceback, never the URL's password; the same for every command that opens the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release

runner = CliRunner()

# (the database URL, what the one line says)
UNUSABLE = [
    (
        "nosuch://user:s3cret@x/db",
        "'nosuch://user:***@x/db' is not a database onthedot can use: use e.g.",
    ),
    (
        "mysql://user:s3cret@127.0.0.1:1/x",
        "'mysql://user:***@127.0.0.1:1/x' is not a database onthedot can use",
    ),
    ("sqlite+nosuch:///x.db", "'sqlite+nosuch:///x.db' is not a database onthedot can use"),
    ("not a url", "'not a url' is not a database URL: use e.g. sqlite:///onthedot.db"),
    ("postgresql://user:s3cret@127.0.0.1:1/x", "cannot be opened (connection failed: "),
]
COMMANDS = [
    ["timeline", "RELEASE"],
    ["timeline-add", "RELEASE", "note", "--by", "X", "--text", "y"],
    ["verify", "RELEASE"],
    ["register"],
]


@pytest.mark.parametrize(("url", "message"), UNUSABLE)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_url_onthedot_cannot_use_is_one_line_and_exit_2(
    tmp_path: Path, url: str, message: str, command: list[str]
) -> None:
    release = write_release(tmp_path)
    args = [str(release) if a == "RELEASE" else a for a in command]
    result = runner.invoke(app, ["--database", url, *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and "s3cret" not in result.output


def test_a_read_only_store_says_so_instead_of_a_traceback(tmp_path: Path) -> None:
    release = write_release(tmp_path)
    store = tmp_path / "onthedot.db"
    made = runner.invoke(app, ["--database", f"sqlite:///{store}", "timeline", str(release)])
    assert made.exit_code == 0, made.output
    read_only = f"sqlite:///file:{store}?mode=ro&uri=true"  # as a file and folder it may not write
    result = runner.invoke(
        app,
        ["--database", read_only, "timeline-add", str(release), "note", "--by", "X", "--text", "y"],
    )
    assert result.exit_code == 2, result.output
    assert "is read-only, so nothing can be recorded: give onthedot write access" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
