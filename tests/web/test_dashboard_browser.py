"""The release-morning dashboard in Debian's Chromium, served by uvicorn on 127.0.0.1: every page
checked by axe-core (no serious or critical violation), a person signing in with a token, a
countdown reaching T, a URL turning from stale to live after a purge on a real nginx + Varnish,
and an incident acknowledged. The screenshots go to docs/images/ (calendar.png, dashboard.png)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import ShiftedClock
from onthedot.config import Config
from onthedot.model import Artefact, Release, Site
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.settings import WebSettings
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.probe import Prober
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.verifier import Verifier
from onthedot.web.app import create_app
from tests.servers import Nginx, Varnish
from tests.web.axe import serious_violations
from tests.web.browser import IMAGES, MARKS, chromium, sign_in_with_token
from tests.web.conftest import FATAL, GDP, FixedClock, token
from tests.web.serve import serve
from tests.web.test_dashboard import open_incident

pytestmark = MARKS
WIDE = {"width": 1280, "height": 900}
SLOW = WebSettings(refresh_s=300)  # so what changes on a page came by its live stream


async def checked(page: Any, url: str) -> list[str]:
    """Open ``url`` and return axe's serious and critical violations there, named by page."""
    await page.goto(url)
    return [f"{url}: {v}" for v in await serious_violations(page)]


async def test_every_page_passes_axe_and_a_person_signs_in_with_a_token(
    store: AsyncEngine, clock: FixedClock
) -> None:
    from playwright.async_api import expect

    await open_incident(store)
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    pages = ["/", "/calendar", f"/releases/{FATAL.id}", f"/releases/{GDP.id}", "/register"]
    pages += ["/settings", "/incidents", "/sign-in", "/releases/no-such-release"]
    app = create_app(store, config=Config(web=SLOW), clock=clock)
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport=WIDE)
        found = [v for url in pages for v in await checked(page, base + url)]
        await page.goto(base + "/calendar")
        await page.screenshot(path=str(IMAGES / "calendar.png"), full_page=True)

        await sign_in_with_token(page, base, secret)
        await expect(page).to_have_url(base + "/")
        await expect(page.get_by_role("link", name="Signed in: jane")).to_be_visible()
        await page.goto(base + f"/releases/{GDP.id}")  # tomorrow's: its detail, signed in
        await expect(page.locator('tr[data-status="early"]')).to_have_count(1)
        found += [v for url in pages for v in await checked(page, base + url)]
    assert found == []


async def test_a_countdown_reaches_t_and_the_page_then_shows_what_the_public_gets(
    store: AsyncEngine,
) -> None:
    from playwright.async_api import expect

    clock = ShiftedClock(GDP.release_at - dt.timedelta(seconds=8))
    app = create_app(store, config=Config(web=SLOW), clock=clock)
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport=WIDE)
        await page.goto(base + f"/releases/{GDP.id}")
        countdown = page.locator(".onthedot-countdown")
        await expect(countdown).to_have_text(re.compile(r"^in [1-8] seconds?$"))
        await expect(page.locator(".onthedot-withheld")).to_be_visible()
        await expect(countdown).to_have_text("due now", timeout=10_000)
        # the live stream says T has come: the page reloads with the release's detail
        await expect(page.get_by_role("heading", name="What the public gets")).to_be_visible(
            timeout=6000
        )
        await expect(page.locator('tr[data-status="early"]')).to_have_count(1)


def cached_release(varnish: Varnish, origin: Nginx, new: bytes, at: dt.datetime) -> Release:
    return Release(
        id="bulletin-2026",
        title="Quarterly bulletin: the new figures",
        producer="Office for Testing Statistics",
        release_at=at,
        site=Site(public=varnish.url, origin=origin.url),
        artefact=(
            Artefact(
                path="/statistics/bulletin.xlsx",
                sha256=hashlib.sha256(new).hexdigest(),
                size=len(new),
            ),
        ),
    )


async def test_a_url_turns_from_stale_to_live_after_a_purge_on_nginx_and_varnish(
    store: AsyncEngine, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    from playwright.async_api import expect

    file = webroot / "statistics" / "bulletin.xlsx"
    file.parent.mkdir(parents=True)
    file.write_bytes(b"last quarter's figures")
    edge = varnish.url + "/statistics/bulletin.xlsx"
    async with httpx.AsyncClient() as http:
        assert (await http.get(edge)).status_code == 200  # Varnish keeps the old file an hour
        new = b"this quarter's figures, released at T"
        file.write_bytes(new)  # the flip, at the origin
        t = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=5)
        release = cached_release(varnish, origin, new, t)
        await ReleaseRepository(store).sync(release, actor="test")
        await Timeline(store).append(release.id, kinds.PUBLISH_FLIPPED, {"target": "file"}, at=t)
        clock = ShiftedClock(dt.datetime.now(dt.UTC))
        recorder = CheckRecorder(store)
        async with Prober(CurlTransport(), allowed_hosts=["127.0.0.1"]) as prober:
            verifier = Verifier(prober, clock=clock)
            await recorder.record(release.id, (await verifier.check(release)).results)
            app = create_app(store, config=Config(web=SLOW), clock=clock)
            async with serve(app) as base, chromium() as browser:
                page = await browser.new_page(viewport=WIDE)
                await page.goto(base + f"/releases/{release.id}")
                row = page.locator('tr[data-key$="/statistics/bulletin.xlsx|default"]')
                await expect(row.locator(".govuk-tag")).to_have_text("stale")
                await expect(row.locator(".onthedot-diagnosis")).to_contain_text("purge")

                purged = await http.request("PURGE", edge)  # IT purges the cache
                assert purged.status_code == 200
                await recorder.record(release.id, (await verifier.check(release)).results)
                await expect(row.locator(".govuk-tag")).to_have_text("live", timeout=5000)
                await expect(row.locator(".onthedot-first-live")).not_to_be_empty()
                assert await serious_violations(page) == []
                await page.reload()  # the curve drawn again, now with the purge in it
                await expect(page.locator("svg.onthedot-curve")).to_be_visible()
                await page.screenshot(path=str(IMAGES / "dashboard.png"), full_page=True)


async def test_a_person_acknowledges_an_incident_on_the_release_page(
    store: AsyncEngine, clock: FixedClock
) -> None:
    from playwright.async_api import expect

    await open_incident(store)
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    app = create_app(store, config=Config(web=SLOW), clock=clock)
    async with serve(app) as base, chromium() as browser:
        context = await browser.new_context(viewport=WIDE)
        page = await context.new_page()
        await sign_in_with_token(page, base, secret)
        await page.goto(base + f"/releases/{FATAL.id}")
        incident = page.locator(".onthedot-incident")
        await expect(incident.locator(".govuk-tag")).to_have_text("open")
        await incident.get_by_role("button", name="Acknowledge").click()
        await expect(page).to_have_url(base + f"/releases/{FATAL.id}")
        await expect(incident.locator(".govuk-tag")).to_have_text("acknowledged")
        await expect(incident).to_contain_text("jane")
        await expect(incident.get_by_role("button")).to_have_count(0)
        assert await serious_violations(page) == []


async def test_a_page_following_its_release_live_does_not_fetch_itself_every_refresh(
    store: AsyncEngine, clock: FixedClock
) -> None:
    """Its stream brings what changes: a page of a release of 10,000 files is seconds of work to
    make, so a followed page fetches itself once a minute, not every ``refresh_s``."""
    app = create_app(store, config=Config(web=WebSettings(refresh_s=1)), clock=clock)
    path = f"/releases/{FATAL.id}"
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport=WIDE)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if r.resource_type == "fetch" else None)
        async with page.expect_response(lambda r: r.url.startswith(f"{base}{path}/live?since=")):
            await page.goto(base + path)
        await asyncio.sleep(3.5)  # three and a half times refresh_s: nothing should come
        assert fetched == []
        fetch = page.expect_request(lambda r: r.resource_type == "fetch", timeout=5000)
        async with fetch:  # the board follows no stream: it fetches itself every refresh_s
            await page.goto(base + "/")
