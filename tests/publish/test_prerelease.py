"""Pre-release access from the user's side: ``onthedot prerelease grant`` prints a signed link;
the link serves exactly the staged bytes inside the window, refuses before it and from T, and
every opening is on the timeline; a grant outside the window, or a forged, tampered, replayed,
expired or revoked link, is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from onthedot.adapters import create
from onthedot.cli import app
from onthedot.clock import SYSTEM_CLOCK
from onthedot.config import Config, load_release
from onthedot.publish.manifest import Manifest
from onthedot.publish.staging import Staging
from onthedot.publish.steps import StepLog
from onthedot.publish.targets.base import Target
from onthedot.publish.targets.file import FileTarget
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.prerelease import PreReleaseGrants
from onthedot.web.app import create_app
from tests.e2e.helpers import cli, write_site_release
from tests.web.conftest import FixedClock

XLSX = b"PK\x03\x04 the new fatal injuries figures \x00\xff" * 500
JANE = "Jane Smith <jane.smith@example.gov.uk>"
runner = CliRunner()


@dataclass
class Site:
    db: str
    release_file: Path
    release_id: str
    t: dt.datetime
    www: Path


def make_site(tmp_path: Path, hours_to_t: float, listed: str = "") -> Site:
    t = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours_to_t)).replace(microsecond=0)
    www = tmp_path / "www"
    www.mkdir()
    release = write_site_release(
        tmp_path / "rel",
        public="http://127.0.0.1:9",
        origin=None,
        target=f"file://{www}?staging={tmp_path}/staging",
        release_at=t,
        artefacts=[("/statistics/fatalquarterly.xlsx", XLSX, None)],
    )
    if listed:
        release.write_text(release.read_text(encoding="utf-8") + listed, encoding="utf-8")
    return Site(f"sqlite:///{tmp_path / 's.db'}", release, "fatal-injuries-2019-apr-sep", t, www)


async def stage(site: Site) -> None:
    release = load_release(site.release_file, Config())
    assert release.site is not None and release.site.target is not None
    engine = await open_store(site.db)
    try:
        target = cast(Target, create("target", release.site.target))
        staging = Staging(target, Timeline(engine), SYSTEM_CLOCK)
        await staging.stage(release, Manifest.of(release), StepLog(engine, release.id))
    finally:
        await engine.dispose()


def grant(site: Site, *more: str, to: str = JANE) -> tuple[int, Any]:
    return cli(
        site.db,
        "prerelease",
        "grant",
        str(site.release_file),
        "--to",
        to,
        "--role",
        "Press officer",
        "--why",
        "Prepares the minister's briefing",
        *more,
    )


async def in_thread(*args: str) -> tuple[int, Any]:
    """The CLI from an async test (it runs its own event loop)."""
    return await asyncio.to_thread(cli, *args)


async def granted(site: Site, *more: str) -> str:
    code, made = await asyncio.to_thread(grant, site, *more)
    assert code == 0, made
    return str(made["link"])


class Browser:
    """The dashboard's app in process, its clock set by the test."""

    def __init__(self, client: httpx.AsyncClient, clock: FixedClock, site: Site) -> None:
        self.client, self.clock, self.site = client, clock, site

    async def get(self, path: str, at: dt.datetime) -> httpx.Response:
        self.clock.at = at
        return await self.client.get(path)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        engine = await open_store(self.site.db)
        try:
            return [dict(e.data) for e in await Timeline(engine).events(self.site.release_id, kind)]
        finally:
            await engine.dispose()


@pytest.fixture
async def staged(tmp_path: Path) -> AsyncIterator[tuple[Site, Browser]]:
    site = make_site(tmp_path, hours_to_t=2)
    await stage(site)
    engine = await open_store(site.db)
    clock = FixedClock(dt.datetime.now(dt.UTC))
    transport = httpx.ASGITransport(app=create_app(engine, config=Config(), clock=clock))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield site, Browser(client, clock, site)
    finally:
        await engine.dispose()


def path_of(link: str) -> str:
    return urlsplit(link).path


async def test_a_link_serves_the_staged_bytes_inside_the_window_and_records_each_opening(
    staged: tuple[Site, Browser],
) -> None:
    site, browser = staged
    made = await granted(site, "--server", "https://onthedot.example.gov.uk")
    assert made.startswith("https://onthedot.example.gov.uk/pre-release/")
    link = path_of(made)
    now = dt.datetime.now(dt.UTC)
    page = await browser.get(link, now)
    assert page.status_code == 200 and "/statistics/fatalquarterly.xlsx" in page.text
    assert "no-store" in page.headers["cache-control"] and "data-refresh" not in page.text
    got = await browser.get(link + "/statistics/fatalquarterly.xlsx", now)
    assert got.status_code == 200 and got.content == XLSX
    assert got.headers["referrer-policy"] == "no-referrer"
    (opened,) = await browser.events(kinds.PRA_OPENED)
    assert opened["name"] == "Jane Smith" and opened["path"] == "/statistics/fatalquarterly.xlsx"
    assert opened["sha256"] == hashlib.sha256(XLSX).hexdigest()
    code, listing = await in_thread(site.db, "prerelease", "list", str(site.release_file))
    assert code == 0 and [g["person"] for g in listing["grants"]] == [JANE]
    assert [(o["path"], o["served"]) for o in listing["openings"]] == [
        ("/statistics/fatalquarterly.xlsx", True)
    ]


async def test_a_link_is_refused_before_its_window_and_from_t(
    staged: tuple[Site, Browser],
) -> None:
    site, browser = staged
    link = path_of(await granted(site)) + "/statistics/fatalquarterly.xlsx"
    early = await browser.get(link, site.t - dt.timedelta(hours=24, seconds=1))
    assert early.status_code == 403 and "This pre-release link opens at" in early.text
    at_t = await browser.get(link, site.t)
    assert at_t.status_code == 403 and "this link has ended" in at_t.text
    assert XLSX[:20] not in early.content + at_t.content
    assert await browser.events(kinds.PRA_OPENED) == []
    refused = await browser.events(kinds.PRA_REFUSED)
    assert [r["name"] for r in refused] == ["Jane Smith", "Jane Smith"]
    works = await browser.get(link, site.t - dt.timedelta(seconds=1))
    assert works.status_code == 200 and works.content == XLSX


@pytest.mark.parametrize(
    "forge",
    [
        lambda link: link[:-1] + ("A" if link[-1] != "A" else "B"),  # signature changed
        lambda link: link.replace(".", ".9", 1),  # expiry moved later
        lambda link: link.replace("/fatal-injuries-2019-apr-sep/", "/labour-market-2019-12/"),
        lambda link: link.rsplit("/", 1)[0] + "/0123456789abcdef.4102444800." + "A" * 43,
    ],
    ids=["tampered", "expiry-moved", "another-release", "forged"],
)
async def test_a_forged_tampered_or_replayed_link_is_refused_and_logged(
    staged: tuple[Site, Browser], forge: Any, caplog: pytest.LogCaptureFixture
) -> None:
    site, browser = staged
    link = forge(path_of(await granted(site)))
    with caplog.at_level(logging.WARNING, logger="onthedot.prerelease"):
        answer = await browser.get(
            link + "/statistics/fatalquarterly.xlsx", dt.datetime.now(dt.UTC)
        )
    assert answer.status_code == 403 and "is not one onthedot gave for this release" in answer.text
    assert XLSX[:20] not in answer.content
    assert any("pre-release link refused" in r.getMessage() for r in caplog.records)
    assert await browser.events(kinds.PRA_REFUSED) == []  # nobody fills the record by guessing


async def test_an_expired_or_revoked_link_is_refused_and_recorded(
    staged: tuple[Site, Browser],
) -> None:
    site, browser = staged
    now = dt.datetime.now(dt.UTC)
    short = path_of(await granted(site, "--hours", "0.5"))
    answer = await browser.get(short, now + dt.timedelta(minutes=31))
    assert answer.status_code == 403 and "has expired" in answer.text
    assert (await browser.get(short, now)).status_code == 200
    code, said = await in_thread(
        site.db, "prerelease", "revoke", str(site.release_file), "--to", JANE
    )
    assert code == 0 and len(said["revoked"]) == 1
    answer = await browser.get(short, now)
    assert answer.status_code == 403 and "was withdrawn" in answer.text
    reasons = [r["reason"] for r in await browser.events(kinds.PRA_REFUSED)]
    assert [r.split(":")[0] for r in reasons] == [
        "This pre-release link has expired",
        "This pre-release link was withdrawn",
    ]


def one_line_refusal(site: Site, *args: str) -> str:
    result = runner.invoke(
        app, ["--database", site.db, "prerelease", "grant", str(site.release_file), *args]
    )
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def test_a_grant_outside_the_window_is_refused_with_the_rule_id(tmp_path: Path) -> None:
    site = make_site(tmp_path, hours_to_t=72)
    said = one_line_refusal(site, "--to", JANE, "--role", "Press officer", "--why", "Briefing")
    assert said.startswith("Error: T3.4.pra-window: Pre-release access to fatal-injuries-")
    assert "(24 hours before release), not earlier: grant it then." in said


def test_a_grant_to_someone_off_the_list_is_refused_with_the_rule_id(tmp_path: Path) -> None:
    listed = '\n[[pre_release_access]]\nname = "A Minister"\nrole = "Secretary of State"\n'
    site = make_site(tmp_path, hours_to_t=2, listed=listed + 'justification = "Answers"\n')
    said = one_line_refusal(site, "--to", JANE, "--role", "Press officer", "--why", "Briefing")
    assert said.startswith("Error: T3.4.pra-list: Jane Smith is not on the pre-release access")
    code, made = grant(site, to="A Minister")
    assert code == 0 and made["person"] == "A Minister"


def test_the_names_and_roles_are_published_with_the_release(tmp_path: Path) -> None:
    site = make_site(tmp_path, hours_to_t=2)
    assert grant(site)[0] == 0
    assert grant(site, to="Tom O'Brien & Co <tom@example.gov.uk>")[0] == 0
    code, said = cli(site.db, "prerelease", "list", str(site.release_file), "--published")
    assert code == 0
    assert said["html"] == (
        '<section class="pre-release-access">\n'
        "  <h2>Pre-release access</h2>\n"
        "  <p>These people had access to the statistics up to 24 hours before their release:</p>\n"
        "  <ul>\n"
        "    <li>Jane Smith, Press officer</li>\n"
        "    <li>Tom O&#x27;Brien &amp; Co, Press officer</li>\n"
        "  </ul>\n"
        "</section>\n"
    )


async def test_grants_are_stored_without_their_link(staged: tuple[Site, Browser]) -> None:
    site, _ = staged
    token = (await granted(site)).rsplit("/", 1)[1]
    engine = await open_store(site.db)
    try:
        (stored,) = await PreReleaseGrants(engine).of_release(site.release_id)
    finally:
        await engine.dispose()
    assert stored.expires_at == site.t and token.split(".")[0] == stored.id
    assert token.split(".")[2] not in repr(stored)


async def test_a_staged_copy_changed_on_the_server_is_not_served(
    staged: tuple[Site, Browser], tmp_path: Path
) -> None:
    site, browser = staged
    link = path_of(await granted(site)) + "/statistics/fatalquarterly.xlsx"
    (copy,) = (tmp_path / "staging").iterdir()
    copy.write_bytes(b"someone else's figures")
    answer = await browser.get(link, dt.datetime.now(dt.UTC))
    assert answer.status_code == 403 and "is not the file that was staged" in answer.text
    assert b"someone else" not in answer.content
    assert await browser.events(kinds.PRA_OPENED) == []


async def test_each_download_closes_the_target_it_read_from(
    staged: tuple[Site, Browser], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download opens the release's target (its connections, its worker threads) for itself:
    served or refused, the target is closed when the download ends."""
    site, browser = staged
    opened: list[FileTarget] = []
    closed: list[FileTarget] = []
    real_in_thread, real_aclose = FileTarget._in_thread, FileTarget.aclose

    async def noted_in_thread(self: FileTarget, *args: Any) -> Any:
        if self not in opened:
            opened.append(self)
        return await real_in_thread(self, *args)

    async def noted_aclose(self: FileTarget) -> None:
        closed.append(self)
        await real_aclose(self)

    monkeypatch.setattr(FileTarget, "_in_thread", noted_in_thread)
    monkeypatch.setattr(FileTarget, "aclose", noted_aclose)
    link = path_of(await granted(site)) + "/statistics/fatalquarterly.xlsx"
    now = dt.datetime.now(dt.UTC)
    assert (await browser.get(link, now)).content == XLSX
    (copy,) = (tmp_path / "staging").iterdir()
    copy.write_bytes(b"someone else's figures")
    assert (await browser.get(link, now)).status_code == 403
    assert len(opened) == 2 and closed == opened
