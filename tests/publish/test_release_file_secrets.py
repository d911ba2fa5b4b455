"""A release file cannot send the operator's secrets anywhere: where requests go (``?endpoint=``)
and which environment variable a secret is read from (``?<field>_env=``) are set only in
onthedot.toml, and a release file that says either is refused with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release

runner = CliRunner()


@pytest.mark.parametrize(
    ("site", "key"),
    [
        ('purge = ["cloudflare://zone123?endpoint=http://127.0.0.1:18302"]', "site.purge[0]"),
        ('target = "s3://bucket/www?endpoint=https://s3.example.net"', "site.target"),
        ('target = "ftp://me@ftp.example.net/www?password_env=ONTHEDOT_SECRET_X"', "site.target"),
        ('purge = ["fastly://svc?key_env=AWS_SECRET_ACCESS_KEY"]', "site.purge[0]"),
    ],
)
def test_a_release_file_cannot_say_where_secrets_go_or_come_from(
    tmp_path: Path, site: str, key: str
) -> None:
    release = write_release(
        tmp_path, extra=f'\n[site]\npublic = "https://www.example.org"\n{site}\n'
    )
    result = runner.invoke(
        app, ["--database", f"sqlite:///{tmp_path / 's.db'}", "check", str(release)]
    )
    line = release.read_text(encoding="utf-8").splitlines().index(site) + 1
    assert result.exit_code == 2
    assert f"{release}:{line}: {key}: ?" in result.output
    assert "may be set only in onthedot.toml's [site]" in result.output


def test_onthedot_toml_may_point_a_purger_at_its_own_endpoint(tmp_path: Path) -> None:
    (tmp_path / "onthedot.toml").write_text(
        '[site]\npurge = ["cloudflare://zone123?endpoint=https://cf-relay.internal'
        '&token_env=ONTHEDOT_RELAY_TOKEN"]\n',
        encoding="utf-8",
    )
    release = write_release(tmp_path, extra='\n[site]\npublic = "https://www.example.org"\n')
    result = runner.invoke(
        app,
        [
            "--config",
            str(tmp_path / "onthedot.toml"),
            "--database",
            f"sqlite:///{tmp_path / 's.db'}",
            "check",
            str(release),
        ],
    )
    assert result.exit_code in (0, 1), result.output  # 1: a calendar finding, not a refusal
    assert "may be set only" not in result.output
