"""What people read in a terminal: nothing they wrote or we name in square brackets disappears.

Rich reads ``[word]`` as markup; error messages name ``[site]``, ``[verify.caches]``, ``[policy]``
and titles may hold ``[provisional]``. These run the commands in human mode (no ``--json``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release
from tests.e2e.helpers import write_site_release

runner = CliRunner()


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_an_error_naming_a_table_keeps_the_table_name(tmp_path: Path) -> None:
    release = write_site_release(
        tmp_path,
        public="http://127.0.0.1:9",
        origin=None,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[("/x.csv", b"a,b\n", None)],
    )
    result = runner.invoke(app, ["--database", _db(tmp_path), "publish", str(release), "--now"])
    assert result.exit_code == 2
    assert "Error: " in result.stderr
    assert 'no target: set [site] target, e.g. target = "ftp://publisher@host/".' in result.stderr


def test_a_target_error_keeps_the_table_name(tmp_path: Path) -> None:
    release = write_site_release(
        tmp_path,
        public="http://127.0.0.1:9",
        origin=None,
        target=f"file://{tmp_path / 'no-such-web-root'}",
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[("/x.csv", b"a,b\n", None)],
    )
    result = runner.invoke(app, ["--database", _db(tmp_path), "publish", str(release), "--now"])
    assert result.exit_code == 1, result.output  # a failed publish is recorded: a finding
    assert "no-such-web-root does not exist or is not a directory: check [site] target" in (
        result.stderr
    )


def test_check_shows_a_title_and_a_finding_with_brackets(tmp_path: Path) -> None:
    path = write_release(tmp_path / "releases", release_at="2019-12-21T09:30:00")  # a Saturday
    text = path.read_text(encoding="utf-8").replace(
        'title = "Fatal injuries', 'title = "[provisional] Fatal injuries'
    )
    path.write_text(text, encoding="utf-8")
    checked = runner.invoke(app, ["--database", _db(tmp_path), "check", str(path)])
    assert checked.exit_code == 1
    assert "fatal-injuries — Saturday 21 December 2019 09:30 GMT — 1 finding(s)" in checked.stdout
    assert "T3.6.weekday" in checked.stdout
    config = tmp_path / "onthedot.toml"
    config.write_text('releases = ["releases/*.toml"]\n', encoding="utf-8")
    listed = runner.invoke(app, ["--config", str(config), "--database", _db(tmp_path), "calendar"])
    assert listed.exit_code == 0, listed.output
    assert "[provisional]" in listed.stdout


def test_a_release_without_findings_reads_ok(tmp_path: Path) -> None:
    """Our own colours around the release id and the verdict leave the words as they are."""
    path = write_release(tmp_path, release_at="2019-12-18T09:30:00")
    result = runner.invoke(app, ["--database", _db(tmp_path), "check", str(path)])
    assert result.exit_code == 0
    assert "fatal-injuries — Wednesday 18 December 2019 09:30 GMT — ok" in result.stdout
