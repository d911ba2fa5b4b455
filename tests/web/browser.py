"""Debian's Chromium driven by Playwright (browsers cannot be downloaded here), for the browser
tests: ``async with chromium() as browser:``; screenshots for the docs go to docs/images/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
MARKS = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in_with_token(page: Any, base: str, secret: str) -> None:
    """Sign in on ``/sign-in`` with a token, as a person does (the token's form is folded away)."""
    await page.goto(base + "/sign-in")
    await page.get_by_text("Sign in with a token").click()
    await page.get_by_label("Your token").fill(secret)
    await page.get_by_role("button", name="Sign in with the token").click()
