"""``onthedot token``, from the user's side: a token made once, usable on the API, listed without
itself, revoked by name; bad input is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.store.db import open_store
from onthedot.web.app import create_app
from tests.web.conftest import GDP, fill

runner = CliRunner()


def token(tmp_path: Path, *args: str) -> tuple[int, str]:
    database = f"sqlite:///{tmp_path / 'onthedot.db'}"
    result = runner.invoke(
        app, ["--config", str(tmp_path / "none.toml"), "--database", database, "token", *args]
    )
    return result.exit_code, result.output


async def detail(tmp_path: Path, secret: str) -> httpx.Response:
    engine = await open_store(f"sqlite:///{tmp_path / 'onthedot.db'}")
    try:
        await fill(engine)
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(
                f"/api/releases/{GDP.id}", headers={"Authorization": f"Bearer {secret}"}
            )
    finally:
        await engine.dispose()


def test_a_token_is_made_once_listed_without_itself_and_revoked(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("releases = []\n", encoding="utf-8")
    code, said = token(tmp_path, "add", "jane.smith", "--role", "statistician", "--json")
    assert code == 0
    made = json.loads(said)
    secret = made["token"]
    assert made["role"] == "statistician" and secret.startswith("odt_")
    answer = asyncio.run(detail(tmp_path, secret))
    assert answer.status_code == 200 and answer.json()["withheld"] is False
    code, listed = token(tmp_path, "list")
    assert code == 0 and "jane.smith  statistician  no expiry" in listed
    assert secret not in listed
    code, said = token(tmp_path, "add", "jane.smith", "--role", "it")
    assert code == 2 and "has a token already: revoke it first" in said
    assert token(tmp_path, "revoke", "jane.smith")[0] == 0
    assert "revoked" in token(tmp_path, "list")[1]
    answer = asyncio.run(detail(tmp_path, secret))
    assert answer.status_code == 401 and "was revoked" in answer.json()["error"]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("releases = []\n", encoding="utf-8")
    cases = {
        ("add", "bob", "--role", "boss"): "Give the token a --role: one of statistician,",
        ("add", "bob smith", "--role", "it"): "needs a NAME of letters, digits",
        ("add",): "needs a NAME of letters, digits",
        ("revoke", "nobody"): "'nobody' has no token to revoke: see onthedot token list.",
    }
    for args, sentence in cases.items():
        code, said = token(tmp_path, *args)
        assert code == 2, args
        assert sentence in said and len(said.strip().splitlines()) == 1, said


def test_an_expiring_token_says_when(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("releases = []\n", encoding="utf-8")
    code, _ = token(tmp_path, "add", "prometheus", "--role", "metrics", "--expires-days", "30")
    assert code == 0
    assert "prometheus  metrics  expires " in token(tmp_path, "list")[1]
