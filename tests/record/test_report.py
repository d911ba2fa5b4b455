"""The breach report: the 2019 replay states every fact of the seed, in the seed's order, in every
format; a clean release says so; missing facts are shown as missing; a tampered timeline warns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
import zipfile

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import ShiftedClock
from onthedot.model import Artefact, Site
from onthedot.morning import rehearsal
from onthedot.morning.rehearsal import Rehearsal
from onthedot.record import kinds
from onthedot.record.report import assess, build, render
from onthedot.record.report.model import Report
from onthedot.record.timeline import Timeline
from onthedot.verify.diff import Difference, DiffReport
from tests.record.incident import (
    NEW,
    PRODUCER,
    PUBLIC,
    TITLE,
    URL,
    at,
    record_2019,
    release_2019,
    result,
)
from tests.record.readback import docx_text, in_order, markdown_html, markdown_seen, odt_text

# Every fact of the seed's report (../shared/seed/breach-report-2019-12.txt), in its order, in a
# statistician's words: times to the minute in the body, the exact record in the annexes.
SEED_FACTS = [
    "Report of a breach of the Code of Practice for Statistics",
    "1. Core information",
    TITLE,
    URL,
    PRODUCER,
    "Jane Smith <jane.smith@hse.gov.uk>",  # person dealing with the report
    "[No link to a published statement was recorded]",
    "Thursday 19 December 2019",  # date of the report
    "2. Circumstances of breach",
    "Principle T3: Orderly release",
    "Practice T3.6: Statistics should be released to all users at 9.30am on a weekday.",
    "due at 09:30 on Wednesday 18 December 2019 (UK time, GMT)",
    "The new version was put on the web server at 09:30.",  # correctly uploaded
    "Checks of the public website from 09:30 showed the previous version until 10:35; the web "
    "server itself had the new version from 09:30.",  # not live on the site
    "informed B Lead (Head of Statistics)",
    "informed A Head (Head of Profession for Statistics)",
    "At 09:36 Jane Smith (statistician responsible for the release) referred the problem to HSE's IT providers",
    "At 10:35 HSE IT service desk (HSE's IT provider) purged the cache",
    "At 11:35 a notice alerting users was published",
    "for 1 hour 5 minutes, from 09:30 to 10:35. Cause: the web server had the new version, but the "
    "web cache in front of it kept showing the previous one.",
    "How the problem was noticed",
    "[To complete: who first noticed",
    "3. Impact of the breach",
    "Impact inside the producer body",
    "Impact outside the producer body",
    "The public website was checked 4 times at 09:30, 09:45, 10:00 and 10:30",
    "No pre-release access was recorded for this release.",
    "held back from 09:40 until the statistics were live",  # officials' update delayed
    "4. Corrective actions",
    # short-term actions, in time order
    "At 09:36 Jane Smith",
    "At 09:40 the update on the quarterly statistics for HSE officials was held back until the "
    "statistics were live, to ensure equality of access; it went ahead at 10:45.",
    "At 10:35 HSE IT service desk",
    "At 11:35 a notice alerting users was published",  # statement on the web page
    "Investigation",
    "Whether the test (UAT) environment shows the fault",
    "Root cause",
    "Planned tests",
    "Clear the web cache automatically at the moment of release, and test that it has worked.",
    "Annex A: the exact times, from the record",
    "within ±0.512 s",  # the recorded clock uncertainty
    "At 09:30:00 the file /statistics/fatalquarterly.xlsx was published to the web server by FTP",
    "from its cache (Varnish, Age 2,940 s, max-age 3,600 s)",
    "Annex B: technical detail for IT",
    "Configure a purger for Varnish",
    "Cache-Control",
    "Annex C: the record this report was drafted from",
]


@pytest.fixture
async def replay(store: AsyncEngine) -> Report:
    release = await record_2019(store)
    return build(await assess(store, release), today=dt.date(2019, 12, 19))


async def test_2019_replay_markdown_states_the_seed_in_order(replay: Report) -> None:
    markdown = render(replay, "md").decode("utf-8")
    assert in_order(markdown_seen(markdown), SEED_FACTS) == []


async def test_2019_replay_docx_states_the_seed_in_order(replay: Report) -> None:
    assert in_order(docx_text(render(replay, "docx")), SEED_FACTS) == []


async def test_the_word_file_names_the_producer_and_no_application_or_template(
    replay: Report,
) -> None:
    """File › Info in Word: the company is the producer; nothing claims the file was made by
    "Microsoft Macintosh Word" (the library's template), and no thumbnail of an empty page."""
    with zipfile.ZipFile(io.BytesIO(render(replay, "docx"))) as archive:
        names, app = archive.namelist(), archive.read("docProps/app.xml").decode("utf-8")
    assert f"<Company>{html.escape(PRODUCER)}</Company>" in app
    assert "Microsoft" not in app and "Application" not in app
    assert not [n for n in names if "thumbnail" in n], names


async def test_2019_replay_odt_and_html_state_the_seed_in_order(replay: Report) -> None:
    assert (
        in_order(odt_text(render(replay, "odt")), [html.escape(f, quote=False) for f in SEED_FACTS])
        == []
    )
    page = html.unescape(render(replay, "html").decode("utf-8"))
    assert in_order(page, SEED_FACTS) == []
    assert page.startswith("<!DOCTYPE html>") and f'<a href="{URL}">' in page


async def test_a_clean_release_says_no_breach(store: AsyncEngine) -> None:
    release = release_2019()
    await Timeline(store).append(
        release.id, kinds.VERIFY_RESULT, result(at(9, 30, 1), "live"), at=at(9, 30, 1)
    )
    report = build(await assess(store, release), today=dt.date(2019, 12, 18))
    markdown = render(report, "md").decode()
    assert not report.breached and report.citations == ()
    assert "No breach of the Code's release practices was found" in markdown
    assert "It was live on every address checked at 09:30." in markdown
    assert "No breach of the Code's release practices was found" in docx_text(
        render(report, "docx")
    )


async def test_missing_facts_are_stated_as_missing(store: AsyncEngine) -> None:
    release = release_2019(lead_statistician=None, head_of_profession=None, site=None, artefact=())
    await Timeline(store).append(
        release.id, kinds.PUBLISH_FAILED, {"step": "stage", "error": "FTP refused"}, at=at(9, 30)
    )
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    text = report.text()
    for missing in (
        "[To complete: the address of the statistics on the website]",
        "[To complete: name, email and telephone number of the person dealing with this report]",
        "[To complete: name of the Head of Profession for Statistics]",
        "[No link to a published statement was recorded]",
        "[No clock offset was recorded",
        "[No check of the public website was recorded after the release time.]",
        "[To complete: the short-term actions taken, with the time of each]",
        "[To complete: who first noticed",
        "[To complete: what the investigation found",
        "[To complete: whether the fault can be reproduced on the test (UAT) environment",
        "[To complete: whether the root cause has been found",
        "[To complete: the tests planned to confirm the fix",
    ):
        assert missing in text
    assert "Cause: publishing the files failed." in text and "@" not in text


async def test_a_published_statement_is_linked(store: AsyncEngine) -> None:
    release = await record_2019(store)
    await Timeline(store).append(
        release.id,
        kinds.STATEMENT_PUBLISHED,
        {"url": "https://www.hse.gov.uk/statement.htm"},
        at=at(12, 0),
    )
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    row = next(r for r in report.core if r.label.startswith("Link to published statement"))
    assert (row.link, row.missing) == ("https://www.hse.gov.uk/statement.htm", False)


async def test_a_tampered_timeline_prints_a_prominent_warning(store: AsyncEngine) -> None:
    release = await record_2019(store)
    async with store.begin() as conn:
        await conn.execute(
            text("UPDATE events SET data = replace(data, '2940', '2941') WHERE seq = 5")
        )
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    assert (
        report.warning is not None
        and "event 5 (Checked, at 09:30): its content was changed" in report.warning
        and "compare them with a backup of the record before sending" in report.warning
    )
    for code in ("verify.result", "09:30:01", "onthedot", "store"):
        assert code not in report.warning, code
    for fmt in ("md", "html"):
        assert (
            "WARNING: the timeline of this release fails its integrity check at event 5"
            in render(report, fmt).decode()
        )
    assert docx_text(render(report, "docx")).splitlines()[1].startswith("WARNING")


async def test_a_2026_breach_cites_the_edition_in_force(store: AsyncEngine) -> None:
    t = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
    release = release_2019(
        release_at=t,
        announced_at=t - dt.timedelta(days=60),
        site=Site(public="https://www.example.org"),
    )
    await Timeline(store).append(
        release.id,
        kinds.VERIFY_RESULT,
        {**result(t, "missing"), "checked_at": (t + dt.timedelta(seconds=1)).isoformat()},
        at=t,
    )
    report = build(await assess(store, release), today=dt.date(2026, 3, 12))
    assert report.citations[0].startswith(
        "Standard 3: Be transparent; Requirement 3.6 (T3.6 in edition 2)"
    )
    assert "edition 3.0" in report.edition_note


async def test_markdown_table_cells_survive_a_pipe_in_the_title(store: AsyncEngine) -> None:
    release = release_2019(title="Deaths | injuries")
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    markdown = render(report, "md").decode()
    assert "| Title and link to statistical output | Deaths \\| injuries. <" in markdown


HOSTILE = (
    "<script>alert(1)</script> [click](javascript:alert(2)) ![x](https://evil.example/x.png) & *co*"
)


async def test_people_s_text_is_text_in_every_format_never_markup(store: AsyncEngine) -> None:
    release = release_2019(title=HOSTILE, producer="Office <b>of</b> `Stats`", statement_url=None)
    await Timeline(store).append(
        release.id, kinds.STATEMENT_PUBLISHED, {"url": "javascript:alert(3)"}, at=at(12, 0)
    )
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    markdown = render(report, "md").decode()
    page = markdown_html(markdown)
    assert (
        "<script" not in page
        and "<b>" not in page
        and "<img" not in page
        and "<em>co</em>" not in page
    )
    assert (
        "javascript:" not in re.findall(r'href="([^"]*)"', page)
        and '<a href="javascript' not in page
    )
    assert HOSTILE in markdown_seen(markdown) and "Office <b>of</b> `Stats`" in markdown_seen(
        markdown
    )
    assert f'<a href="{URL}">{URL}</a>' in page  # the report's own link is still a link
    web = render(report, "html").decode()
    assert "<script" not in web and 'href="javascript' not in web and HOSTILE in html.unescape(web)
    assert HOSTILE in docx_text(render(report, "docx"))
    assert html.escape(HOSTILE, quote=False) in odt_text(render(report, "odt"))


async def test_a_link_with_spaces_or_angle_brackets_cannot_break_out_of_its_markdown_link(
    store: AsyncEngine,
) -> None:
    # the path rule refuses such a path when a release is loaded; the report escapes links on its own
    hostile = Artefact.model_construct(path="/statistics/a b><script>x</script>.xlsx", sha256=NEW)
    release = release_2019(artefact=(hostile,))
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    page = markdown_html(render(report, "md").decode())
    assert "<script" not in page
    assert f'href="{PUBLIC}/statistics/a%20b%3E%3Cscript%3Ex%3C/script%3E.xlsx"' in page


async def test_control_characters_typed_into_a_title_do_not_stop_the_word_and_odt_reports(
    store: AsyncEngine,
) -> None:
    release = release_2019(title="Deaths\x07 at work\x00 2019")
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    assert "Deaths\ufffd at work\ufffd 2019" in docx_text(render(report, "docx"))
    assert "Deaths\ufffd at work\ufffd 2019" in odt_text(render(report, "odt"))


async def _checks(store: AsyncEngine, stale: list[dt.datetime], live: dt.datetime) -> str:
    """The impact facts of a release flipped at 09:30 whose public checks at ``stale`` showed the
    previous version and at ``live`` the new one."""
    release = release_2019()
    tl = Timeline(store)
    await tl.append(release.id, kinds.PUBLISH_FLIPPED, {"paths": [URL]}, at=at(9, 30))
    for when in stale:
        await tl.append(release.id, kinds.VERIFY_RESULT, result(when, "stale", age=5), at=when)
    await tl.append(release.id, kinds.VERIFY_RESULT, result(live, "live"), at=live)
    report = build(await assess(store, release), today=dt.date(2019, 12, 19))
    return report.text()


async def test_checks_made_in_the_first_seconds_never_read_as_an_hour_of_checks(
    store: AsyncEngine,
) -> None:
    """The first draft's "28 of 29 checks found the new version missing", when all 28 fell in the
    first 1.5 s and nothing was checked for the next hour."""
    first_seconds = [at(9, 30) + dt.timedelta(milliseconds=50 * i) for i in range(1, 29)]
    text = await _checks(store, first_seconds, at(10, 35, 2))
    assert (
        "The public website was checked 28 times at 09:30 while the statistics were not "
        "available to all users, and showed the previous version each time; it was not checked "
        "again until 10:35, when it showed the new version." in text
    )
    assert "28 of 29" not in text.split("Annex A:")[0]


async def test_a_long_pause_inside_a_range_of_checks_is_said(store: AsyncEngine) -> None:
    every_minute_then_one = [at(9, 30 + i, 1) for i in range(8)] + [at(10, 20, 1)]
    text = await _checks(store, every_minute_then_one, at(10, 21, 1))
    assert (
        "checked 9 times between 09:30 and 10:20 (none between 09:37 and 10:20) while the "
        "statistics were not available to all users" in text
    )


async def test_the_annex_for_it_counts_checks_without_vantage_point_talk(replay: Report) -> None:
    annex = replay.text().split("Annex B:")[1].split("Annex C:")[0]
    assert "checks were made of the public addresses after the release time; " in annex
    assert "vantage" not in annex and "(default)" not in annex, annex


async def test_a_recorded_diff_is_the_uat_section_in_plain_words(store: AsyncEngine) -> None:
    """``onthedot diff UAT LIVE --release R --by NAME`` after a breach: its finding is the UAT
    section of the report, with no header or product names."""
    release = await record_2019(store)
    found = DiffReport(
        "http://uat.hse.internal" + URL.removeprefix(PUBLIC),
        URL,
        (
            Difference("layer", "origin", "Varnish", "..."),
            Difference("cache-control", "no-cache", "max-age=3600", "..."),
        ),
    )
    await Timeline(store).append(
        release.id,
        kinds.UAT_CHECKED,
        {"by": "HSE online publishing team", "text": found.finding(), "same": False},
        actor="HSE online publishing team",
        source="diff",
        at=at(11, 50),
    )
    text = build(await assess(store, release), today=dt.date(2019, 12, 19)).text()
    section = text.split("Whether the test (UAT) environment shows the fault")[1].split(
        "Root cause"
    )[0]
    assert (
        "A comparison of the test (UAT) environment with the live website found that they differ "
        "in whether a cache answers and how long copies may be kept, so a test there would not "
        "show a fault the live website's cache causes. (Recorded by HSE online publishing team at "
        "11:50.)" in " ".join(section.split())
    )
    assert not [w for w in ("Varnish", "max-age", "Cache-Control", "http") if w in section]


async def test_a_recorded_rehearsal_is_told_with_the_planned_tests_in_plain_words(
    store: AsyncEngine,
) -> None:
    """``onthedot rehearse RELEASE --by NAME`` after a breach, on the live service: what it found
    is told in the tests, when and by whom, with no product, setting or address named; the
    planned test recorded by a person comes first."""
    release = await record_2019(store)
    timeline = Timeline(store)
    await timeline.append(
        release.id,
        kinds.TEST_PLANNED,
        {"by": "HSE online publishing team", "text": "rehearse on the live service in January"},
        actor="HSE online publishing team",
        at=at(12, 0),
    )
    still = Rehearsal(
        release=release.id,
        url=PUBLIC + "/statistics/release-rehearsal.txt",
        path="/statistics/release-rehearsal.txt",
        stage="second",
        put_in_place_at=dt.datetime(2020, 1, 3, 10, 2, tzinfo=dt.UTC),
        late_s=0.0,
        seen={"default": dt.datetime(2020, 1, 3, 10, 3, 1, tzinfo=dt.UTC)},
        findings=("The origin web server also serves the old file (nginx's open_file_cache).",),
        live=True,
        limit_s=120.0,
        causes=("origin", "cache"),
    )
    before = ShiftedClock(dt.datetime(2019, 12, 11, 10, 0, tzinfo=dt.UTC))
    ready = dataclasses.replace(still, findings=(), causes=())
    await rehearsal.record(store, release.id, ready, "HSE online publishing team", before)
    clock = ShiftedClock(dt.datetime(2020, 1, 3, 10, 5, tzinfo=dt.UTC))
    event = await rehearsal.record(store, release.id, still, "HSE IT provider", clock)
    assert event.kind == kinds.REHEARSED and event.data["causes"] == ["origin", "cache"]
    assert event.data["reached_after_s"] == 61.0 and event.data["ok"] is False
    text = build(await assess(store, release), today=dt.date(2020, 1, 3)).text()
    section = " ".join(text.split("Planned tests")[1].split("Annex A")[0].split())
    facts = [
        "Rehearse on the live service in January. (Recorded by HSE online publishing team at "
        "12:00.)",
        "In a rehearsal on the live website at 10:05 on Friday 3 January 2020, a change to a test "
        "file reached the public 61.0 seconds after it was made: the web server itself kept "
        "serving the old file and a cache in front of the web server kept serving the old file. "
        "(Recorded by HSE IT provider.)",
    ]
    assert in_order(section, facts) == [], section
    assert not [w for w in ("nginx", "open_file_cache", "http", "rehearsal.txt") if w in section]
    assert "nothing held the old version back" not in section  # (the one before T: not a test)
