"""Signing in and finishing the breach report in Debian's Chromium (Playwright's Python API),
the app served by uvicorn on 127.0.0.1: a statistician writes the impact, the Head of Profession
approves the report and downloads it; a wrong password is told on the page."""

from __future__ import annotations

import io
from pathlib import Path

import docx
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.store.accounts import Accounts
from onthedot.web.app import create_app
from tests.web.browser import MARKS, chromium
from tests.web.conftest import FATAL, NOW, FixedClock
from tests.web.serve import serve

pytestmark = MARKS
PASSWORD = "correct horse battery staple"
IMPACT = "The press office answered 14 calls about the old spreadsheet before 11:00."


async def test_a_statistician_writes_the_impact_the_head_of_profession_approves_and_downloads(
    store: AsyncEngine, clock: FixedClock, tmp_path: Path
) -> None:
    from playwright.async_api import Page, expect

    accounts = Accounts(store)
    await accounts.add("jane.smith", "statistician", PASSWORD, NOW)
    await accounts.add("hop", "head-of-profession", PASSWORD, NOW)
    app = create_app(store, config=Config(), clock=clock)

    async def sign_in(page: Page, base: str, name: str, password: str) -> None:
        await page.goto(base + "/sign-in")
        await page.get_by_label("Your name").fill(name)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in", exact=True).click()

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, base, "jane.smith", "not her password")
        await expect(page.locator(".govuk-error-summary")).to_contain_text(
            "The name or the password is not right: check both and try again."
        )
        await sign_in(page, base, "jane.smith", PASSWORD)
        await expect(page.locator(".govuk-service-navigation")).to_contain_text(
            "Signed in: jane.smith"
        )
        await page.goto(f"{base}/releases/{FATAL.id}")
        await page.locator(".onthedot-report-link").click()
        await page.get_by_label("Impact inside the producer body").fill(IMPACT)
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator(".onthedot-notice")).to_have_text("Saved.")
        await expect(page.locator(".onthedot-history")).to_contain_text("jane.smith")
        assert await page.get_by_role("button", name="Approve the report").count() == 0

        await page.goto(base + "/sign-in")
        await page.get_by_role("button", name="Sign out").click()
        await sign_in(page, base, "hop", PASSWORD)
        await page.goto(f"{base}/releases/{FATAL.id}/report")
        await page.get_by_role("button", name="Approve the report").click()
        await expect(page.locator(".onthedot-report-status")).to_contain_text("approved")
        await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        async with page.expect_download() as started:
            await page.get_by_role("link", name="The report as DOCX").click()
        download = await started.value
        assert download.suggested_filename == f"breach-report-{FATAL.id}.docx"
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
    document = docx.Document(io.BytesIO(saved.read_bytes()))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    assert IMPACT in cells
    assert "Approved; approved by hop on Wednesday 18 December 2019." in cells
