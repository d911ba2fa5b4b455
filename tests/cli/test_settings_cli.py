"""A wrong setting in onthedot.toml, from the user's side: every command that reads the file stops
with exit 2 and names the file, the line, the setting and the fix, before it does anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release

runner = CliRunner()

# (what onthedot.toml says after `releases = [...]` on line 1, the problem without "file:line: ")
BAD_SETTINGS = [
    ("[verify]\nconcurency = 8\n", "verify.concurency: unknown key: did you mean 'concurrency'?"),
    (
        '[verify]\nconcurrency = "many"\n',
        "verify.concurrency: should be a whole number: write e.g. concurrency = 64",
    ),
    ("[verify]\ntimeout = -1\n", "verify.timeout: should be greater than or equal to 0.1: write e.g. timeout = 10"),
    ("[verify]\ntimeout = 1e308\n", "verify.timeout: should be less than or equal to 300: write e.g. timeout = 10"),
    (
        "[verify]\nconcurrency = 0\n",
        "verify.concurrency: should be greater than or equal to 1: write e.g. concurrency = 64",
    ),
    (
        "[verify]\nconcurrency = 100000000\n",
        "verify.concurrency: should be less than or equal to 1000: write e.g. concurrency = 64",
    ),
    (
        "[verify]\nmax_bytes = -1\n",
        "verify.max_bytes: should be greater than or equal to 1024: write e.g. max_bytes = 100000000",
    ),
    (
        '[site]\npublic = "javascript:alert(1)"\n',
        "site.public: must be an http:// or https:// address, e.g. https://www.example.org/statistics",
    ),
    (
        '[site]\norigin = "http://origin.internal/\\r\\nX-Injected: 1"\n',
        "site.origin: must be one web address without spaces, line breaks, control characters or "
        '<>": write a space as %20',
    ),
    ("[web]\nrefresh = 5\n", "web.refresh: unknown key: did you mean 'refresh_s'?"),
    (
        "[verify.caches]\nvarnish = {default_ttl = 3600, grace = 10}\n",
        "verify.caches.varnish.grace: unknown key: did you mean 'default_grace'?",
    ),
    ("[publish]\ncatch_up_s = true\n", "publish.catch_up_s: should be a number: write e.g. catch_up_s = 604800"),
]
RELEASE_FILE = "releases/fatal-injuries.toml"
COMMANDS = [["check", "releases"], ["verify", RELEASE_FILE], ["run", "--no-web"]]


def site(tmp_path: Path, settings: str) -> Path:
    config = tmp_path / "onthedot.toml"
    config.write_text('releases = ["releases/*.toml"]\n' + settings, encoding="utf-8")
    write_release(tmp_path / "releases")
    return config


def invoke(tmp_path: Path, config: Path, *args: str) -> tuple[int, str, str]:
    """``onthedot --config … --database … ARGS``, paths in ARGS relative to the site's folder."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    args = tuple(str(tmp_path / a) if a.startswith("releases") else a for a in args)
    result = runner.invoke(app, ["--config", str(config), "--database", db, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("settings", "problem"), BAD_SETTINGS)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_setting_stops_the_command_with_file_line_key_and_fix(
    tmp_path: Path, command: list[str], settings: str, problem: str
) -> None:
    config = site(tmp_path, settings)
    code, stdout, stderr = invoke(tmp_path, config, *command)
    assert code == 2
    assert f"{config}:3: {problem}" in stdout + stderr
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize(("settings", "problem"), BAD_SETTINGS)
def test_with_json_check_lists_the_problem_as_it_lists_a_release_files(
    tmp_path: Path, settings: str, problem: str
) -> None:
    config = site(tmp_path, settings)
    code, stdout, _ = invoke(tmp_path, config, "check", "--json", "releases")
    assert (code, json.loads(stdout)) == (
        2,
        {"ok": False, "errors": [f"{config}:3: {problem}"], "releases": []},
    )


@pytest.mark.parametrize(("settings", "problem"), BAD_SETTINGS)
def test_with_json_verify_answers_one_error(tmp_path: Path, settings: str, problem: str) -> None:
    config = site(tmp_path, settings)
    code, stdout, _ = invoke(tmp_path, config, "verify", "--json", RELEASE_FILE)
    assert (code, json.loads(stdout)) == (2, {"ok": False, "error": f"{config}:3: {problem}"})


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    config = site(tmp_path, "[verify]\nconcurency = 8\ntimeout = 0\n[web]\nagents = {a = 'short'}\n")
    code, stdout, _ = invoke(tmp_path, config, "check", "--json", "releases")
    assert code == 2
    assert [e.split(": ", 2)[:2] for e in json.loads(stdout)["errors"]] == [
        [f"{config}:3", "verify.concurency"],
        [f"{config}:4", "verify.timeout"],
        [f"{config}:6", "web.agents.a"],
    ]
