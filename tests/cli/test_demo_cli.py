"""``onthedot demo`` on a machine that lacks what it needs: one sentence naming the Debian packages
to install (or asking for root), exit 2, nothing started."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.demo import website
from onthedot.sandbox import pam

runner = CliRunner()


def test_missing_programs_are_named_as_the_packages_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = {"/usr/sbin/varnishd", "varnishadm", "/usr/sbin/vsftpd"}
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name in gone else real(name))
    monkeypatch.setattr(pam, "available", lambda: False)
    result = runner.invoke(app, ["demo", "--folder", str(tmp_path / "demo"), "--no-keep"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "'apt-get install varnish vsftpd libpam-pwdfile' (as root)" in said, said
    assert "Traceback" not in said
    assert not (tmp_path / "demo").exists()  # nothing written, nothing started


def test_a_missing_mail_sink_names_the_python_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(website, "missing", list)
    monkeypatch.setattr(website, "has_mail_sink", lambda: False)
    result = runner.invoke(app, ["demo", "--folder", str(tmp_path / "demo"), "--no-keep"])
    assert result.exit_code == 2, result.output
    assert "pip install 'onthedot[test]'" in " ".join(result.output.split())


def test_not_root_is_told_to_run_it_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(website, "missing", list)
    monkeypatch.setattr(website, "is_root", lambda: False)
    result = runner.invoke(app, ["demo", "--folder", str(tmp_path / "demo"), "--no-keep"])
    assert result.exit_code == 2, result.output
    assert "run the demo as root" in " ".join(result.output.split())


def test_help_says_what_the_demo_does() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--keep" in result.output and "2019 incident" in result.output
