"""``onthedot demo`` on a machine that lacks what it needs: one sentence naming what to install
(Debian packages, the mail server's Python package) or asking for root, exit 2, nothing started."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.demo import website
from onthedot.sandbox import pam

runner = CliRunner()
GONE = {"/usr/sbin/varnishd", "varnishadm", "/usr/sbin/vsftpd"}
REAL_WHICH = shutil.which


@pytest.mark.parametrize(
    ("lacking", "said"),
    [
        ("programs", "'apt-get install varnish vsftpd libpam-pwdfile' (as root)"),
        ("mail sink", "pip install 'onthedot[test]'"),
        ("root", "run the demo as root"),
    ],
)
def test_what_is_missing_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lacking: str, said: str
) -> None:
    if lacking == "programs":
        monkeypatch.setattr(
            shutil, "which", lambda name: None if name in GONE else REAL_WHICH(name)
        )
        monkeypatch.setattr(pam, "available", lambda: False)
    else:
        monkeypatch.setattr(website, "missing", list)
        monkeypatch.setattr(website, "has_mail_sink", lambda: lacking != "mail sink")
        monkeypatch.setattr(website, "is_root", lambda: lacking != "root")
    result = runner.invoke(app, ["demo", "--folder", str(tmp_path / "demo"), "--no-keep"])
    assert result.exit_code == 2, result.output
    told = " ".join(result.output.split())
    assert said in told and "Traceback" not in told, told
    assert not (tmp_path / "demo").exists()  # nothing written, nothing started


def test_help_says_what_the_demo_does() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--keep" in result.output and "2019 incident" in result.output
