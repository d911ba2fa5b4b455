"""Web addresses in release files and onthedot.toml, from the user's side: one rule (http or https,
a host, no spaces, line breaks or control characters) for every address people follow or onthedot
fetches; a bad one stops `check`, `calendar` and the rest with its file, line and key, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.model import WebURL
from tests.conftest import write_release

runner = CliRunner()
SCHEME = "must be an http:// or https:// address, e.g. https://www.example.org/statistics"
ONE_LINE = (
    'must be one web address without spaces, line breaks, control characters or <>": '
    "write a space as %20"
)
# (the address as TOML writes it, the problem)
BAD = [
    ('"javascript:alert(3)"', SCHEME),
    ('"JavaScript:alert(3)//http://x"', SCHEME),
    ('"data:text/html,<b>x</b>"', ONE_LINE),
    ('"ftp://files.example.org/x"', SCHEME),
    ('"/statistics/statement"', SCHEME),
    ('"www.example.org/statement"', SCHEME),
    ('"https://"', SCHEME),
    ('"http://[::1/x"', SCHEME),
    ('"http://example.org:99999/x"', SCHEME),
    ('"http://example.org/a\\r\\nX-Injected: 1"', ONE_LINE),
    ('"http://example.org/a b"', ONE_LINE),
    ('"http://example.org/a\\u0000"', ONE_LINE),
    ('"http://example.org/\\u202egnp.exe"', ONE_LINE),  # a right-to-left override
    ('"http://example.org/\\"><script>x</script>"', ONE_LINE),
    ("123", "should be a valid string"),
]
GOOD = [
    "https://www.example.org/statistics/statement?a=1&b=2#notes",
    "http://127.0.0.1:8080",
    "HTTPS://WWW.EXAMPLE.ORG/",
    "http://[::1]:8080/x",
    "https://www.example.org/caf%C3%A9",
]


def check(tmp_path: Path, *paths: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", "--json", *map(str, paths)])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(("address", "problem"), BAD)
def test_a_bad_statement_url_is_refused_with_file_line_and_key(
    tmp_path: Path, address: str, problem: str
) -> None:
    path = write_release(tmp_path, extra=f"statement_url = {address}\n")
    assert check(tmp_path, path) == (
        2,
        {"ok": False, "errors": [f"{path}:9: statement_url: {problem}"], "releases": []},
    )


@pytest.mark.parametrize(("address", "problem"), BAD)
@pytest.mark.parametrize("key", ["public", "origin"])
def test_a_bad_site_address_in_a_release_is_refused(
    tmp_path: Path, key: str, address: str, problem: str
) -> None:
    public = "" if key == "public" else 'public = "https://www.example.org"\n'
    path = write_release(tmp_path, extra=f"[site]\n{public}{key} = {address}\n")
    code, data = check(tmp_path, path)
    line = 10 if key == "public" else 11
    assert (code, data["errors"]) == (2, [f"{path}:{line}: site.{key}: {problem}"])


@pytest.mark.parametrize("address", GOOD)
def test_a_good_address_is_taken_as_written(tmp_path: Path, address: str) -> None:
    extra = f'statement_url = "{address}"\n[site]\npublic = "{address}"\norigin = "{address}"\n'
    code, data = check(tmp_path, write_release(tmp_path, extra=extra))
    assert code == 0 and data["ok"]


def test_the_one_type_is_the_rule_for_any_address() -> None:
    adapter = TypeAdapter(WebURL)
    for address in GOOD:
        assert adapter.validate_python(address) == address
    for toml, _ in BAD[:-1]:
        address = json.loads(toml.replace("\\u202e", "\u202e"))
        with pytest.raises(ValidationError):
            adapter.validate_python(address)


def site_with(tmp_path: Path, statement_url: str) -> Path:
    config = tmp_path / "onthedot.toml"
    config.write_text(
        'releases = ["releases/*.toml"]\n[site]\npublic = "https://www.example.org"\n',
        encoding="utf-8",
    )
    write_release(tmp_path / "releases", extra=f"statement_url = {statement_url}\n")
    return config


@pytest.mark.parametrize("what", ["--ics", "--html", "--json"])
@pytest.mark.parametrize("address", ['"javascript:alert(3)"', '"http://a/\\r\\nX-Injected: 1"'])
def test_the_calendar_never_carries_a_bad_address(tmp_path: Path, what: str, address: str) -> None:
    config = site_with(tmp_path, address)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--config", str(config), "--database", db, "calendar", what])
    output = result.stdout + result.stderr
    assert result.exit_code == 2 and "Traceback" not in output
    assert f"{tmp_path / 'releases' / 'fatal-injuries.toml'}:9: statement_url: " in output
    assert "javascript:" not in output.split("statement_url: ", 1)[0]


def test_the_calendar_links_a_good_statement(tmp_path: Path) -> None:
    config = site_with(tmp_path, '"https://www.example.org/statement?a=1&b=2"')
    db = f"sqlite:///{tmp_path / 'store.db'}"
    page = runner.invoke(app, ["--config", str(config), "--database", db, "calendar", "--html"])
    assert page.exit_code == 0
    assert '<a href="https://www.example.org/statement?a=1&amp;b=2">' in page.stdout
    ics = runner.invoke(app, ["--config", str(config), "--database", db, "calendar", "--ics"])
    assert ics.exit_code == 0 and "URL:https://www.example.org/statement?a=1&b=2" in ics.stdout


def test_a_password_in_the_public_address_is_never_shown_when_it_is_refused(
    tmp_path: Path,
) -> None:
    release = write_release(
        tmp_path,
        extra='\n[site]\npublic = "http://stats:Pw-4711@127.0.0.1:9"\n\n'
        '[[artefact]]\npath = "/statistics/x.csv"\nexpect_text = "2019"\n',
    )
    for command in ("verify", "preflight"):
        result = runner.invoke(
            app, ["--database", f"sqlite:///{tmp_path / 's.db'}", command, str(release)]
        )
        assert result.exit_code == 2, result.output
        assert "'http://stats:****@127.0.0.1:9/statistics/x.csv' is not a plain" in result.stderr
        assert "Pw-4711" not in result.output and "Traceback" not in result.output


def calendar_of(tmp_path: Path, release_at: str, what: str) -> str:
    """The calendar exported by the command, for one release with a file on the site and no
    statement page."""
    config = tmp_path / "onthedot.toml"
    config.write_text(
        'releases = ["releases/*.toml"]\n[site]\npublic = "https://www.example.org"\n',
        encoding="utf-8",
    )
    write_release(
        tmp_path / "releases",
        release_at=release_at,
        extra='\n[[artefact]]\npath = "/statistics/embargoed-tables.xlsx"\nexpect_text = "2019"\n',
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--config", str(config), "--database", db, "calendar", what])
    assert result.exit_code == 0, result.output
    return result.stdout.replace("\r\n ", "")  # (an ICS line folded)


@pytest.mark.parametrize("what", ["--ics", "--html", "--json"])
def test_the_calendar_names_no_file_of_a_release_before_its_time(tmp_path: Path, what: str) -> None:
    """Before T the exports link the site, as the public calendar does, never the file."""
    exported = calendar_of(tmp_path, "2099-12-17T09:30:00", what)
    assert "embargoed-tables" not in exported and "/statistics" not in exported
    assert "https://www.example.org" in exported


@pytest.mark.parametrize("what", ["--ics", "--html", "--json"])
def test_the_calendar_still_links_the_file_of_a_release_already_out(
    tmp_path: Path, what: str
) -> None:
    exported = calendar_of(tmp_path, "2019-12-18T09:30:00", what)
    assert "https://www.example.org/statistics/embargoed-tables.xlsx" in exported
