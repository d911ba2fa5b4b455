"""Docs stay true: the CLI reference is regenerated from the commands, every command and setting
is documented, and the README keeps its two quick-start commands."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from onthedot.cli.reference import command_names, render
from onthedot.config import CONFIG_KEYS
from onthedot.settings import ConfigFile

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # as render() sets it, undone after the test
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


def settings_of(model: type[BaseModel], table: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every table and key onthedot.toml may hold, e.g. ``("verify", "caches", "varnish")``."""
    for name, field in model.model_fields.items():
        yield (*table, name)
        for kind in (field.annotation, *typing.get_args(field.annotation)):
            if typing.get_origin(kind) is None and isinstance(kind, type):
                if issubclass(kind, BaseModel):
                    yield from settings_of(kind, (*table, name))


def sections(text: str) -> dict[tuple[str, ...], list[str]]:
    """The lines under each ``### [table]`` heading; ``()``: the whole page."""
    found: dict[tuple[str, ...], list[str]] = {(): text.splitlines()}
    table: tuple[str, ...] | None = None
    fenced = False
    for line in text.splitlines():
        fenced = fenced != line.startswith("```")
        heading = re.match(r"#+ \[([\w.]+)\]\s*$", line)
        if line.startswith("#") and not fenced:
            table = tuple(heading.group(1).split(".")) if heading else None
            found.setdefault(table or (), [])
        elif table:
            found[table].append(line)
    return found


def undocumented(text: str) -> list[str]:
    """Settings not named in their table's section: for ``verify.caches.varnish.default_ttl``,
    a line of ``### [verify.caches]`` naming `varnish` and `default_ttl` (or ``default_ttl =``)."""
    docs = sections(text)
    missing = []
    for setting in settings_of(ConfigFile):
        table = max((t for t in docs if setting[: len(t)] == t), key=len)
        rest = setting[len(table) :]
        named = [
            all(re.search(rf"(`|^|\[|\{{\s*){part}(`|\]|\s*=)", line) for part in rest)
            for line in docs[table]
        ]
        if not any(named):
            missing.append(".".join(setting))
    return missing


def test_every_setting_is_documented_in_its_tables_section() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert undocumented(text) == [], "add these settings to docs/configuration.md"


def test_an_undocumented_setting_is_caught() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    without = "\n".join(
        line for line in text.splitlines() if "`timeout`" not in line and "`fastly`" not in line
    )
    assert undocumented(without) == [
        "verify.timeout",
        "verify.caches.fastly",
        "verify.caches.fastly.default_ttl",
    ]


def test_readme_has_the_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/demo" in text and "scripts/test" in text
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
