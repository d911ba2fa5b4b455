"""One artefact-path rule: ``check`` refuses what ``publish`` and every target refuse, and alike."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.adapters import create
from onthedot.cli import app
from onthedot.errors import ConfigError
from onthedot.publish.targets import Target
from tests.e2e.helpers import local
from tests.publish.conftest import artefact

runner = CliRunner()

BAD_PATHS = {
    "parent": ("/../../x.csv", "'..' part"),
    "nul": ("/statistics/a\x00.csv", "U+0000"),
    "escaped-dots": ("/%2e%2e/x.csv", "'%'"),
    "query-fragment": ("/statistics/x.csv?x#frag", "'?'"),
    "other-host": ("//host/x.csv", "must start with /"),
    "backslash": ("/statistics\\x.csv", "'\\'"),
    "directory": ("/statistics/", "must name a file"),
    "staged-name": ("/statistics/.onthedot-0123", "staged copies"),
}


def _release(folder: Path, paths: list[str]) -> Path:
    """A release file whose artefacts have ``paths`` (each its own small file), path on line 10+."""
    folder.mkdir(parents=True, exist_ok=True)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    lines = [
        'id = "paths"',
        'title = "Paths"',
        'producer = "HSE"',
        f"release_at = {local(release_at)}",
        "",
        "[site]",
        'public = "http://127.0.0.1:9"',
        f'target = "file://{folder / "www"}"',
    ]
    for index, path in enumerate(paths):
        (folder / f"a{index}.csv").write_bytes(b"a,b\n1,2\n")
        lines += ["", "[[artefact]]", f"path = {json.dumps(path)}", f'file = "a{index}.csv"']
    release = folder / "paths.toml"
    release.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return release


def _line_of(release: Path, text: str) -> int:
    lines = release.read_text(encoding="utf-8").splitlines()
    return [i for i, line in enumerate(lines, start=1) if line.startswith(text)][-1]


@pytest.mark.parametrize(("path", "says"), BAD_PATHS.values(), ids=BAD_PATHS.keys())
@pytest.mark.parametrize("command", ["check", "publish"])
def test_check_and_publish_refuse_a_bad_artefact_path_naming_file_line_and_key(
    tmp_path: Path, command: str, path: str, says: str
) -> None:
    release = _release(tmp_path, ["/statistics/fine.csv", path])
    args = [command, str(release)] + (["--now"] if command == "publish" else [])
    result = runner.invoke(app, ["--database", f"sqlite:///{tmp_path / 's.db'}", *args])
    assert result.exit_code == 2, result.output
    line = _line_of(release, "path = ")
    assert f"{release}:{line}: artefact[1].path: " in result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "www").exists()  # publish refused before anything went up


def test_a_path_listed_twice_is_refused_at_its_second_place(tmp_path: Path) -> None:
    release = _release(tmp_path, ["/statistics/x.csv", "/statistics/x.csv"])
    result = runner.invoke(
        app, ["--database", f"sqlite:///{tmp_path / 's.db'}", "check", str(release)]
    )
    assert result.exit_code == 2
    line = _line_of(release, "path = ")
    assert f"{release}:{line}: artefact[1].path: /statistics/x.csv is listed twice" in result.output


@pytest.mark.parametrize(("path", "says"), BAD_PATHS.values(), ids=BAD_PATHS.keys())
async def test_every_target_refuses_the_same_paths(tmp_path: Path, path: str, says: str) -> None:
    local_file, sha = artefact(tmp_path)
    target = create("target", f"file://{tmp_path / 'www'}")
    assert isinstance(target, Target)
    with pytest.raises(ConfigError) as caught:
        await target.stage(path, local_file, sha, secrets.token_hex(16))
    assert says in str(caught.value) and str(caught.value).endswith(
        "correct it in the release file."
    )
    with pytest.raises(ConfigError):
        await target.fetch_sha256(path)
    assert not (tmp_path / "www").exists()


def test_a_good_path_passes(tmp_path: Path) -> None:
    release = _release(tmp_path, ["/statistics/fatal-injuries_2019(apr-sep)+v2.xlsx"])
    result = runner.invoke(
        app, ["--database", f"sqlite:///{tmp_path / 's.db'}", "check", str(release)]
    )
    assert result.exit_code in (0, 1), result.output  # calendar findings at most
