"""Diagnosis at its edges: exactly at the release time, status codes on each side of a range, soft
404 pages (a file that is the expected one, a CMS page with the expected text, markup inside a
title, bad bytes, the 64 KiB the title is looked for in), and a page's <base>."""

from __future__ import annotations

import hashlib

import pytest

from onthedot.errors import InputError
from onthedot.model import Status
from onthedot.verify.diagnose import diagnose, linked_files
from onthedot.verify.probe import ProbeResponse
from tests.verify.test_diagnose import (
    NEW,
    NEW_SHA,
    NOW,
    ORIGIN,
    RELEASE,
    URL,
    VARNISH_HIT,
    resp,
)

PATH = "/statistics/fatalquarterly.xlsx"
TEXT = "April to September 2019"
NOT_FOUND_PAGE = b"<html><title>Page not found</title></html>"


def status_of(edge: ProbeResponse, **given: object) -> Status:
    options: dict[str, object] = {"expected_sha256": NEW_SHA, "release_at": RELEASE, "now": NOW}
    return diagnose(edge, **{**options, **given}).status  # type: ignore[arg-type]


def test_nothing_to_compare_with_is_one_sentence_with_the_fix() -> None:
    with pytest.raises(InputError) as caught:
        diagnose(resp(), release_at=RELEASE, now=NOW)
    assert str(caught.value) == (
        "Nothing to compare with: give the artefact's file or its expect_text."
    )


def test_exactly_at_the_release_time_the_new_version_is_live_not_early() -> None:
    assert status_of(resp(body=NEW), now=RELEASE) is Status.LIVE


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, Status.ERROR),
        (499, Status.ERROR),
        (400, Status.ERROR),
        (399, Status.STALE),
        (203, Status.STALE),
    ],
)
def test_status_codes_at_the_edges_of_each_range(status: int, expected: Status) -> None:
    assert status_of(resp(status=status, body=NOT_FOUND_PAGE)) is expected  # soft 404s are 200s


def test_before_release_a_refused_file_is_not_readable_yet() -> None:
    before = diagnose(
        resp(status=403, body=b"denied"),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=RELEASE.replace(hour=9, minute=0),
    )
    assert (before.status, before.sentence) == (
        Status.EMBARGOED,
        "Not readable yet (HTTP 403), as it should be before 09:30:00.",
    )
    gone = diagnose(
        resp(status=404, body=b""),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=RELEASE.replace(hour=9, minute=0),
    )
    assert gone.sentence == "Not published yet (404 Not Found), as it should be before 09:30:00."


def test_an_origin_answering_3xx_does_not_vouch_for_the_new_file() -> None:
    found = diagnose(
        resp(), resp(ORIGIN, NEW, status=300), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer) == (Status.STALE, "origin")


def test_a_busted_copy_that_failed_vouches_for_nothing() -> None:
    busted = resp(URL + "?onthedot=1", NEW, failure="timeout", message="Too slow.")
    found = diagnose(resp(), None, busted, expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert (found.layer, found.sentence) == (
        None,
        f"An older version of {PATH} was served and nothing shows it came from a cache: check "
        "that the upload reached the web server.",
    )


def test_a_cache_hit_without_an_age_is_still_the_cache() -> None:
    found = diagnose(
        resp(headers=(*VARNISH_HIT, ("Cache-Control", "max-age=3600"))),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert (found.layer, found.sentence) == (
        "cache",
        f"The cache (Varnish) served the old file (no Age header, max-age 3,600 s): purge {PATH} "
        "or wait 3,600 s — it is fresh in the cache until 11:20:12 unless purged.",
    )


def test_an_old_copy_kept_past_its_headers_names_the_caches_configuration() -> None:
    edge = resp(headers=(*VARNISH_HIT, ("Age", "4000"), ("Cache-Control", "max-age=3600")))
    found = diagnose(edge, resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert (found.layer, found.sentence) == (
        "cache",
        f"The cache (Varnish) served the old file (Age 4,000 s of max-age 3,600 s) while the "
        f"origin has the new one: purge {PATH} — it has outlived what its headers allow, so the "
        "cache's own configuration (a TTL override or grace) keeps it.",
    )


def test_missing_at_the_origin_too_means_the_upload() -> None:
    found = diagnose(
        resp(status=410, body=b""),
        resp(ORIGIN, b"", status=404),
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert found.sentence == (
        f"The origin web server does not have {PATH} either (410 Gone), so the upload did not "
        "happen or went to the wrong place: check the target."
    )


@pytest.mark.parametrize(
    ("headers", "sentence"),
    [
        ((), "The new version is live."),
        (VARNISH_HIT, "The new version is live (served by Varnish)."),
    ],
)
def test_live_says_which_cache_served_it_only_when_one_did(
    headers: tuple[tuple[str, str], ...], sentence: str
) -> None:
    found = diagnose(
        resp(body=NEW, headers=headers), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert found.sentence == sentence


def test_a_cdn_that_caches_by_file_type_is_judged_on_the_url() -> None:
    edge = resp(headers=(("CF-Ray", "abc-LHR"), ("Server", "cloudflare"), ("Age", "100")))
    found = diagnose(edge, resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW)
    assert "(Age 100 s of the default TTL 7,200 s)" in found.sentence


@pytest.mark.parametrize(
    ("body", "given", "expected"),
    [
        (NOT_FOUND_PAGE, {}, Status.MISSING),  # not the expected file
        (
            NOT_FOUND_PAGE,
            {"expected_sha256": hashlib.sha256(NOT_FOUND_PAGE).hexdigest()},
            Status.LIVE,
        ),
        (
            b"<title>Not found? Search</title> " + TEXT.encode(),
            {"expected_sha256": None, "expect_text": TEXT},
            Status.LIVE,
        ),
        (b"<TITLE>Not Found</TITLE>", {}, Status.MISSING),
        (b"<h1>Page\n<em>not</em> found</h1>", {}, Status.MISSING),
        (b"\xff\xfe<title>File not found</title>", {}, Status.MISSING),
    ],
)
def test_soft_404_pages(body: bytes, given: dict[str, object], expected: Status) -> None:
    text = given.get("expect_text")
    edge = resp(
        URL.replace(".xlsx", ".htm"), body, expect_text=text if isinstance(text, str) else None
    )
    assert status_of(edge, **given) is expected


def test_a_pages_first_base_resolves_its_links() -> None:
    page = b"""<base href="https://www.example.org/tables/"><base href="/elsewhere/">
      <a href="a.xlsx">A</a> <a href="https://www.example.org/b.csv">B</a> \xff"""
    assert linked_files("https://www.example.org/statistics/page.htm", page) == [
        "https://www.example.org/tables/a.xlsx",
        "https://www.example.org/b.csv",
    ]
    assert linked_files("https://www.example.org/statistics/page.htm", '<a href="c.pdf">C</a>') == [
        "https://www.example.org/statistics/c.pdf"
    ]
