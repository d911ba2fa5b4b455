"""``check``, ``preflight``, ``calendar``, ``verify`` and the dashboard for a release GOV.UK
publishes: each says plainly what onthedot does not control, and looks at what it can."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from onthedot.cli import app as cli_app
from onthedot.clock import ShiftedClock
from onthedot.config import load_release
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.web.app import create_app
from tests.e2e.cms import LANDING, SERVES_PAGES, Cms, write_external_release
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer

runner = CliRunner()
T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
NOT_OURS = "GOV.UK publishes this release: onthedot does not upload its files or put them live"


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(cli_app, ["--database", db, *args])
    return result.exit_code, result.stdout


def test_check_says_what_onthedot_does_not_control(tmp_path: Path) -> None:
    release = write_external_release(tmp_path / "rel", public="https://www.gov.uk", release_at=T)
    code, text = invoke(tmp_path, "check", str(release))
    assert code == 0 and NOT_OURS in " ".join(text.split()), text
    code, text = invoke(tmp_path, "check", "--json", str(release))
    (checked,) = json.loads(text)["releases"]
    assert (code, checked["published_by"], checked["findings"]) == (0, "GOV.UK", [])


def test_the_calendar_says_where_it_is_published(tmp_path: Path) -> None:
    release = write_external_release(tmp_path / "rel", public="https://www.gov.uk", release_at=T)
    (tmp_path / "onthedot.toml").write_text('releases = ["rel/*.toml"]\n')
    config = ["--config", str(tmp_path / "onthedot.toml")]
    code, text = invoke(tmp_path, *config, "calendar", "--json", "--from", "2026-03-01")
    (entry,) = json.loads(text)["releases"]
    assert (code, entry["published_by"], entry["url"]) == (
        0,
        "GOV.UK",
        f"https://www.gov.uk{LANDING}",
    )
    code, text = invoke(tmp_path, *config, "calendar", "--ics", "--from", "2026-03-01")
    assert code == 0 and "Published on GOV.UK." in text.replace("\r\n ", "")
    assert release.exists()


@pytest.mark.services
def test_preflight_and_verify_look_at_the_landing_page_and_say_what_is_not_ours(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    origin = start_server(
        Nginx(webroot, SERVES_PAGES, headers={"/": {"Cache-Control": "no-cache"}})
    )
    Cms(webroot)
    release = write_external_release(
        tmp_path / "rel",
        public=origin.url,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    code, text = invoke(tmp_path, "preflight", "--json", str(release))
    report = json.loads(text)
    assert code == 0, report
    assert any(NOT_OURS in w for w in report["warnings"]), report
    assert [r["url"] for r in report["results"]] == [origin.url + LANDING]
    code, text = invoke(tmp_path, "verify", "--json", str(release))
    found = {r["url"][len(origin.url) :]: r["status"] for r in json.loads(text)["results"]}
    assert code == 0 and found == {
        LANDING: "embargoed",
        f"{LANDING}#lms-march-2026.xlsx": "embargoed",
    }


async def test_the_dashboard_says_what_onthedot_does_not_control_and_lists_the_found_file(
    tmp_path: Path,
) -> None:
    path = write_external_release(tmp_path / "rel", public="https://www.gov.uk", release_at=T)
    release = load_release(path)
    engine = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        await ReleaseRepository(engine).sync(release, actor="test")
        app = create_app(engine, clock=ShiftedClock(T + dt.timedelta(minutes=5)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get(f"/releases/{release.id}")
    finally:
        await engine.dispose()
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert NOT_OURS in text
    assert f"{LANDING}#lms-march-2026.xlsx" in text  # not checked yet, but listed
