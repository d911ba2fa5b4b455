"""``onthedot account``, from the user's side: an account made with a password read from
standard input signs in on the dashboard; disabled, or given a new password, its sessions end;
bad input is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.cli.account_cmds import ROLES
from onthedot.settings import PERSON_ROLES
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.web.access import ACCOUNT_ROLES
from onthedot.web.app import create_app
from tests.web.conftest import GDP, NOW, FixedClock, fill
from tests.web.forms import sign_in

runner = CliRunner()
PASSWORD = "correct horse battery staple"


def account(tmp_path: Path, *args: str, given: str = "") -> tuple[int, str]:
    database = f"sqlite:///{tmp_path / 'onthedot.db'}"
    (tmp_path / "onthedot.toml").write_text("releases = []\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["--config", str(tmp_path / "onthedot.toml"), "--database", database, "account", *args],
        input=given,
    )
    return result.exit_code, result.output


async def signed_in_sees(tmp_path: Path, name: str, password: str) -> tuple[int, bool]:
    """(the sign-in's status, whether the page then shows GDP's embargoed detail)."""
    engine = await open_store(f"sqlite:///{tmp_path / 'onthedot.db'}")
    try:
        if await ReleaseRepository(engine).get(GDP.id) is None:
            await fill(engine)
        transport = httpx.ASGITransport(app=create_app(engine, clock=FixedClock(NOW)))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await sign_in(client, name=name, password=password)
            page = await client.get(f"/releases/{GDP.id}")
            return answer.status_code, "gdp-itl-regions.xlsx" in page.text
    finally:
        await engine.dispose()


def test_an_account_signs_in_until_it_is_disabled(tmp_path: Path) -> None:
    code, said = account(
        tmp_path,
        "add",
        "jane.smith",
        "--role",
        "statistician",
        "--password-stdin",
        given=PASSWORD + "\n",
    )
    assert code == 0 and "Added the account 'jane.smith' (statistician)" in said
    assert asyncio.run(signed_in_sees(tmp_path, "jane.smith", PASSWORD)) == (303, True)
    code, listed = account(tmp_path, "list", "--json")
    (row,) = json.loads(listed)
    assert (row["name"], row["role"], row["state"]) == ("jane.smith", "statistician", "enabled")
    assert PASSWORD not in listed
    assert account(tmp_path, "disable", "jane.smith")[0] == 0
    assert asyncio.run(signed_in_sees(tmp_path, "jane.smith", PASSWORD)) == (401, False)
    assert account(tmp_path, "enable", "jane.smith")[0] == 0
    new = "a longer, newer passphrase"
    assert account(tmp_path, "password", "jane.smith", "--password-stdin", given=new)[0] == 0
    assert asyncio.run(signed_in_sees(tmp_path, "jane.smith", PASSWORD)) == (401, False)
    assert asyncio.run(signed_in_sees(tmp_path, "jane.smith", new)) == (303, True)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (("add", "jane", "--role", "boss", "--password-stdin"), PASSWORD, "--role: one of viewer"),
        (("add", "jane", "--role", "viewer", "--password-stdin"), "short", "at least 12"),
        (("add", "no spaces", "--role", "viewer"), PASSWORD, "needs a NAME of letters"),
        (("disable", "nobody"), "", "There is no account 'nobody': see `onthedot account list`."),
    ]
    for args, given, words in cases:
        code, said = account(tmp_path, *args, given=given)
        assert code == 2 and words in said and said.count("\n") <= 2, said
    assert (
        account(tmp_path, "add", "jane", "--role", "viewer", "--password-stdin", given=PASSWORD)[0]
        == 0
    )
    code, said = account(
        tmp_path, "add", "jane", "--role", "admin", "--password-stdin", given=PASSWORD
    )
    assert code == 2 and "There is an account 'jane' already" in said


def test_the_cli_the_settings_and_the_rule_know_the_same_roles() -> None:
    assert ROLES == PERSON_ROLES == tuple(ACCOUNT_ROLES)
