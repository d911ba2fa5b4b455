"""What statisticians, the regulator and the public read is in their words: the statement tells each
kind of breach in a sentence of its own; a failed publication says why without a program's
exception name; what the service did is told without the tool's name; an embargo exposure names
the file's public address, never the hidden staged copy; the alert's fix has no config syntax."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.timeutil import LONDON
from onthedot.model import Site
from onthedot.record import kinds, statement
from onthedot.record.breaches import Breach
from onthedot.record.exposures import FIX, SENTENCE
from onthedot.record.narrative import TELLERS, Teller, account, describe, reason
from onthedot.record.report import assess, build, facts, render
from onthedot.record.report.minutes import Minutes
from onthedot.record.report.model import tamper_warning
from onthedot.record.timeline import ChainCheck, Event, Timeline
from tests.record.incident import PATH, PUBLIC, TITLE, URL, T, at, release_2019, result

STAGED = f"{PUBLIC}/statistics/.onthedot-0f3a9c/fatalquarterly.xlsx"
KINDS = sorted(v for v in vars(kinds).values() if isinstance(v, str) and "." in v)
EXCEPTIONS = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b")


def plain(text: str) -> list[str]:
    """What a reader must never see in ``text``: the tool's name, a staged copy's hidden name, an
    event kind or a program's exception name."""
    found = [word for word in ("onthedot", ".onthedot-", "unknown step") if word in text]
    found += [kind for kind in KINDS if kind in text]
    return found + EXCEPTIONS.findall(text)


async def add(store: AsyncEngine, kind: str, data: dict[str, Any], when: dt.datetime) -> Event:
    return await Timeline(store).append(release_2019().id, kind, data, at=when)


async def exposed_then_errors(store: AsyncEngine) -> None:
    """A staged copy the public could open at 09:10; live at 09:30; server errors at 09:45."""
    exposure = {
        "url": STAGED,
        "path": PATH,
        "location": "/statistics/.onthedot-0f3a9c",
        "http_status": 200,
        "served_bytes": 52_000,
        "fix": FIX,
    }
    await add(store, kinds.EMBARGO_EXPOSED, exposure, at(9, 10))
    await add(store, kinds.EMBARGO_CONTAINED, {"urls": [STAGED]}, at(9, 20))
    await add(store, kinds.VERIFY_RESULT, result(T, "live"), T)
    await add(
        store, kinds.VERIFY_RESULT, {**result(at(9, 45), "error"), "http_status": 503}, at(9, 45)
    )
    await add(store, kinds.VERIFY_RESULT, result(at(10, 0), "live"), at(10, 0))


def sentences(fragment: str) -> list[str]:
    paragraph = html.unescape(re.sub(r"<[^>]+>", "", fragment.split("<p>", 1)[1].split("</p>")[0]))
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z“])", paragraph.strip()) if s]


async def test_the_statement_tells_each_other_kind_of_breach_in_a_plain_sentence(
    store: AsyncEngine,
) -> None:
    await exposed_then_errors(store)
    a = await assess(store, release_2019())
    assert [(b.kind, b.cause) for b in a.breaches] == [
        ("early", "staging exposed"),
        ("error", "server error"),
    ]
    said = sentences(statement.statement_html(a))
    assert said[:3] == [
        f"“{TITLE}” was due to be published at 09:30 on Wednesday 18 December 2019.",
        "Some users could see the statistics before the release time because a copy waiting for "
        "the release time could be opened on our website.",
        "Some users could not open the statistics because our website was not working properly.",
    ]
    assert said[3].startswith("We apologise") and len(said) == 6, said
    text = " ".join(said)
    assert ";" not in text and "New content visible" not in text and "Server errors" not in text
    assert plain(text) == []


@pytest.mark.parametrize(
    ("kind", "cause", "told"),
    [
        (
            "stale",
            "cache",
            "After the statistics were published, some users were shown the "
            "previous version again because a fault in our website meant that users still saw the "
            "previous version after the new one had been published.",
        ),
        (
            "missing",
            "unknown",
            "After the statistics were published, some users could not find them.",
        ),
        (
            "time",
            "scheduling",
            "The statistics were released at a time or on a day that the Code "
            "of Practice for Statistics does not allow.",
        ),
        (
            "pra",
            "pre-release access",
            "Pre-release access to the statistics was given outside the rules.",
        ),
    ],
)
def test_each_kind_of_breach_reads_as_one_sentence_for_the_public(
    kind: str, cause: str, told: str
) -> None:
    breach = Breach("r", kind, ("T3.6",), T, None, (), cause, "")
    assert statement._told(breach) == told and plain(told) == []


@pytest.mark.parametrize(
    ("data", "told"),
    [
        (
            {
                "error": "The FTP server did not answer in time (TimeoutError)",
                "kind": "TimeoutError",
            },
            "At 09:30:00 publishing failed: The FTP server did not answer in time.",
        ),
        (
            {
                "error": "Could not reach the web server (ClientConnectorError: Cannot connect to "
                "host origin:21 ssl:default [Connect call failed ('10.0.0.1', 21)])",
                "kind": "ConnectionFailed",
            },
            "At 09:30:00 publishing failed: Could not reach the web server.",
        ),
        ({"error": "TimeoutError", "kind": "TimeoutError"}, "At 09:30:00 publishing failed."),
        (
            {"step": "staging", "error": "OSError: the disk is full"},
            "At 09:30:00 publishing failed at the staging step: the disk is full.",
        ),
        (
            {"error": f"Renaming {STAGED} failed (PermissionError)"},
            "At 09:30:00 publishing failed: Renaming a copy waiting for release failed.",
        ),
    ],
)
async def test_a_failed_publication_says_why_without_a_step_it_does_not_know_or_a_class_name(
    store: AsyncEngine, data: dict[str, Any], told: str
) -> None:
    failed = await add(store, kinds.PUBLISH_FAILED, data, T)
    assert describe(failed, release_2019()) == told
    assert plain(told) == []


def test_a_reason_keeps_its_human_part() -> None:
    assert reason("no answer (TimeoutError)") == "no answer"
    assert reason("no answer (asyncio.TimeoutError: read timed out) after 3 tries") == (
        "no answer after 3 tries"
    )
    assert reason("the cache refused (HTTP 403)") == "the cache refused (HTTP 403)"  # (not a name)
    assert reason("Errors were reported (Error 503)") == "Errors were reported (Error 503)"


async def test_the_report_of_a_failed_publication_never_says_unknown_step(
    store: AsyncEngine,
) -> None:
    error = {
        "error": "The FTP server did not answer in time (TimeoutError)",
        "kind": "TimeoutError",
    }
    await add(store, kinds.PUBLISH_FAILED, error, at(9, 29))
    await add(store, kinds.VERIFY_RESULT, result(at(9, 31), "stale", age=60), at(9, 31))
    a = await assess(store, release_2019())
    markdown = render(build(a, today=dt.date(2019, 12, 19)), "md").decode("utf-8")
    assert "At 09:29:00 publishing failed: The FTP server did not answer in time." in markdown
    assert plain(markdown.split("Annex B")[0]) == []


async def test_what_the_service_did_is_told_without_its_name(store: AsyncEngine) -> None:
    release = release_2019()
    remedy: dict[str, Any] = {"paths": [PATH], "attempt": 1, "limit": 2}
    events: list[tuple[str, dict[str, Any], dt.datetime]] = [
        (kinds.PURGE_ATTEMPT, {"purger": "varnish://c", "ok": True}, T),
        (kinds.PURGE_ATTEMPT, {"purger": "varnish://c", "detail": "no answer (TimeoutError)"}, T),
        (kinds.REMEDY_PURGE, {**remedy, "outcome": "done"}, at(9, 41)),
        (
            kinds.REMEDY_REFLIP,
            {**remedy, "outcome": "failed", "error": "refused (OSError)"},
            at(9, 42),
        ),
        (kinds.VERIFY_ALL_LIVE, {"urls": [URL]}, at(10, 35, 2)),
        (kinds.VERIFY_GAVE_UP, {"not_live": [URL]}, at(11, 0)),
        (kinds.ALERT_SENT, {"to": "the lead statistician", "channel": "email"}, at(9, 31)),
        (kinds.GATE_HELD, {"gate": "briefing", "what": "the briefing"}, at(9, 31)),
        (kinds.GATE_RELEASED, {"gate": "briefing", "what": "the briefing"}, at(10, 36)),
        (kinds.NOTE, {"text": "2 addresses were not checked"}, at(9, 32)),
        (kinds.CLOCK_OFFSET, {"offset_s": 0.01}, at(9, 29)),
        (kinds.PUBLISH_EXTERNAL, {"published_by": "GOV.UK"}, T),
    ]
    told = [describe(await add(store, kind, data, when), release) for kind, data, when in events]
    assert told == [
        "At 09:30:00 the cache (varnish) was asked to remove the previous version; it agreed.",
        "At 09:30:00 the cache (varnish) was asked to remove the previous version; it failed "
        "(no answer).",
        f"At 09:41:00 the web cache of {PATH} was cleared again automatically, as it still showed "
        "the previous version (attempt 1 of 2).",
        f"At 09:42:00 putting the new version of {PATH} in place again automatically, as it still "
        "showed the previous version, failed (attempt 1 of 2): refused.",
        "At 10:35:02 the automatic checks confirmed the new version was live on every address they "
        "check, 1 hour 5 minutes 2 seconds after the release time.",
        f"At 11:00:00 the automatic checks stopped; still not live: {URL}.",
        "At 09:31:00 an automatic alert was sent to the lead statistician by email.",
        "At 09:31:00 the briefing was held back automatically until the statistics were live.",
        "At 10:36:00 the briefing went ahead automatically, once the statistics were live.",
        "At 09:32:00 it was noted automatically: 2 addresses were not checked.",
        "At 09:29:00 “Clock measured” was recorded automatically.",
        "At 09:30:00 the release time came; GOV.UK publishes this release.",
    ]
    assert plain(" ".join(told)) == []


async def test_the_report_action_of_a_remedy_is_to_the_minute_without_the_tool(
    store: AsyncEngine,
) -> None:
    data = {"paths": [PATH], "attempt": 1, "limit": 2, "outcome": "done"}
    event = await add(store, kinds.REMEDY_REFLIP, data, at(9, 41, 7))
    assert TELLERS[kinds.REMEDY_REFLIP](Minutes(release_2019()), event) == (
        f"At 09:41 the new version of {PATH} was put in place again automatically, as it still "
        "showed the previous version (attempt 1 of 2)."
    )
    exact = TELLERS[kinds.REMEDY_REFLIP](Teller(release_2019()), event)
    assert exact is not None and "09:41:07" in exact  # (Annex A: to the second)


@pytest.mark.parametrize("seen", [False, True])
async def test_a_release_another_system_publishes_is_said_without_the_tool(
    store: AsyncEngine, seen: bool
) -> None:
    release = release_2019(site=Site(public=PUBLIC, target="external", published_by="GOV.UK"))
    await add(store, kinds.PUBLISH_EXTERNAL, {"published_by": "GOV.UK"}, T)
    if seen:
        await add(store, kinds.VERIFY_RESULT, result(at(9, 30, 20), "live"), at(9, 30, 20))
    said = facts.account_paragraphs(await assess(store, release), LONDON)
    expected = (
        "GOV.UK publishes this release: it was first seen published at 09:30."
        if seen
        else "GOV.UK publishes this release. The automatic checks did not see the new version "
        "published."
    )
    assert said[0] == expected and plain(" ".join(said)) == []


async def test_an_embargo_exposure_names_the_public_address_never_the_staged_copy(
    store: AsyncEngine,
) -> None:
    await exposed_then_errors(store)
    a = await assess(store, release_2019())
    early = a.breaches[0]
    assert early.urls == (URL,)
    report = build(a, today=dt.date(2019, 12, 19))
    assert f"Address affected: {URL}." in report.impact_facts
    timeline = account(a.evidence.events, a.release, a.evidence.results)
    assert (
        "At 09:10:00 a copy of the statistics waiting for the release time could be opened on the "
        f"public website (the file {URL})."
    ) in timeline
    assert (
        "At 09:20:00 the copy waiting for the release time could no longer be opened on the public "
        "website."
    ) in timeline
    for fmt in ("md", "html"):
        rendered = render(report, fmt).decode("utf-8")
        assert STAGED not in rendered and ".onthedot-" not in rendered, fmt
    markdown = render(report, "md").decode("utf-8")
    assert plain(markdown.split("Annex B")[0]) == []


def test_the_exposure_alert_s_fix_is_plain_words_for_statisticians() -> None:
    assert SENTENCE == (
        "A copy of the statistics could be opened on the public website before the release time: "
        "ask IT now to remove it or block its address, and to keep copies waiting for their "
        "release time outside the web root."
    )
    assert SENTENCE.endswith(FIX)
    for syntax in ("staging=", "docs/", ".md", "onthedot", "target"):
        assert syntax not in SENTENCE, syntax


async def test_a_tampered_event_is_named_by_its_label_to_the_minute(store: AsyncEngine) -> None:
    flipped = await add(store, kinds.PUBLISH_FLIPPED, {"paths": [PATH]}, at(9, 30, 0))
    a = await assess(store, release_2019())
    broken = dataclasses.replace(a, chain=ChainCheck(False, 1, flipped.seq, "it was changed"))
    warning = tamper_warning(broken, LONDON)
    assert (
        warning is not None
        and f"event {flipped.seq} (Went live, at 09:30): it was changed." in warning
    )
    assert "a backup of the record" in warning and plain(warning) == []
