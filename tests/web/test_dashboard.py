"""The release-morning dashboard's pages and their JSON twins, read in process: the calendar,
the release page (curve, incidents, notice and gates, pre-release access, reports), the breach
register, the settings, and bad input (unknown ids, malformed parameters, markup in titles,
embargoed things asked for before T)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import icalendar
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from onthedot.calendar.export import entries
from onthedot.calendar.policy import Policy
from onthedot.config import Config
from onthedot.model import Gate
from onthedot.record import kinds
from onthedot.record.report.assess import assess
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import IncidentBook
from onthedot.respond.problems import Problem
from onthedot.settings import NotifySettings, WebSettings
from onthedot.store.prerelease import Grant, PreReleaseGrants
from onthedot.store.releases import ReleaseRepository
from onthedot.web.app import create_app
from tests.web.conftest import (
    EMBARGOED_STRINGS,
    FATAL,
    GDP,
    LABOUR,
    XLSX,
    FixedClock,
    T,
    release,
    token,
)
from tests.web.forms import post, sign_in

# -- the calendar ---------------------------------------------------------------------------


async def test_the_calendar_is_public_upcoming_then_past_with_ics_and_json(
    client: httpx.AsyncClient,
) -> None:
    board = (await client.get("/")).text
    assert 'href="/calendar"' in board
    page = (await client.get("/calendar")).text
    upcoming, past = page.split('id="past"')
    assert GDP.title in upcoming and FATAL.title not in upcoming
    assert past.index(FATAL.title) < past.index(LABOUR.title)  # the latest first
    assert "in 23 hours 49 minutes" in upcoming and "released 1 day 0 hours ago" in past
    ics = await client.get("/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(ics.content).walk("VEVENT")
    assert sorted(str(e["uid"]) for e in events) == sorted(
        f"{r.id}@onthedot" for r in (FATAL, LABOUR, GDP)
    )
    listed = (await client.get("/api/calendar")).json()
    assert [r["id"] for r in listed["releases"]] == [LABOUR.id, FATAL.id, GDP.id]


async def test_the_calendars_json_is_the_clis_and_names_no_file_before_t(
    client: httpx.AsyncClient, statistician: dict[str, str]
) -> None:
    anonymous = (await client.get("/api/calendar")).json()["releases"]
    cli = entries([LABOUR, FATAL, GDP], Policy())
    assert [{**e, "url": None} for e in anonymous] == [{**e, "url": None} for e in cli]
    urls = {e["id"]: e["url"] for e in anonymous}
    assert urls[GDP.id] == "https://www.hse.gov.uk"  # its site, not its spreadsheet before T
    assert urls[FATAL.id] == XLSX
    signed = (await client.get("/api/calendar", headers=statistician)).json()["releases"]
    assert signed == cli


async def test_the_calendar_filters_by_producer_and_dates(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    other = release("ons-cpi", "Consumer price inflation", T + dt.timedelta(days=3), ())
    await ReleaseRepository(store).sync(
        other.model_copy(update={"producer": "Office for National Statistics"}), actor="test"
    )
    only = await client.get("/calendar", params={"producer": "Office for National Statistics"})
    assert "Consumer price inflation" in only.text and FATAL.title not in only.text
    assert '<option value="Office for National Statistics" selected>' in only.text
    assert "/calendar.ics?producer=Office+for+National+Statistics" in only.text
    dated = await client.get("/api/calendar", params={"from": "2019-12-18", "to": "2019-12-19"})
    assert [r["id"] for r in dated.json()["releases"]] == [FATAL.id, GDP.id]


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        (
            "/calendar?from=2019-13-01",
            "The query parameter from='2019-13-01' is not a date: write YYYY-MM-DD",
        ),
        (
            "/api/calendar?producer=Nobody",
            "The query parameter producer='Nobody' is not one of the choices: use one of "
            "Health and Safety Executive.",
        ),
        ("/register?year=19x9", "The query parameter year='19x9' is not a year"),
        ("/api/register?type=leak", "The query parameter type='leak' is not one of the choices"),
        ("/register.csv?cause=" + "x" * 300, "is too long or holds control characters"),
        ("/api/incidents?everything=perhaps", "everything: Input should be a valid boolean"),
    ],
)
async def test_a_malformed_query_parameter_is_answered_400_with_one_sentence(
    client: httpx.AsyncClient, statistician: dict[str, str], url: str, sentence: str
) -> None:
    answer = await client.get(url, headers=statistician)
    assert answer.status_code == 400
    said = answer.json()["error"] if url.startswith("/api/") else answer.text
    assert sentence in said.replace("&#39;", "'")


async def test_titles_with_markup_are_shown_as_text(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    sly = release("sly", '<script>alert("x")</script> & <b>bold</b>', T, ())
    await ReleaseRepository(store).sync(sly, actor="test")
    for url in ("/", "/calendar", "/releases/sly"):
        html = (await client.get(url)).text
        assert "<script>alert" not in html and "<b>bold</b>" not in html, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in html, url


async def test_an_unknown_release_is_a_404_page_in_the_design_system(
    client: httpx.AsyncClient,
) -> None:
    for url in ("/releases/no-such-release", "/releases/no-such-release/report.html"):
        page = await client.get(url)
        assert page.status_code == 404
        assert '<h1 class="govuk-heading-xl">Not found</h1>' in page.text
        assert "There is no release &#39;no-such-release&#39;" in page.text
    answer = await client.get("/api/releases/no-such-release/go-live")
    assert answer.status_code == 404 and "There is no release" in answer.json()["error"]


# -- a release's page -------------------------------------------------------------------------


async def open_incident(store: AsyncEngine) -> int:
    problem = Problem(
        "stale", T, ("/statistics/fatalquarterly.xlsx",), "The cache served the old file.", "cache"
    )
    opened = await IncidentBook(store).sync(FATAL.id, {"stale": problem}, T, ["stale"])
    return opened[0].id


async def test_the_release_page_shows_the_curve_incidents_states_access_and_reports(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    number = await open_incident(store)
    grant = Grant(
        "g1",
        FATAL.id,
        "Minister's private office",
        None,
        "minister",
        "briefing",
        T - dt.timedelta(days=1),
        T,
    )
    await PreReleaseGrants(store).add(grant)
    html = (await client.get(f"/releases/{FATAL.id}")).text
    svg = re.search(r"<svg [^>]*class=\"onthedot-curve\".*?</svg>", html, re.S)
    assert svg is not None and 'role="img"' in svg[0]
    assert "1 of 2 address and vantage point pairs served the new version" in svg[0]
    assert "The cache served the old file." in html
    assert f'action="/incidents/{number}/ack"' not in html  # (signed out: no button)
    assert "Notice</dt>" in html and "No delay notice has been needed." in html
    assert "Minister&#39;s private office" in html and "expired" in html
    assert f'href="/releases/{FATAL.id}/report.docx"' not in html  # (the producer's own document)
    assert "1 open incident</a>" in (await client.get("/")).text


async def test_a_signed_in_person_acknowledges_an_incident_from_the_release_page(
    app: FastAPI, store: AsyncEngine
) -> None:
    number = await open_incident(store)
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        await sign_in(c, token=secret)
        page = (await c.get(f"/releases/{FATAL.id}")).text
        assert 'name="back"' in page and "Acknowledge<span" in page
        assert f'href="/releases/{FATAL.id}/report.docx"' in page
        back = {"back": f"/releases/{FATAL.id}"}
        done = await post(c, f"/incidents/{number}/ack", back, page=f"/releases/{FATAL.id}")
        assert done.status_code == 303 and done.headers["location"] == f"/releases/{FATAL.id}"
        away = {"back": "https://evil.example/"}
        elsewhere = await post(c, f"/incidents/{number}/ack", away)  # (no button left to press)
        assert elsewhere.headers["location"] == "/incidents"
    incident = await IncidentBook(store).get(number)
    assert (incident.state, incident.by) == ("acknowledged", "jane")
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        await sign_in(c, token=secret)
        listed = (await c.get("/api/incidents")).json()
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        refused = await c.get("/api/incidents")
    assert listed == {"ok": True, "incidents": [incident.as_json()]}  # the CLI's --json
    assert refused.status_code == 403


async def test_gates_and_a_notice_show_their_states(store: AsyncEngine, clock: FixedClock) -> None:
    held = Gate(name="Officials' briefing", send="mailto://briefing:s3cret@mail.example/x")
    config = Config(gates={FATAL.id: (held,)})
    timeline = Timeline(store)
    await timeline.append(FATAL.id, kinds.GATE_HELD, {"gate": held.name}, at=T)
    failed = {"text": "delayed", "error": "The target refused the upload.", "url": "u", "path": "p"}
    await timeline.append(FATAL.id, kinds.NOTICE_FAILED, failed, at=T + dt.timedelta(minutes=5))
    app = create_app(store, config=config, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        html = (await c.get(f"/releases/{FATAL.id}")).text
    assert "Officials&#39; briefing</dt>" in html
    assert re.search(r'govuk-tag--yellow">\s*held\s*</strong>', html)
    assert "s3cret" not in html and "****" in html
    assert "Not on the site since 09:35: The target refused the upload." in html


async def test_the_report_downloads_carry_the_curve_and_are_refused_before_t(
    client: httpx.AsyncClient, statistician: dict[str, str]
) -> None:
    html = await client.get(f"/releases/{FATAL.id}/report.html", headers=statistician)
    assert html.status_code == 200 and 'class="onthedot-curve"' in html.text
    assert "attachment" in html.headers["content-disposition"]
    docx = await client.get(f"/releases/{FATAL.id}/report.docx", headers=statistician)
    assert docx.content[:2] == b"PK"
    pdf = await client.get(f"/releases/{FATAL.id}/report.pdf", headers=statistician)
    assert pdf.status_code == 422
    anonymous = await client.get(f"/releases/{FATAL.id}/report.html")  # after T as before
    assert anonymous.status_code == 403 and "own document" in anonymous.text
    with capture_logs() as logged:
        refused = await client.get(f"/releases/{GDP.id}/report.md")
        hashes = await client.get(f"/api/releases/{GDP.id}/artefacts")
    assert refused.status_code == 403 and hashes.status_code == 403
    assert "is not public until its release time" in hashes.json()["error"]
    assert all(s not in refused.text + hashes.text for s in EMBARGOED_STRINGS)
    assert [(e["event"], e["release"], e["viewer"]) for e in logged] == [
        ("embargoed.refused", GDP.id, "anonymous")
    ]
    allowed = await client.get(f"/api/releases/{GDP.id}/artefacts", headers=statistician)
    assert allowed.status_code == 200 and allowed.json()[0]["expected_sha256"] is not None


async def test_the_go_live_api_gives_the_pages_curve(client: httpx.AsyncClient) -> None:
    curve = (await client.get(f"/api/releases/{LABOUR.id}/go-live")).json()
    assert curve["places"] == 1 and curve["live_at"] == "2019-12-17T09:30:01.200000Z"
    assert [p["share"] for p in curve["points"]] == [0.0, 1.0]
    assert curve["sentence"].startswith("Every address was live from every vantage point at")
    assert (await client.get(f"/api/releases/{GDP.id}/go-live")).status_code == 403


# -- the breach register ----------------------------------------------------------------------


async def test_the_register_lists_filters_and_exports_breaches(
    client: httpx.AsyncClient, store: AsyncEngine, statistician: dict[str, str]
) -> None:
    for r in (FATAL, LABOUR, GDP):
        await assess(store, r)
    page = (await client.get("/register")).text
    assert f'href="/releases/{FATAL.id}"' in page and f'href="/releases/{GDP.id}"' not in page
    signed = (await client.get("/api/register", headers=statistician)).json()
    anonymous = (await client.get("/api/register")).json()
    assert {b["release"] for b in signed["breaches"]} >= {FATAL.id, GDP.id}
    assert GDP.id not in {b["release"] for b in anonymous["breaches"]}  # before its T
    kind = anonymous["breaches"][0]["kind"]
    only = (await client.get("/api/register", params={"type": kind, "year": "2019"})).json()
    assert only["total"] >= 1 and {b["kind"] for b in only["breaches"]} == {kind}
    assert (await client.get("/api/register", params={"year": "2020"})).json()["total"] == 0
    csv = await client.get("/register.csv", params={"type": kind})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("release,kind,title") and len(lines) == only["total"] + 1


# -- settings ---------------------------------------------------------------------------------


async def test_settings_are_shown_to_an_administrator_only_with_every_secret_masked(
    store: AsyncEngine, clock: FixedClock
) -> None:
    config = Config(
        database="postgresql+asyncpg://onthedot:db-pass-913@db.internal/onthedot",
        web=WebSettings(agents={"edinburgh": SecretStr("agent-token-0123456789abcdef")}),
        notify=NotifySettings(
            statistician=("slack://TokenA/TokenB/TokenCsecret77",),
            it=("mailto://it:mail-pass-55@mail.example/it@example.org",),
        ),
    )
    app = create_app(store, config=config, clock=clock)
    headers = await token(store, "jane", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        anonymous = [await c.get("/settings"), await c.get("/api/settings")]
        shown = [
            await c.get("/settings", headers=headers),
            await c.get("/api/settings", headers=headers),
        ]
    assert anonymous[0].status_code == 200 and "sign in" in anonymous[0].text
    assert anonymous[1].status_code == 403 and "db.internal" not in anonymous[0].text
    secrets = ("db-pass-913", "agent-token-0123456789abcdef", "TokenCsecret77", "mail-pass-55")
    for answer in shown:
        assert answer.status_code == 200
        assert all(s not in answer.text for s in secrets), answer.text
        assert "db.internal" in answer.text and "****" in answer.text
    data = shown[1].json()
    assert data["web"]["agents"] == {"edinburgh": "****"}
    assert data["web"]["live_s"] == 0.1 and data["policy"]["zone"] == "Europe/London"
