"""The published statement (HTML fragment, published through the target) and the breach register."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import load_config
from onthedot.errors import ConfigError, ReleaseFileError
from onthedot.model import Site
from onthedot.publish.statement import publish_statement
from onthedot.publish.targets.memory import MemoryTarget
from onthedot.record import breaches as store_
from onthedot.record import kinds, register, statement
from onthedot.record.report import assess
from onthedot.record.timeline import Timeline
from onthedot.settings import StatementSettings
from tests.record.incident import TITLE, URL, record_2019, release_2019


def sentences(fragment: str) -> list[str]:
    """The sentences a reader of the published statement sees (its paragraph, not its heading)."""
    paragraph = html.unescape(re.sub(r"<[^>]+>", "", fragment.split("<p>", 1)[1].split("</p>")[0]))
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z“])", paragraph.strip()) if s]


async def test_statement_is_three_to_five_plain_sentences_with_an_apology_and_a_link(
    store: AsyncEngine,
) -> None:
    release = await record_2019(store, release_2019(title="Fatal injuries <2019> & more"))
    a = await assess(store, release)
    fragment = statement.statement_html(a)
    assert fragment.startswith(
        '<section class="onthedot-statement" id="statement-fatal-injuries-2019-apr-sep"'
    )
    assert "Fatal injuries &lt;2019&gt; &amp; more" in fragment and "<2019>" not in fragment
    said = sentences(fragment)
    assert 3 <= len(said) <= 5, said
    assert said[0] == (
        "“Fatal injuries <2019> & more” was due to be published at 09:30 on Wednesday 18 December 2019 "
        "but was not available to all users until 10:35, 1 hour 5 minutes late."
    )
    assert said[1].startswith("This was because a fault in our website")
    assert said[2].startswith("We apologise")
    assert f'<a href="{URL}">{URL}</a>' in fragment  # the statistics, as a link
    assert said[4] == (
        "If you have any questions about this release, please contact the Head of Profession for "
        "Statistics at Health and Safety Executive (HSE)."
    )
    text = " ".join(said)
    for talk in ("Jane Smith", "IT", "purged", "10:35:02", "Record reference", "onthedot", "cache"):
        assert talk not in text, talk  # no staff names, seconds, internal steps or tool talk
    assert f'data-record-reference="{a.record_reference}"' in fragment


async def test_statement_wording_is_the_producer_s(store: AsyncEngine) -> None:
    release = await record_2019(
        store, release_2019(statement_url="https://www.hse.gov.uk/statistics/fatals.htm")
    )
    wording = StatementSettings(
        what="{title} came out {late_by} late, at {live}.",
        apology="",
        contact="Questions: {contact}.",
        contact_role="statistics@hse.gov.uk",
    )
    said = sentences(statement.statement_html(await assess(store, release), wording=wording))
    assert said == [
        f"{TITLE} came out 1 hour 5 minutes late, at 10:35.",
        "This was because a fault in our website meant that users still saw the previous version after the new one had been published.",
        "The statistics are available at https://www.hse.gov.uk/statistics/fatals.htm.",
        "Questions: statistics@hse.gov.uk.",
    ]


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        (
            'why = "Because {reason}."',
            "onthedot.toml:2: statement.why: {reason} is not a placeholder this sentence can use: use {cause}, {title}, {producer}",
        ),
        ('link = "See {link"', "onthedot.toml:2: statement.link: is not a template"),
        (
            'contact_role = "{contact}"',
            "onthedot.toml:2: statement.contact_role: {contact} is not a placeholder",
        ),
        ("colour = 1", "onthedot.toml:2: statement.colour:"),
    ],
)
def test_statement_wording_is_checked_when_the_config_is_read(
    tmp_path: Path, toml: str, problem: str
) -> None:
    path = tmp_path / "onthedot.toml"
    path.write_text(f"[statement]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ReleaseFileError) as caught:
        load_config(path)
    (line,) = str(caught.value).splitlines()
    assert line.startswith(f"{path.parent}/{problem}"), line


async def test_no_breach_no_statement(store: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="no breach"):
        statement.statement_html(await assess(store, release_2019()))


async def test_statement_is_published_through_the_target_and_recorded(store: AsyncEngine) -> None:
    site = Site(public="https://www.hse.gov.uk", target="memory://statement-test")
    release = await record_2019(store, release_2019(site=site))
    html = statement.statement_html(await assess(store, release))
    url = await publish_statement(
        store, release, html, "/statistics/statement.html", by="Jane Smith"
    )
    assert url == "https://www.hse.gov.uk/statistics/statement.html"
    assert MemoryTarget.store("statement-test").files["/statistics/statement.html"] == html.encode()
    (event,) = await Timeline(store).events(release.id, kinds.STATEMENT_PUBLISHED)
    assert event.data == {"url": url, "by": "Jane Smith"}
    with pytest.raises(ConfigError, match="no \\[site\\] target"):
        await publish_statement(store, release_2019(site=None), html, "/s.html")


async def test_register_exports_and_counts(store: AsyncEngine) -> None:
    await assess(store, await record_2019(store))
    saturday = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)
    await assess(
        store,
        release_2019(
            id="weekend", release_at=saturday, announced_at=saturday - dt.timedelta(days=40)
        ),
    )
    found = await store_.load(store)
    data = register.to_json(found)
    assert data["total"] == 2
    assert data["by_kind"] == {"late": 1, "time": 1} and data["by_cause"] == {
        "cache": 1,
        "scheduling": 1,
    }
    late = next(b for b in data["breaches"] if b["kind"] == "late")
    assert (
        late["duration_s"],
        late["status"],
        late["actions_done"],
        late["actions_suggested"],
    ) == (3902.0, "ended", 4, 3)
    rows = list(csv.DictReader(io.StringIO(register.to_csv(found))))
    assert [r["kind"] for r in rows] == ["late", "time"]
    assert rows[0]["practices"] == "T3.6" and rows[0]["cause"] == "cache"
