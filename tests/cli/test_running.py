"""The command a user names is the only one Typer builds; anything else gets the whole app."""

from __future__ import annotations

import subprocess
import sys

import pytest

from onthedot.cli import app, running


def names(chosen: object) -> list[str | None]:
    return [c.name for c in getattr(chosen, "registered_commands", [])]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "releases/r.toml"],
        ["--config", "site.toml", "--database", "sqlite://", "check", "--json"],
        ["--database=sqlite://", "--config", "site.toml", "check"],
    ],
)
def test_a_named_command_is_the_only_one_built(args: list[str]) -> None:
    assert names(running(args)) == ["check"]
    assert len(app.registered_commands) == 25  # the app itself keeps every command


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["--version"], ["--config", "site.toml"], ["chek"], ["--bogus", "check"]],
)
def test_no_command_or_an_unknown_one_gets_the_whole_app(args: list[str]) -> None:
    assert running(args) is app


def test_every_command_can_be_run_alone() -> None:
    for command in app.registered_commands:
        assert names(running([str(command.name), "--help"])) == [command.name]


def test_a_mistyped_command_is_still_answered_with_the_one_meant() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "onthedot.cli", "chek"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "Did you mean 'check'?" in done.stderr


def test_a_command_run_alone_shows_its_own_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "onthedot.cli", "--config", "x.toml", "check", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert "onthedot.cli check [OPTIONS]" in done.stdout and "--json" in done.stdout
