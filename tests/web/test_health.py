"""``/api/health``: ok, degraded (release files it cannot read, named), down (no store)."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.morning.files import FileProblem, FileProblems
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.web.app import create_app
from tests.web.conftest import GDP, GDP_STAGED, NOW, PUBLIC, FixedClock

TWICE = (
    "releases/gdp.toml:16: artefact[1].path: /statistics/gdp-itl-regions.xlsx is listed twice: "
    "list each artefact path once"
)
BROKEN = [
    FileProblem("releases/bad.toml", ("releases/<b>.toml:2: invalid TOML: Invalid value.",)),
    FileProblem(
        "releases/gdp.toml",
        (TWICE, "releases/gdp.toml:10: nation: should be one of ..."),
        kept="regional-gdp-2019",
    ),
]


async def test_health_is_degraded_naming_each_file_it_cannot_read(store: AsyncEngine) -> None:
    problems = FileProblems()
    app = create_app(store, config=Config(), clock=FixedClock(NOW), file_problems=problems)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as client:
        health = (await client.get("/api/health")).json()
        assert (health["ok"], health["status"], health["problems"]) == (True, "ok", [])
        problems.replace(BROKEN)
        response = await client.get("/api/health")
    assert response.status_code == 200  # still publishing every other release
    health = response.json()
    assert (health["ok"], health["status"]) == (True, "degraded")
    assert health["problems"] == [
        {
            "file": "releases/bad.toml",
            "release": None,
            "message": "releases/bad.toml cannot be read: run `onthedot check releases/bad.toml` "
            "to see why.",
        },
        {
            "file": "releases/gdp.toml",
            "release": None,
            "message": "releases/gdp.toml cannot be read: run `onthedot check releases/gdp.toml` "
            "to see why. Release 'regional-gdp-2019' is still published at its time, as it was "
            "last read (the version in the store).",
        },
    ]
    assert "gdp-itl-regions" not in response.text  # health is public: no embargoed path


async def test_the_board_tells_anyone_plainly_a_file_cannot_be_read_and_staff_what_is_wrong(
    store: AsyncEngine, statistician: dict[str, str]
) -> None:
    problems = FileProblems()
    app = create_app(store, config=Config(), clock=FixedClock(NOW), file_problems=problems)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as client:
        assert "cannot be read" not in (await client.get("/")).text
        problems.replace(BROKEN)
        anyone = (await client.get("/")).text
        staff = (await client.get("/", headers=statistician)).text
    for page in (anyone, staff):
        assert "Release files that cannot be read" in page and "<b>" not in page
    # the board is public too: a plain sentence, no file, no path, no command to run
    assert "2 release files could not be read; the team responsible has been told." in anyone
    for said in ("bad.toml", "gdp.toml", "onthedot check", "`", "gdp-itl-regions"):
        assert said not in anyone, said
    assert "run `onthedot check releases/gdp.toml`" in staff  # staff still get the command
    assert "releases/&lt;b&gt;.toml:2: invalid TOML: Invalid value." in staff  # escaped
    assert "/statistics/gdp-itl-regions.xlsx is listed twice" in staff


async def test_health_is_degraded_while_a_release_s_staged_copies_can_be_fetched(
    store: AsyncEngine, statistician: dict[str, str]
) -> None:
    exposed = f"{PUBLIC}{GDP_STAGED}"
    data = {"url": exposed, "path": "/statistics/gdp-itl-regions.xlsx", "location": GDP_STAGED}
    timeline = Timeline(store)
    await timeline.append(GDP.id, kinds.EMBARGO_EXPOSED, data, at=NOW - dt.timedelta(minutes=3))
    app = create_app(store, config=Config(), clock=FixedClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as client:
        response = await client.get("/api/health", headers=statistician)
        assert response.status_code == 200
        health = response.json()
        assert health["status"] == "degraded"
        (problem,) = health["problems"]
        assert problem["release"] == GDP.id and problem["file"] is None
        assert problem["message"].startswith(f"1 of the files of {GDP.id} waiting for their")
        assert (
            "move the publishing target's staging folder outside the web root" in problem["message"]
        )
        # never where the staged copy is, even to staff
        assert GDP_STAGED not in response.text and ".onthedot-" not in response.text
        # to anyone else, not even which release: it would say where to look
        anyone = await client.get("/api/health")
        assert anyone.json()["status"] == "degraded"
        (problem,) = anyone.json()["problems"]
        assert problem["release"] is None and problem["message"].startswith(
            "Files waiting for their release time could be fetched from the public site: sign "
            "in to see which release"
        )
        assert GDP.id not in anyone.text and GDP_STAGED not in anyone.text
        await timeline.append(GDP.id, kinds.EMBARGO_CONTAINED, {"urls": [exposed]}, at=NOW)
        assert (await client.get("/api/health")).json()["status"] == "ok"
