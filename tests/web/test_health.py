"""``/api/health``: ok, degraded (release files it cannot read, named), down (no store)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.morning.files import FileProblem, FileProblems
from onthedot.web.app import create_app
from tests.web.conftest import NOW, FixedClock


async def test_health_is_degraded_naming_each_file_it_cannot_read(store: AsyncEngine) -> None:
    problems = FileProblems()
    app = create_app(store, config=Config(), clock=FixedClock(NOW), file_problems=problems)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as client:
        health = (await client.get("/api/health")).json()
        assert (health["ok"], health["status"], health["problems"]) == (True, "ok", [])
        problems.replace(
            [
                FileProblem(
                    "releases/bad.toml", ("releases/bad.toml:2: invalid TOML: Invalid value.",)
                ),
                FileProblem(
                    "releases/gdp.toml",
                    (
                        "releases/gdp.toml:9: titel: unknown key: did you mean 'title'?",
                        "releases/gdp.toml:10: nation: should be one of ...",
                    ),
                    kept="regional-gdp-2019",
                ),
            ]
        )
        response = await client.get("/api/health")
    assert response.status_code == 200  # still publishing every other release
    health = response.json()
    assert (health["ok"], health["status"]) == (True, "degraded")
    assert health["problems"] == [
        {
            "file": "releases/bad.toml",
            "message": "releases/bad.toml:2: invalid TOML: Invalid value.",
        },
        {
            "file": "releases/gdp.toml",
            "message": "releases/gdp.toml:9: titel: unknown key: did you mean 'title'? "
            "(and 1 more: run `onthedot check releases/gdp.toml`) Release 'regional-gdp-2019' is "
            "still published at its time, as it was last read (the version in the store).",
        },
    ]
