"""The dashboard's pages, server-rendered, read in process."""

from __future__ import annotations

import datetime as dt
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.web.app import create_app
from onthedot.web.assets import installed_version
from onthedot.web.countdown import countdown
from onthedot.web.pages import TAG_CLASSES, on_board
from tests.web.conftest import (
    FATAL,
    GDP,
    LABOUR,
    NOW,
    PAGE,
    PUBLIC,
    STALE_SENTENCE,
    XLSX,
    FixedClock,
    T,
    result,
)


class Tags(HTMLParser):
    """The text of every govuk-tag, with its colour class."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if "govuk-tag" in classes:
            self._open = next((c for c in classes if c.startswith("govuk-tag--")), "")

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.tags.append((data.strip(), self._open))
            self._open = None


def tags(html: str) -> list[tuple[str, str]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


async def test_board_shows_todays_and_the_next_release_counted_with_what_is_amiss(
    client: httpx.AsyncClient, statistician: dict[str, str]
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert FATAL.title in html and GDP.title in html
    assert LABOUR.title not in html  # yesterday's
    assert ("breach", "govuk-tag--red") in tags(html)
    assert ("stale", "govuk-tag--red") in tags(html)
    assert ("live", "govuk-tag--green") not in tags(html)  # what is live is counted, not listed
    assert "<strong>1 of 2 live</strong>, 1 stale. First live at 09:30:00 (T+0.05 s)." in html
    assert STALE_SENTENCE in html and f'href="{XLSX}"' in html and f'href="{PAGE}"' not in html
    assert ("early", "govuk-tag--red") not in tags(html)  # tomorrow's: the calendar only
    assert "What the public gets is shown here from the release time." in html
    signed_in = (await client.get("/", headers=statistician)).text
    assert ("early", "govuk-tag--red") in tags(signed_in)  # tomorrow's, found served early
    assert "<strong>0 of 2 embargoed</strong>, 1 early, 1 not checked." in signed_in
    assert "released 11 minutes 0 seconds ago" in html and "in 23 hours 49 minutes" in html
    assert 'data-release-at="2019-12-18T09:30:00+00:00"' in html
    assert "Release time <strong>09:30 GMT</strong>" in html  # today's: the time is enough


async def test_release_page_shows_results_first_live_and_chain(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get(f"/releases/{FATAL.id}")).text
    assert ("chain intact", "govuk-tag--green") in tags(html)
    assert "09:30:00 (T+0.05 s)" in html  # the page's first live result
    assert "publish.flipped" in html and "verify.first-live" in html
    assert STALE_SENTENCE in html


async def test_a_sweep_of_many_addresses_is_one_row_of_the_timeline_and_the_rest_stay_whole(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    """A release of many files makes thousands of events at T: the page tells each run of checks
    that found the same in one row (numbered from its first event to its last), and every other
    event in a row of its own."""
    before = await Timeline(store).count(FATAL.id)
    at = T + dt.timedelta(minutes=20)
    urls = [f"{PUBLIC}/statistics/part-{n}.csv" for n in range(40)]
    await CheckRecorder(store).record(FATAL.id, [result(u, Status.LIVE, at) for u in urls])
    html = (await client.get(f"/releases/{FATAL.id}")).text
    # the run began with the page's own live result at T and its first sight (the two events
    # before the 80 of the 40 files: nothing came between them)
    first, last = before - 1, before + 80
    assert f"{first}–{last}" in html and "09:30:00–09:50:00" in html
    assert (
        "From 09:30:00 to 09:50:00 the automatic checks found the new version of 41 addresses on "
        "the public website, each seen there for the first time."
    ) in html
    assert "part-7.csv" not in html.split("onthedot-timeline", 1)[1]  # told in the run's row
    assert "publish.flipped" in html and STALE_SENTENCE in html  # the rest as before
    assert ("chain intact", "govuk-tag--green") in tags(html)


async def test_unknown_release_page_is_404_in_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/releases/fatal-injuries")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "did you mean &#39;fatal-injuries-2019-apr-sep&#39;?" in response.text


async def test_pages_render_unstyled_with_one_warning_when_assets_are_missing(
    store: AsyncEngine, clock: FixedClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="onthedot.web"):
        app = create_app(store, config=Config(), clock=clock, vendor=tmp_path / "none")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            pages = [await client.get(p) for p in ("/", f"/releases/{FATAL.id}", "/")]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert "govuk-frontend.min.css" not in pages[0].text
    assert STALE_SENTENCE in pages[0].text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "python -m onthedot.web.assets build" in warnings[0]


async def test_static_files_and_built_assets_are_served(client: httpx.AsyncClient) -> None:
    js = await client.get("/static/onthedot.js")
    assert js.status_code == 200 and "data-release-at" in js.text
    if installed_version() is None:
        pytest.skip("GOV.UK Frontend assets not built: python -m onthedot.web.assets build")
    html = (await client.get("/")).text
    assert "/static/vendor/govuk-frontend/govuk-frontend.min.css" in html
    css = await client.get("/static/vendor/govuk-frontend/govuk-frontend.min.css")
    assert css.status_code == 200
    assert "GDS Transport" not in css.text and "@font-face" not in css.text  # system fonts only
    assert "system-ui" in css.text


def test_board_shows_the_last_release_day_when_none_is_due_today() -> None:
    """A quiet day (the demo's dashboard, the day after a release) shows how the last morning went;
    a day with releases shows those only."""
    zone = Config().zone
    assert on_board([FATAL, LABOUR, GDP], NOW, zone) == [(FATAL, "Today"), (GDP, "Next")]
    week_later = NOW + dt.timedelta(days=7)
    assert on_board([LABOUR, FATAL, GDP], week_later, zone) == [(GDP, "Last")]
    assert on_board([LABOUR, FATAL], week_later, zone) == [(FATAL, "Last")]
    assert on_board([], NOW, zone) == []


def test_countdown_words() -> None:
    assert countdown(NOW, T) == "released 11 minutes 0 seconds ago"
    assert countdown(T - dt.timedelta(days=39, minutes=3), T) == "in 39 days"
    assert countdown(T - dt.timedelta(days=1, hours=2), T) == "in 1 day 2 hours"
    assert countdown(T.replace(hour=8, minute=25, second=30), T) == "in 1 hour 4 minutes"
    assert countdown(T - dt.timedelta(minutes=4, seconds=10), T) == "in 4 minutes 10 seconds"
    assert countdown(T.replace(minute=29, second=59), T) == "in 1 second"
    assert countdown(T, T) == "due now"
    assert countdown(T + dt.timedelta(seconds=59.9), T) == "due now"
    assert countdown(T + dt.timedelta(seconds=60), T) == "released 1 minute 0 seconds ago"


def test_the_scripts_tag_colours_are_the_pages() -> None:
    """A row updated live gets the colour the server would have drawn it in."""
    script = (Path(create_app.__code__.co_filename).parent / "static" / "onthedot.js").read_text()
    found = re.search(r"var TAGS = \{([^}]*)\}", script)
    assert found is not None
    green = dict(re.findall(r'(\w+): "([\w-]+)"', found[1]))
    assert green == {s: c for s, c in TAG_CLASSES.items() if c == "govuk-tag--green"}
    assert set(TAG_CLASSES.values()) == {"govuk-tag--green", "govuk-tag--red"}  # (the rest: red)
