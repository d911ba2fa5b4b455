"""What a sweep stores of each judged response, pinned byte for byte: the statuses, sentences and
``cache`` JSON of a representative set of responses (live, stale, missing, a soft 404, failing,
before the release, several caches, ``now`` in another zone) are those in ``judged.json``, written
by the judgement before it was made faster. A change meant to change them rewrites the file
(``python -m tests.verify.test_judged_json``) and says so."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from onthedot.testing import mock_response
from onthedot.verify.judgement import judge
from onthedot.verify.probe import ProbeRequest, ProbeResponse
from onthedot.verify.verifier import result_json
from tests.verify.test_judgement import NEW, OLD, PUBLIC, T

GOLDEN = Path(__file__).with_name("judged.json")
URL = f"{PUBLIC}/statistics/tables.csv"
PAGE = b"<html><head><title>Page not found</title></head><body>Sorry</body></html>"
MODIFIED = ("Last-Modified", "Wed, 18 Dec 2019 08:00:00 GMT")
VARNISH = (("Via", "1.1 varnish (Varnish/7.1)"), ("X-Varnish", "32770 3"))
NGINX = (("Server", "nginx/1.24.0"), ("X-Cache-Status", "HIT"))


def dated(seconds: int) -> tuple[str, str]:
    return ("Date", (T + dt.timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S GMT"))


def fetched(body: bytes, *headers: tuple[str, str], status: int = 200, **kw: Any) -> ProbeResponse:
    request = ProbeRequest(URL, keep_body=16_384)
    return mock_response(request, status=status, body=body, headers=headers, **kw)


ORIGIN_NEW = fetched(NEW, ("Server", "nginx"))
ORIGIN_OLD = fetched(OLD, ("Server", "nginx"))
ORIGIN_GONE = fetched(b"", status=404)
#: (name, edge, origin, seconds after T, zone of now)
CASES: list[tuple[str, ProbeResponse, ProbeResponse | None, int, str]] = [
    ("varnish live", fetched(NEW, dated(85), MODIFIED, ("Age", "5"), *VARNISH), None, 90, "UTC"),
    (
        "varnish live, London",
        fetched(NEW, dated(85), MODIFIED, ("Age", "5"), *VARNISH),
        None,
        90,
        "Europe/London",
    ),
    (
        "varnish live, Paris",
        fetched(NEW, dated(85), MODIFIED, ("Age", "5"), *VARNISH),
        None,
        90,
        "Europe/Paris",
    ),
    (
        "varnish stale, max-age",
        fetched(
            OLD, dated(80), ("Cache-Control", "max-age=3600"), ("Age", "2940"), MODIFIED, *VARNISH
        ),
        ORIGIN_NEW,
        90,
        "UTC",
    ),
    (
        "varnish stale, outlived",
        fetched(OLD, dated(80), ("Cache-Control", "max-age=60"), ("Age", "400"), *VARNISH),
        ORIGIN_NEW,
        90,
        "UTC",
    ),
    (
        "varnish stale, origin old",
        fetched(OLD, dated(80), *VARNISH, ("X-Cache-Hits", "3")),
        ORIGIN_OLD,
        90,
        "UTC",
    ),
    (
        "nginx expires",
        fetched(
            OLD,
            dated(60),
            ("Expires", "Wed, 18 Dec 2019 10:30:00 GMT"),
            MODIFIED,
            *NGINX,
            ("X-Cache-Hits", "0, 12"),
        ),
        ORIGIN_NEW,
        90,
        "UTC",
    ),
    ("no cache, stale", fetched(OLD, ("Server", "Apache")), None, 90, "UTC"),
    ("missing", fetched(b"", status=404), ORIGIN_GONE, 90, "UTC"),
    ("missing from the cache", fetched(b"", *VARNISH, status=404), ORIGIN_NEW, 90, "UTC"),
    ("soft 404", fetched(PAGE, *VARNISH), None, 90, "UTC"),
    ("server error", fetched(b"", status=503), ORIGIN_NEW, 90, "UTC"),
    ("refused", fetched(b"", status=403), None, 90, "UTC"),
    ("no answer", fetched(b"", failure="connect", message="Could not connect."), None, 90, "UTC"),
    (
        "cloudflare private",
        fetched(
            NEW,
            ("CF-Cache-Status", "HIT"),
            ("Cache-Control", "private, max-age=60, stale-if-error=30"),
            ("Age", "12"),
        ),
        None,
        90,
        "UTC",
    ),
    (
        "cache-status",
        fetched(
            NEW,
            ("Cache-Status", "ExampleCache; hit; ttl=30"),
            ("Cache-Control", "s-maxage=600, immutable, must-revalidate"),
        ),
        None,
        90,
        "UTC",
    ),
    (
        "before, kept past T",
        fetched(OLD, dated(-300), ("Cache-Control", "max-age=3600"), ("Age", "60"), *VARNISH),
        None,
        -240,
        "UTC",
    ),
    ("before, early", fetched(NEW, dated(-60), *VARNISH), ORIGIN_NEW, -60, "UTC"),
    ("before, not yet", fetched(b"", status=404), None, -60, "UTC"),
]


def judged() -> dict[str, Any]:
    out = {}
    for name, edge, origin, seconds, zone in CASES:
        now = (T + dt.timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))
        result = judge(
            edge,
            origin=origin,
            expected_sha256=ORIGIN_NEW.sha256,
            expect_text=None,
            release_at=T,
            now=now,
            vantage="default",
        )
        assert result is not None
        out[name] = result_json(result)
    return out


def test_every_judged_response_is_stored_as_before() -> None:
    got = json.dumps(judged(), indent=1, sort_keys=True) + "\n"
    assert got == GOLDEN.read_text()


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(judged(), indent=1, sort_keys=True) + "\n")
