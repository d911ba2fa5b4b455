"""The rehearsal's words: where its test file goes, what it says stood in the way (each thing
once, in the record's order, only what came after the change), and its outcome in sentences.
The rehearsal itself runs against real nginx and Varnish in tests/e2e/test_rehearsal.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from onthedot.errors import InputError
from onthedot.model import Artefact, Release
from onthedot.morning.rehearsal import (
    UNLOOKED,
    Rehearsal,
    _refuse_taken,
    findings,
    rehearsal_path,
)
from onthedot.record import kinds
from onthedot.record.timeline import Event
from onthedot.testing import mock_response
from onthedot.verify.probe import ProbeRequest, ProbeResponse

T = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def _event(seq: int, kind: str, data: dict[str, Any], at: dt.datetime) -> Event:
    return Event("rehearsal-2", seq, at, kind, "onthedot", "publisher", data, "0" * 64, "1" * 64)


def _release(*paths: str) -> Release:
    return Release(
        id="r",
        title="A release",
        producer="A producer",
        release_at=T,
        artefact=tuple(Artefact(path=p) for p in paths),
    )


def test_the_test_file_goes_beside_the_release_s_first_file_and_never_over_one_of_its_own() -> None:
    release = _release("/statistics/2019/fatalquarterly.xlsx", "/other/x.csv")
    assert rehearsal_path(release) == "/statistics/2019/release-rehearsal.txt"
    assert rehearsal_path(_release()) == "/release-rehearsal.txt"
    assert rehearsal_path(release, "/checks/canary.txt") == "/checks/canary.txt"
    for wrong, why in [
        ("checks/canary.txt", "must start with /"),
        ("//elsewhere/canary.txt", "must start with /"),
        ("/checks/", "must name a file"),
        ("/a/../canary.txt", "must name a file"),
        ("/a b.txt", "contains ' '"),
    ]:
        with pytest.raises(InputError, match=why):
            rehearsal_path(release, wrong)
    with pytest.raises(InputError, match="is one of r's own files"):
        rehearsal_path(release, "/other/x.csv")


class _Site:
    """What the website answers at each address (none: 404), as a ``Prober`` would."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.asked: list[str] = []

    async def fetch(self, request: ProbeRequest) -> ProbeResponse:
        self.asked.append(request.url)
        body = self.bodies.get(request.url)
        return mock_response(request, status=200 if body is not None else 404, body=body or b"")


async def test_nothing_on_the_website_but_a_rehearsal_s_own_file_is_ever_replaced() -> None:
    public, origin = "https://www.example.org/x.txt", "http://origin.internal/x.txt"
    await _refuse_taken(_Site({}), [public, origin])  # nothing there yet
    earlier = b"Release rehearsal 0a1b2c3d, version 2.\nThis file checks ..."
    site = _Site({public: earlier, origin: earlier})
    await _refuse_taken(site, [public, None, origin])
    assert site.asked == [public, origin]
    taken = _Site({public: earlier, origin: b"<html>the team's page</html>"})
    with pytest.raises(InputError, match=r"already a file at http://origin\.internal/x\.txt"):
        await _refuse_taken(taken, [public, origin])


def test_what_stood_in_the_way_is_each_said_once_and_only_after_the_change() -> None:
    stale = {"status": "stale", "layer": "cache", "diagnosis": "The cache served the old file"}
    flip = T + dt.timedelta(seconds=3)
    events = [
        _event(1, kinds.VERIFY_RESULT, {"status": "embargoed", "diagnosis": "Not yet."}, T),
        _event(
            2,
            kinds.EMBARGO_EXPOSED,
            {"url": "http://site/statistics/.onthedot-x", "http_status": 200},
            T,
        ),
        _event(3, kinds.PUBLISH_FLIPPED, {}, flip),
        _event(
            4,
            kinds.PURGE_FAILED,
            {"error": "The cache refused the purge (ClientResponseError: HTTP 405)"},
            flip,
        ),
        _event(5, kinds.VERIFY_RESULT, stale, T + dt.timedelta(seconds=3.1)),
        _event(6, kinds.VERIFY_RESULT, {"status": "live", "diagnosis": "Live."}, flip),
        _event(7, kinds.VERIFY_RESULT, stale, T + dt.timedelta(seconds=5)),
        _event(
            8,
            kinds.VERIFY_RESULT,
            {"status": "missing", "layer": None, "diagnosis": "Not found."},
            T + dt.timedelta(seconds=6),
        ),
    ]
    exposed = (
        "While it waited for its release time, the test file's new version could be opened on "
        "the public website at http://site/statistics/.onthedot-x: on the day, anyone who found "
        "that address could read the statistics early. Ask IT to keep copies waiting for their "
        "release time outside the web root, or to block such addresses."
    )
    assert findings(events, flip) == [
        ("exposed", exposed),
        ("failed", "Clearing the cache failed: The cache refused the purge."),
        ("cache", "The cache served the old file."),
        ("other", "Not found."),
    ]
    # never put in place: no check after it to speak of
    assert findings(events[:2], None) == [("exposed", exposed)]
    # no look before the change (staging took the whole lead): said, never taken for "ready"
    after = [e for e in events if e.at >= flip and e.kind != kinds.PURGE_FAILED]
    assert findings(after, flip)[-1] == ("unlooked", UNLOOKED)
    assert findings(after, flip, looked_ahead=False)[-1] == ("other", "Not found.")


def _outcome(**changes: Any) -> Rehearsal:
    fields: dict[str, Any] = {
        "release": "r",
        "url": "https://www.example.org/statistics/release-rehearsal.txt",
        "path": "/statistics/release-rehearsal.txt",
        "stage": "second",
        "put_in_place_at": T,
        "late_s": 0.0,
        "seen": {"default": T + dt.timedelta(seconds=0.04)},
        "findings": (),
        "live": True,
        "limit_s": 120.0,
    }
    return Rehearsal(**(fields | changes))


def test_the_outcome_in_sentences() -> None:
    ready = _outcome()
    assert ready.ok and ready.reached_after_s == pytest.approx(0.04)
    assert ready.sentences() == [
        "A test file changed on the website at Tuesday 1 December 2026 10:00 GMT reached "
        "the public at once (https://www.example.org/statistics/release-rehearsal.txt).",
        "Nothing on the way held the old version back: this website is ready.",
    ]
    slow = _outcome(
        seen={"default": T + dt.timedelta(seconds=2), "cardiff": T + dt.timedelta(seconds=61.2)},
        findings=("The web server still serves the old file.",),
    )
    assert not slow.ok and slow.reached_after_s == pytest.approx(61.2)
    assert slow.sentences()[0].endswith(
        "reached the public 61.2 seconds later "
        "(https://www.example.org/statistics/release-rehearsal.txt)."
    )
    assert slow.sentences()[1:] == [
        "The web server still serves the old file.",
        "Put this right with IT before the release day, then rehearse again.",
    ]
    never = _outcome(live=False, seen={}, findings=("The cache served the old file.",))
    assert never.reached_after_s is None and not never.ok
    assert "had not reached the public 120 seconds later" in never.sentences()[0]
    # what the release's timeline and its breach report keep: no product, setting or address
    assert ready.record_text() == (
        "a change to a test file reached the public at once, and nothing held the old version back"
    )
    assert _outcome(seen={"default": T + dt.timedelta(seconds=9.06)}, causes=("origin",),
                    findings=("x",)).record_text() == (
        "a change to a test file reached the public 9.1 seconds after it was made: the web "
        "server itself kept serving the old file"
    )  # fmt: skip
    assert never.record_text() == (
        "a change to a test file had not reached the public 120 seconds after it was made: the "
        "public could not get the file"
    )
    assert _outcome(live=False, seen={}, causes=("cache", "exposed", "failed")).record_text() == (
        "a change to a test file had not reached the public 120 seconds after it was made: a "
        "cache in front of the web server kept serving the old file, a copy waiting for its "
        "release time could be opened by the public and clearing the cache failed"
    )
    first = _outcome(stage="first", live=False, seen={})
    assert first.sentences()[0].startswith("The rehearsal could not begin")
    assert not first.ok  # (no finding told, and still not ready)
    assert first.as_json()["reached_after_s"] is None
    assert first.record_text().startswith(
        "a test file put on it did not reach the public within 120 seconds: "
    )
    assert ready.as_json()["summary"] == " ".join(ready.sentences())
