"""The dashboard in Debian's Chromium (Playwright's Python API), served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record.checks import CheckRecorder
from onthedot.settings import WebSettings
from onthedot.web.app import create_app
from tests.web.browser import MARKS, chromium
from tests.web.conftest import FATAL, NOW, STALE_SENTENCE, XLSX, FixedClock, result
from tests.web.serve import serve

pytestmark = MARKS


async def test_board_shows_a_stale_release_then_updates_itself(
    store: AsyncEngine, clock: FixedClock, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    app = create_app(store, config=Config(web=WebSettings(refresh_s=1)), clock=clock)
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(base + "/")
        card = page.locator(f'section[aria-labelledby="release-{FATAL.id}"]')
        row = card.locator(f'li:has(a[href="{XLSX}"])')
        await expect(row.locator(".govuk-tag.govuk-tag--red")).to_have_text("stale")
        await expect(row).to_contain_text(STALE_SENTENCE)
        await expect(card.locator(".onthedot-counts")).to_contain_text("1 of 2 live, 1 stale.")
        countdown = page.locator(f"#release-{FATAL.id} ~ p .onthedot-countdown")
        await expect(countdown).to_have_text("released 11 minutes 0 seconds ago")
        await expect(countdown).not_to_have_text("released 11 minutes 0 seconds ago", timeout=3000)
        shot = tmp_path / "board.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # IT purges the cache: the next sweep finds the spreadsheet live; the page follows
        fixed = result(XLSX, Status.LIVE, NOW + dt.timedelta(seconds=5))
        await CheckRecorder(store).record(FATAL.id, [fixed])
        await expect(card.locator(".onthedot-counts")).to_contain_text("2 of 2 live.", timeout=5000)
        await expect(row).to_have_count(0)  # what is live is counted, not listed
        await expect(page.locator("#onthedot-updated")).to_contain_text("Updated at")
