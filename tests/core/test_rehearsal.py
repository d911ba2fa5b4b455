"""The rehearsal's words: where its test file goes, what it says stood in the way (each thing
once, in the record's order, only what came after the change), and its outcome in sentences.
The rehearsal itself runs against real nginx and Varnish in tests/e2e/test_rehearsal.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from onthedot.errors import InputError
from onthedot.model import Artefact, Release
from onthedot.morning.rehearsal import Rehearsal, causes, findings, rehearsal_path
from onthedot.record import kinds
from onthedot.record.timeline import Event

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


def test_the_test_file_goes_beside_the_release_s_first_file_unless_told() -> None:
    release = _release("/statistics/2019/fatalquarterly.xlsx", "/other/x.csv")
    assert rehearsal_path(release) == "/statistics/2019/release-rehearsal.txt"
    assert rehearsal_path(_release()) == "/release-rehearsal.txt"
    assert rehearsal_path(release, "/checks/canary.txt") == "/checks/canary.txt"
    for wrong in ("checks/canary.txt", "/checks/"):
        with pytest.raises(InputError, match="not a file's address on the website"):
            rehearsal_path(release, wrong)


def test_what_stood_in_the_way_is_each_said_once_and_only_after_the_change() -> None:
    stale = {"status": "stale", "diagnosis": "The cache served the old file: purge it"}
    events = [
        _event(1, kinds.VERIFY_RESULT, {"status": "embargoed", "diagnosis": "Not yet."}, T),
        _event(
            2,
            kinds.EMBARGO_EXPOSED,
            {"url": "http://site/statistics/.onthedot-x", "http_status": 200},
            T,
        ),
        _event(3, kinds.PUBLISH_FLIPPED, {}, T + dt.timedelta(seconds=3)),
        _event(4, kinds.PURGE_FAILED, {"error": "The cache refused the purge (HTTP 405)"}, T),
        _event(5, kinds.VERIFY_RESULT, stale, T + dt.timedelta(seconds=3.1)),
        _event(6, kinds.VERIFY_RESULT, {"status": "live", "diagnosis": "Live."}, T),
        _event(7, kinds.VERIFY_RESULT, stale, T + dt.timedelta(seconds=5)),
        _event(8, kinds.PUBLISH_FAILED, {"error": "The upload was refused."}, T),
    ]
    said = findings(events, T + dt.timedelta(seconds=3))
    assert said == [
        "While it waited for its release time, the test file's new version could be opened on "
        "the public website at http://site/statistics/.onthedot-x: on the day, anyone who found "
        "that address could read the statistics early. Ask IT to keep copies waiting for their "
        "release time outside the web root, or to block such addresses.",
        "Clearing the cache failed: The cache refused the purge (HTTP 405).",
        "The cache served the old file: purge it.",
        "Putting the test file in place failed: The upload was refused.",
    ]
    # never put in place: no check after it to speak of
    assert findings(events[:2], None) == said[:1]
    # what the record keeps: which layers held it back, each once, in the order met
    origin = {"status": "stale", "layer": "origin", "diagnosis": "The web server..."}
    missing = {"status": "missing", "layer": None, "diagnosis": "Not found."}
    later = [
        _event(9, kinds.VERIFY_RESULT, origin, T + dt.timedelta(seconds=4)),
        _event(10, kinds.VERIFY_RESULT, missing, T + dt.timedelta(seconds=4)),
    ]
    flip = T + dt.timedelta(seconds=3)
    assert causes(events, flip) == ["exposed", "failed", "other"]
    assert causes([*later, *events], flip) == ["origin", "other", "exposed", "failed"]
    assert causes([_event(1, kinds.VERIFY_RESULT, {**stale, "layer": "cache"}, T)], None) == []


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
        "release time could be opened by the public and putting the file in place or clearing "
        "the cache failed"
    )
    first = _outcome(stage="first", live=False, put_in_place_at=None, seen={})
    assert first.sentences()[0].startswith("The rehearsal could not begin")
    assert not first.ok  # (no finding told, and still not ready)
    assert first.as_json()["reached_after_s"] is None
    assert first.record_text().startswith(
        "a test file put on it did not reach the public within 120 seconds: "
    )
    assert ready.as_json()["summary"] == " ".join(ready.sentences())
