"""Acknowledging from the dashboard and through an alert's signed link, over the app in process;
a forged or expired link is refused and the refusal recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import IncidentBook
from onthedot.respond.links import Link, link_key
from onthedot.respond.problems import Reading
from onthedot.settings import NotifySettings
from onthedot.store.tokens import AccessTokens
from onthedot.web.app import create_app
from tests.respond.conftest import MovedClock, T, seen
from tests.web.forms import csrf, post, sign_in

BASE = "http://onthedot.test"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(notify=NotifySettings(dashboard=BASE, key=str(tmp_path / "links.key")))


@pytest.fixture
async def incident(store: AsyncEngine) -> int:
    await seen(store, Status.STALE, T + dt.timedelta(seconds=1))
    reading = Reading(T)
    for event in await Timeline(store).events("retail-sales-2026-02"):
        reading.feed(event)
    book = IncidentBook(store)
    (opened,) = await book.sync("retail-sales-2026-02", reading.problems(T), T, ("stale",))
    return opened.id


@pytest.fixture
def clock() -> MovedClock:
    return MovedClock(T + dt.timedelta(seconds=30))


@pytest.fixture
async def client(
    store: AsyncEngine, config: Config, clock: MovedClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, config=config, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def signed(config: Config, incident: int, expires: dt.datetime) -> str:
    link = Link(incident, "head_of_profession", int(expires.timestamp()))
    return link_key(config.notify, config.root).url(BASE, link).removeprefix(BASE)


async def test_an_alerts_link_shows_one_button_and_pressing_it_acknowledges(
    client: httpx.AsyncClient, store: AsyncEngine, config: Config, incident: int
) -> None:
    url = signed(config, incident, T + dt.timedelta(hours=1))
    page = await client.get(url)
    assert page.status_code == 200 and "Acknowledge</button>" in page.text
    assert (await IncidentBook(store).get(incident)).state == "open"  # opening changes nothing
    fields = dict(httpx.URL(url).params) | {"csrf_token": await csrf(client, url)}
    done = await client.post(url.split("?")[0], data=fields, headers=FORM)
    assert done.status_code == 200, done.text
    after = await IncidentBook(store).get(incident)
    assert after.state == "acknowledged" and "Head of Profession" in after.by


@pytest.mark.parametrize("spoil", ["forged", "expired", "other incident"])
async def test_a_forged_or_expired_link_is_refused_and_recorded(
    client: httpx.AsyncClient, store: AsyncEngine, config: Config, incident: int, spoil: str
) -> None:
    expires = T - dt.timedelta(seconds=1) if spoil == "expired" else T + dt.timedelta(hours=1)
    url = signed(config, incident, expires)
    if spoil == "forged":
        url = url.replace("sig=", "sig=0")
    if spoil == "other incident":
        url = url.replace(f"/incidents/{incident}/", f"/incidents/{incident + 1}/")
    for attempt in (
        client.get(url),
        post(client, url.split("?")[0], dict(httpx.URL(url).params)),
    ):
        refused = await attempt
        assert refused.status_code == 403, refused.text
    assert (await IncidentBook(store).get(incident)).state == "open"
    if spoil != "other incident":
        events = await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_LINK_REFUSED)
        assert len(events) == 2 and events[0].data["incident"] == incident


async def test_a_signed_in_statistician_acknowledges_on_the_dashboard_anyone_else_may_not(
    client: httpx.AsyncClient, store: AsyncEngine, incident: int
) -> None:
    anonymous = await client.post(f"/incidents/{incident}/ack")
    assert anonymous.status_code == 403
    listed = await client.get("/incidents")
    assert "sign in" in listed.text and "retail-sales-2026-02" not in listed.text
    made = await AccessTokens(store).add("jo", "statistician", T - dt.timedelta(days=1))
    await sign_in(client, token=made)
    listed = await client.get("/incidents")
    assert "retail-sales-2026-02" in listed.text and "Acknowledge</button>" in listed.text
    refused = await client.post(f"/incidents/{incident}/ack")  # no CSRF token: not from the page
    assert refused.status_code == 403 and "open the page again" in refused.text
    done = await post(client, f"/incidents/{incident}/ack", {}, page="/incidents")
    assert done.status_code == 303
    after = await IncidentBook(store).get(incident)
    assert (after.state, after.by) == ("acknowledged", "jo")
