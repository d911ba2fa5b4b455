"""Every command in README.md is one onthedot takes (each option is in the command's ``--help``),
and the five-minute tour runs as written: its snippets are executed, in order, against the demo's
website (nginx, Varnish, vsftpd) on this test's own loopback ports."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.demo.website import FTP_PASSWORD, TOUR_PORTS, Website, missing, start_website

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
GLOBAL = {"--config", "--database"}  # the options before the command, each with a value
runner = CliRunner()


def code_lines(text: str) -> Iterator[str]:
    """The lines of the README's code: fenced blocks and blocks indented four spaces."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced or line.startswith("    "):
            yield line.strip()


def invocation(line: str) -> list[str] | None:
    """The arguments given to ``onthedot`` on a line of code (``bin/onthedot`` too), up to a
    pipe, a redirection or ``&&``; None when the line runs no onthedot."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "onthedot" or word.endswith("/onthedot"):
            rest = words[i + 1 :]
            stop = next((j for j, w in enumerate(rest) if w in {"&&", "|", ">", ";"}), len(rest))
            return rest[:stop]
    return None


def command_of(args: list[str]) -> tuple[list[str], list[str]]:
    """(the command path, e.g. ["token", "add"], its options) of one invocation."""
    rest, path = list(args), []
    while rest and rest[0] in GLOBAL:
        rest = rest[2:]
    if rest:
        path.append(rest.pop(0))
    groups = {"token", "prerelease"}
    if path and path[0] in groups and rest and not rest[0].startswith("-"):
        path.append(rest.pop(0))
    return path, [w.split("=")[0] for w in rest if w.startswith("--")]


README_COMMANDS = [args for line in code_lines(README) if (args := invocation(line))]


def test_the_readme_names_commands() -> None:
    named = {command_of(args)[0][0] for args in README_COMMANDS}
    assert {"demo", "init", "check", "calendar", "preflight", "publish", "verify"} <= named
    assert {"report", "run", "agent", "token"} <= named


@pytest.mark.parametrize("args", README_COMMANDS, ids=" ".join)
def test_every_readme_command_and_option_is_in_the_cli_help(args: list[str]) -> None:
    path, options = command_of(args)
    helped = runner.invoke(app, [*path, "--help"])
    assert helped.exit_code == 0, f"onthedot {' '.join(path)}: {helped.output}"
    for option in options:
        assert re.search(rf"(^|[\s/]){re.escape(option)}\b", helped.output), (option, path)
    top = runner.invoke(app, ["--help"]).output
    assert all(g in top for g in args if g in GLOBAL)


DOCS_COMMANDS = [
    args
    for doc in sorted((ROOT / "docs").glob("*.md"))
    for line in code_lines(doc.read_text(encoding="utf-8"))
    if (args := invocation(line))
]


def test_no_command_shown_puts_a_token_on_the_command_line() -> None:
    """A token in argv is visible to every user of the machine (``ps``): the README and the docs
    show it read from a file or the environment."""
    shown = [args for args in README_COMMANDS + DOCS_COMMANDS if "--token" in command_of(args)[1]]
    assert shown == []
    assert any("--token-file" in command_of(args)[1] for args in README_COMMANDS)


def tour_blocks() -> list[list[str]]:
    """The ``sh`` blocks of the section "A five-minute tour", line by line."""
    section = README.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_the_tour_has_the_steps_the_readme_promises() -> None:
    said = " ".join(line for block in tour_blocks() for line in block)
    for step in ("init", "check", "calendar", "preflight", "publish", "verify", "report"):
        assert f"onthedot {step}" in said


@pytest.fixture
def website(tmp_path: Path) -> Iterator[Website]:
    if missing():
        pytest.skip(f"the demo's website needs: apt-get install {' '.join(missing())}")
    site = start_website(tmp_path / "website")
    try:
        yield site
    finally:
        site.stop()


def on_this_tests_ports(text: str, site: Website) -> str:
    ports = (site.cache.port, site.origin.port, site.ftp.port)
    for tour, mine in zip(TOUR_PORTS, ports, strict=True):
        text = text.replace(f"127.0.0.1:{tour}", f"127.0.0.1:{mine}")
    return text


@pytest.mark.services
def test_the_tour_runs_as_written(tmp_path: Path, website: Website) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "examples", checkout / "examples")
    config = checkout / "examples" / "onthedot.toml"
    config.write_text(on_this_tests_ports(config.read_text(), website))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONTHEDOT_")}
    cwd, ran = checkout, []
    for line in [line for block in tour_blocks() for line in block]:
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            env[name] = value.replace("$PWD", str(cwd)).replace("$PATH", env.get("PATH", ""))
        elif words[0] == "cd":
            cwd = cwd / words[1]
        else:
            ran.append(_run(words, cwd, env))
    assert env["ONTHEDOT_SECRET_PUBLISHER_127_0_0_1_PASSWORD"] == FTP_PASSWORD
    early = 1  # live weeks before its announced time: found public too early, as the tour says
    assert ran == [
        ("init", 0), ("check", 0), ("check", 0), ("calendar", 0), ("preflight", 0),
        ("publish", early), ("verify", early), ("report", 0),
    ]  # fmt: skip
    assert (checkout / "mysite" / "onthedot.toml").is_file()
    assert "Energy Trends: March 2027" in (cwd / "calendar.html").read_text()
    assert (cwd / "breach-report.docx").stat().st_size > 0
    served = (website.webroot / "statistics" / "fatalquarterly-2026.xlsx").read_bytes()
    assert served == (cwd / "releases" / "fatalquarterly-2026.xlsx").read_bytes()


def _run(words: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, int]:
    """One line of the tour: ``onthedot ARGS [> FILE]``, run as the module; (command, exit)."""
    assert words[0] == "onthedot", words
    args, output = words[1:], None
    if ">" in args:
        args, output = args[: args.index(">")], cwd / args[args.index(">") + 1]
    done = subprocess.run(
        [sys.executable, "-m", "onthedot.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    if output is not None:
        output.write_text(done.stdout)
    return args[0], done.returncode
