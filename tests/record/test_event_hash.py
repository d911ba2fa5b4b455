"""The hash of every event stays byte for byte what it was: a chain recorded by an earlier
onthedot must still verify. The hashes below were written by ``event_hash`` before it was made
faster; the events cover what its canonical JSON escapes (quotes, backslashes, controls, text
beyond ASCII, a whole result's JSON), an instant given as a datetime or as text, no recording
time (an event from before it was kept), and a number too large for orjson."""

from __future__ import annotations

import datetime as dt
from typing import Any

from onthedot.record.timeline import GENESIS, canonical, event_hash

AT = dt.datetime(2019, 12, 18, 9, 30, 1, 250000, tzinfo=dt.UTC)
RESULT = {
    "url": "https://www.hse.gov.uk/statistics/tables.csv",
    "status": "stale",
    "diagnosis": 'The cache (Varnish) served the old file (Age 2,940 s) — purge "/x"\\y.',
    "cache": {"headers": {"etag": '"6932-2800"', "via": "1.1 varnish"}, "age": 2940},
    "timings": {"total": 0.012, "first_byte": 1e-05},
}
#: (release, seq, at, kind, data, recorded_at)
EVENTS: list[tuple[str, int, dt.datetime | str, str, dict[str, Any], dt.datetime | str | None]] = [
    ("rel-1", 1, AT, "status", RESULT, AT + dt.timedelta(seconds=1)),
    ("rel-1", 2, "2019-12-18T09:30:02Z", "status", {"line": "a\tb\nc\x01 é ✓ 😀"}, None),
    ("rel-ü", 3, AT, "note", {}, "2019-12-18T09:31:00Z"),
    ("rel-1", 2**70, AT, "status", {"n": 2**70}, AT),
]
HASHES = [
    "190998aa302ef75137c2a10f8c45fab815308152e4e3e2f7ad46e409b844f352",
    "e9782a1e1929c9a48acfffff490c221f32d3c6e7b72787833687c9733572e37e",
    "8ea6ae26d1c17e79a6d46c2fec8046a1645df1f7f4d819774c16076159888482",
    "bda9c77c03ff754e610af0e2b566d428a82f0cebfba19a1ed7ee0a5ab0be2030",
]


def test_every_events_hash_is_as_it_was() -> None:
    prev, got = GENESIS, []
    for release, seq, at, kind, data, recorded in EVENTS:
        prev = event_hash(
            release, seq, at, kind, "verifier", "sweep", canonical(data), prev, recorded
        )
        got.append(prev)
    assert got == HASHES
