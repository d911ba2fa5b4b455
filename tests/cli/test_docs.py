"""Docs stay true: the CLI reference is regenerated from the commands, every command and setting
is documented, and the README keeps its two quick-start commands."""

from __future__ import annotations

import re
from pathlib import Path

from onthedot.cli.reference import command_names, render
from onthedot.config import CONFIG_KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date() -> None:
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is out of date: run `python -m onthedot.cli.reference > docs/cli.md`"
    )


def test_every_command_is_in_the_readme_or_docs() -> None:
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md"
    )
    missing = [name for name in command_names() if f"onthedot {name}" not in docs]
    assert missing == [], f"commands not explained in README.md or docs/: {missing}"


def test_every_config_table_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key in CONFIG_KEYS if not re.search(rf"(^|\W){key}(\W|$)", text)]
    assert missing == []


def test_readme_has_the_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/demo" in text and "scripts/test" in text
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
