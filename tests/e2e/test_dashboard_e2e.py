"""``onthedot run --port P``: headless Chromium opens ``/``, follows the link to the public release
calendar (GOV.UK Frontend markup), and finds the go-live curve on the release page once the
release is out; the web side runs at a lower CPU priority than the scheduler."""

from __future__ import annotations

import os
from pathlib import Path

from onthedot.web.server import WEB_NICENESS
from tests.e2e.helpers import ONE_FILE, one_file_site, start_service, until_live
from tests.servers.nginx import Nginx
from tests.servers.ports import free_port
from tests.web.browser import MARKS, chromium

pytestmark = MARKS
RELEASE = "fatal-injuries-2019-apr-sep"


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _web_child(pid: int) -> list[int]:
    """The service's child process that serves the web side (multiprocessing's spawned one)."""
    found = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [p for p in found if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


async def test_onthedot_run_links_the_calendar_from_its_board_and_draws_the_curve(
    tmp_path: Path, webroot: Path, origin: Nginx
) -> None:
    from playwright.async_api import expect

    config, _ = one_file_site(tmp_path, webroot, origin.url, in_s=6)
    port = free_port()
    service = start_service(config, f"sqlite:///{tmp_path / 'store.db'}", port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert until_live(base, RELEASE, 40).get("live")
        (web,) = _web_child(service.pid)
        assert _niceness(web) == min(19, _niceness(service.pid) + WEB_NICENESS)
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(base + "/")
            await expect(page.locator("body.govuk-template__body")).to_have_count(1)
            await page.get_by_role("link", name="the release calendar").click()
            await expect(page).to_have_url(base + "/calendar")
            await expect(page.get_by_role("heading", name="Release calendar")).to_be_visible()
            row = page.locator("table#past tr", has_text="Fatal injuries arising")
            await expect(row).to_have_count(1)
            await row.get_by_role("link").click()
            await expect(page.locator("svg.onthedot-curve")).to_be_visible()
            await expect(page.locator("figcaption")).to_contain_text(
                "Every address was live from every vantage point"
            )
    finally:
        service.terminate()
        service.communicate(timeout=15)  # (reads and closes its output pipe)
    assert os.path.exists(webroot / ONE_FILE.lstrip("/"))
