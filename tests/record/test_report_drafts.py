"""What people write into the breach report: kept with its history and on the timeline, in
every export, and the report's status moved one step at a time (shown in the register)."""

from __future__ import annotations

import datetime as dt
import html
import io

import docx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import InputError
from onthedot.record import breaches as breach_store
from onthedot.record import kinds, register
from onthedot.record.report import assess, render
from onthedot.record.report.drafts import Author, Drafts, statuses
from onthedot.record.report.written import drafted
from onthedot.record.timeline import Timeline
from tests.record.incident import record_2019

JANE = Author("jane.smith", "statistician")
HOP = Author("h.profession", "head_of_profession")
INSIDE = "The press office answered 14 calls; the team lost the morning to the incident."


class Ticking:
    def __init__(self) -> None:
        self.at = dt.datetime(2019, 12, 19, 10, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=1)
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


async def test_what_people_write_is_kept_with_its_history_and_on_the_timeline(
    store: AsyncEngine,
) -> None:
    release = await record_2019(store)
    drafts = Drafts(store, Ticking())
    assert await drafts.write(release.id, "impact_inside", "First thoughts.", JANE)
    assert await drafts.write(release.id, "impact_inside", INSIDE, HOP)
    assert not await drafts.write(release.id, "impact_inside", f"  {INSIDE}\r\n", HOP)
    draft = await drafts.read(release.id)
    assert draft.written == {"impact_inside": INSIDE}
    assert [(e.text, e.by) for e in draft.edits] == [
        ("First thoughts.", "jane.smith"),
        (INSIDE, "h.profession"),
    ]
    events = await Timeline(store).events(release.id, kinds.REPORT_EDITED)
    assert [(e.actor, e.data["section"], e.data["by_role"], e.at) for e in events] == [
        ("jane.smith", "impact_inside", "statistician", draft.edits[0].at),
        ("h.profession", "impact_inside", "head_of_profession", draft.edits[1].at),
    ]
    assert draft.edits[0].at < draft.edits[1].at
    assert (await Timeline(store).verify(release.id)).ok


@pytest.mark.parametrize(
    ("section", "text", "words"),
    [
        ("impacts", "x", "'impacts' is not a section people write: use one of impact_inside"),
        ("statement_link", "javascript:alert(1)", "is not a web address: give one starting"),
        ("investigation", "x" * 20_001, "the text is 20,001 characters long: shorten it"),
    ],
)
async def test_bad_text_is_refused_naming_the_field(
    store: AsyncEngine, section: str, text: str, words: str
) -> None:
    release = await record_2019(store)
    with pytest.raises(InputError, match=words):
        await Drafts(store).write(release.id, section, text, JANE)
    assert (await Drafts(store).read(release.id)).edits == ()


async def test_every_export_holds_what_people_wrote_and_the_status(store: AsyncEngine) -> None:
    release = await record_2019(store)
    drafts = Drafts(store, Ticking())
    written = {
        "impact_inside": INSIDE,
        "impact_outside": "Two newspapers asked why the spreadsheet was old.",
        "investigation": "IT found the purge went to the wrong Varnish.\n\nThe list is fixed.",
        "longer_term": "Purge every cache of the list, checked by IT, from January 2020.",
        "contact": "Jane Smith, jane.smith@example.org, 0300 123 4567",
        "statement_link": "https://www.hse.gov.uk/statistics/statement.html",
    }
    for section, text in written.items():
        await drafts.write(release.id, section, text, JANE)
    await drafts.move(release.id, "approved", HOP)
    a = await assess(store, release)
    report = await drafted(store, a, today=dt.date(2019, 12, 20))
    assert "[To complete: what the investigation found" not in report.text()
    as_html = html.unescape(render(report, "html").decode())
    as_md = render(report, "md").decode().replace("\\", "")
    for text in (*written.values(), "IT found the purge went to the wrong Varnish."):
        for part in text.split("\n\n"):
            assert part in as_html and part in as_md
    cells = [
        c.text
        for t in docx.Document(io.BytesIO(render(report, "docx"))).tables
        for row in t.rows
        for c in row.cells
    ]
    assert INSIDE in cells and written["contact"] in cells
    status = cells[cells.index("Status of this report") + 1]
    assert status == "Approved; approved by h.profession on Thursday 19 December 2019."
    body = "\n".join(p.text for p in docx.Document(io.BytesIO(render(report, "docx"))).paragraphs)
    assert written["longer_term"] in body and "The list is fixed." in body


async def test_the_status_moves_one_step_at_a_time_and_is_in_the_register(
    store: AsyncEngine,
) -> None:
    release = await record_2019(store)
    drafts = Drafts(store, Ticking())
    with pytest.raises(InputError, match="A report that is draft cannot become sent: it can"):
        await drafts.move(release.id, "sent", HOP, dt.date(2019, 12, 20))
    await drafts.move(release.id, "approved", HOP)
    with pytest.raises(InputError, match="the report is approved and no longer edited"):
        await drafts.write(release.id, "impact_inside", INSIDE, JANE)
    with pytest.raises(InputError, match="Give the date the report was sent"):
        await drafts.move(release.id, "sent", HOP)
    await drafts.move(release.id, "sent", HOP, dt.date(2019, 12, 20))
    await drafts.move(release.id, "published", Author("p.ublisher", "publishing"))
    with pytest.raises(InputError, match="The report is published already"):
        await drafts.move(release.id, "published", HOP)
    assert (await drafts.read(release.id)).edits == ()
    told = [e.data["status"] for e in await Timeline(store).events(release.id, kinds.REPORT_STATUS)]
    assert told == ["approved", "sent", "published"]
    await assess(store, release)
    reports = await statuses(store)
    assert reports == {release.id: ("published", dt.date(2019, 12, 20))}
    row = register.to_json(await breach_store.load(store), reports)["breaches"][0]
    assert (row["report"], row["report_sent_on"]) == ("published", "2019-12-20")
    assert "published,2019-12-20" in register.to_csv(await breach_store.load(store), reports)
