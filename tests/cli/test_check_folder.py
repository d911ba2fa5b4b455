"""``onthedot check FOLDER`` with broken files in it: every broken file reported, the rest
still checked, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release

runner = CliRunner()


def _folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "releases"
    write_release(
        folder, id="good", release_at="2026-03-12T09:30:00", announced_at="2025-06-01T09:30:00"
    )
    bad = folder / "bad.toml"
    bad.write_text('id = "bad"\ntitle = \n', encoding="utf-8")
    nested = folder / "nested.toml"
    nested.write_text("x = " + "[" * 100_000 + "]" * 100_000, encoding="utf-8")
    return folder, bad, nested


def test_check_reports_every_broken_file_and_still_checks_the_rest(tmp_path: Path) -> None:
    folder, bad, nested = _folder(tmp_path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", str(folder)])
    assert result.exit_code == 2, result.stdout
    assert f"{bad}:2: invalid TOML" in result.stdout
    assert f"{nested}:1: the file nests brackets too deeply to be read" in result.stdout
    assert "good — " in result.stdout and "ok" in result.stdout  # the valid one was checked
    assert "Traceback" not in result.stdout


def test_check_json_lists_the_broken_files_and_the_checked_releases(tmp_path: Path) -> None:
    folder, bad, nested = _folder(tmp_path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", "--json", str(folder)])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [e.split(":", 1)[0] for e in data["errors"]] == [str(bad), str(nested)]
    assert [r["id"] for r in data["releases"]] == ["good"]
