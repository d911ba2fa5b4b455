"""The diagnosis a statistician forwards to IT, word for word, for each way a check can go wrong,
and the boundary where a cache's old copy stops mattering (exactly at the release time)."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.model import Status
from onthedot.verify.diagnose import diagnose
from onthedot.verify.probe import ProbeResponse
from tests.verify.test_diagnose import (
    NEW,
    NEW_SHA,
    NOW,
    ORIGIN,
    RELEASE,
    VARNISH_HIT,
    edge_hit,
    resp,
)

BEFORE = RELEASE - dt.timedelta(minutes=10)
PATH = "/statistics/fatalquarterly.xlsx"
PERMISSIONS = (
    "the public cannot read it — check the file's permissions (for S3, an ACL such as "
    "?acl=public-read on the target) and the server's access rules."
)


def test_a_failing_cache_in_front_of_a_working_origin() -> None:
    timeout = resp(
        status=None, failure="timeout", body=b"", message="www.example.org did not answer."
    )
    found = diagnose(
        timeout, resp(ORIGIN, NEW), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer, found.sentence) == (
        Status.ERROR,
        "cache",
        "www.example.org did not answer, while the origin web server answers 200: the cache or "
        "network in front of it is failing, so ask IT to check it.",
    )


@pytest.mark.parametrize(
    ("origin_status", "layer", "sentence"),
    [
        (
            500,
            "origin",
            "The site answered 503, and the origin web server fails too: ask IT to check the web "
            "server.",
        ),
        (
            499,
            "cache",
            "The site answered 503, while the origin web server answers 499: the cache or network "
            "in front of it is failing, so ask IT to check it.",
        ),
        (None, "network", "The site answered 503: ask IT to check the site, then check again."),
    ],
)
def test_a_server_error_says_which_layer_fails(
    origin_status: int | None, layer: str, sentence: str
) -> None:
    origin = resp(ORIGIN, b"", status=origin_status) if origin_status else None
    found = diagnose(
        resp(status=503, body=b""), origin, expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer, found.sentence) == (Status.ERROR, layer, sentence)


@pytest.mark.parametrize(
    ("origin", "layer", "where"),
    [
        (resp(ORIGIN, NEW), "origin", " and the origin web server already serves it"),
        (None, None, ""),
    ],
)
def test_new_content_before_the_release_time(
    origin: ProbeResponse | None, layer: str | None, where: str
) -> None:
    found = diagnose(
        resp(body=NEW),
        origin,
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=BEFORE,
    )
    assert (found.status, found.layer, found.sentence) == (
        Status.EARLY,
        layer,
        f"The new version of {PATH} is public before the release time 09:30:00{where}: take it "
        "down now and record a breach.",
    )


PLAIN = "The new version is not public yet, as it should be before 09:30:00."


@pytest.mark.parametrize(
    ("edge", "sentence"),
    [
        (edge_hit(3010), PLAIN),  # fresh, with 10 s of grace, until exactly 09:30:00
        (
            edge_hit(3009),
            "The new version is not public yet, as it should be before 09:30:00, but Varnish keeps "
            "the old copy until 09:30:01 (1 s after release) unless purged at 09:30:00.",
        ),
        (resp(headers=(("Cache-Control", "max-age=3600"),)), PLAIN),  # no cache seen
        (resp(headers=(*VARNISH_HIT, ("Set-Cookie", "a=b"), ("Age", "5"))), PLAIN),  # not stored
    ],
)
def test_before_release_an_old_copy_matters_only_if_kept_past_the_release_time(
    edge: ProbeResponse, sentence: str
) -> None:
    found = diagnose(edge, expected_sha256=NEW_SHA, release_at=RELEASE, now=BEFORE)
    assert (found.status, found.sentence) == (Status.EMBARGOED, sentence)


@pytest.mark.parametrize(
    ("origin_status", "layer", "where"),
    [
        (403, "origin", "The origin web server"),
        (200, None, "The public address"),
        (None, None, "The public address"),
    ],
)
def test_a_refused_file_names_who_refused_it(
    origin_status: int | None, layer: str | None, where: str
) -> None:
    origin = resp(ORIGIN, b"denied", status=origin_status) if origin_status else None
    found = diagnose(
        resp(status=403, body=b"denied"),
        origin,
        expected_sha256=NEW_SHA,
        release_at=RELEASE,
        now=NOW,
    )
    assert (found.status, found.layer, found.sentence) == (
        Status.ERROR,
        layer,
        f"{where} refused {PATH} with HTTP 403: {PERMISSIONS}",
    )


@pytest.mark.parametrize(("status", "answer"), [(404, "404 Not Found"), (410, "410 Gone")])
def test_missing_without_an_origin_to_compare(status: int, answer: str) -> None:
    found = diagnose(
        resp(status=status, body=b""), expected_sha256=NEW_SHA, release_at=RELEASE, now=NOW
    )
    assert (found.status, found.layer, found.sentence) == (
        Status.MISSING,
        None,
        f"The site answered {answer} for {PATH}: check that the file was uploaded to the right "
        "place.",
    )
