"""The published statement (HTML fragment, published through the target) and the breach register."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import ConfigError
from onthedot.model import Site
from onthedot.publish.statement import publish_statement
from onthedot.publish.targets.memory import MemoryTarget
from onthedot.record import breaches as store_
from onthedot.record import kinds, register, statement
from onthedot.record.report import assess
from onthedot.record.timeline import Timeline
from tests.record.incident import record_2019, release_2019


async def test_statement_says_what_happened_why_and_what_was_done(store: AsyncEngine) -> None:
    release = await record_2019(store, release_2019(title="Fatal injuries <2019> & more"))
    fragment = statement.statement_html(await assess(store, release))
    assert fragment.startswith('<section class="onthedot-statement" id="statement-fatal-injuries-2019-apr-sep">')
    assert "Fatal injuries &lt;2019&gt; &amp; more" in fragment and "<2019>" not in fragment
    for fact in ("due to be published at 09:30 on Wednesday 18 December 2019",
                 "not available to all users until 10:35:02, 1 hour 5 minutes 2 seconds late",
                 "the cache in front of it kept serving the previous one", "a notice alerting users",
                 "Practice T3.6", "Contact: Jane Smith"):
        assert fact in fragment


async def test_no_breach_no_statement(store: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="no breach"):
        statement.statement_html(await assess(store, release_2019()))


async def test_statement_is_published_through_the_target_and_recorded(store: AsyncEngine) -> None:
    site = Site(public="https://www.hse.gov.uk", target="memory://statement-test")
    release = await record_2019(store, release_2019(site=site))
    html = statement.statement_html(await assess(store, release))
    url = await publish_statement(store, release, html, "/statistics/statement.html", by="Jane Smith")
    assert url == "https://www.hse.gov.uk/statistics/statement.html"
    assert MemoryTarget.store("statement-test").files["/statistics/statement.html"] == html.encode()
    (event,) = await Timeline(store).events(release.id, kinds.STATEMENT_PUBLISHED)
    assert event.data == {"url": url, "by": "Jane Smith"}
    with pytest.raises(ConfigError, match="no \\[site\\] target"):
        await publish_statement(store, release_2019(site=None), html, "/s.html")


async def test_register_exports_and_counts(store: AsyncEngine) -> None:
    await assess(store, await record_2019(store))
    saturday = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)
    await assess(store, release_2019(id="weekend", release_at=saturday, announced_at=saturday - dt.timedelta(days=40)))
    found = await store_.load(store)
    data = register.to_json(found)
    assert data["total"] == 2
    assert data["by_kind"] == {"late": 1, "time": 1} and data["by_cause"] == {"cache": 1, "scheduling": 1}
    late = next(b for b in data["breaches"] if b["kind"] == "late")
    assert (late["duration_s"], late["status"], late["actions_done"], late["actions_suggested"]) == (3902.0, "ended", 4, 3)
    rows = list(csv.DictReader(io.StringIO(register.to_csv(found))))
    assert [r["kind"] for r in rows] == ["late", "time"]
    assert rows[0]["practices"] == "T3.6" and rows[0]["cause"] == "cache"
