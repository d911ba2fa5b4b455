"""The result ``judge`` hands the store and the agents API, field by field: versions, layer (only
"cache" or "origin"), the sentence, the cache facts under the site's own cache settings."""

from __future__ import annotations

import hashlib

from onthedot.model import CheckResult, Status
from onthedot.testing import mock_response
from onthedot.verify.caches import Varnish
from onthedot.verify.judgement import judge
from onthedot.verify.probe import ProbeRequest, ProbeResponse
from tests.verify.test_judgement import NEW, NOW, OLD, PUBLIC, VARNISH, T

URL = PUBLIC + "/statistics/tables/old.xlsx"
ORIGIN = "http://origin.internal/statistics/tables/old.xlsx"
NEW_SHA, OLD_SHA = hashlib.sha256(NEW).hexdigest(), hashlib.sha256(OLD).hexdigest()


def fetched(url: str, body: bytes, *headers: tuple[str, str], status: int = 200) -> ProbeResponse:
    return mock_response(ProbeRequest(url), status=status, body=body, headers=headers)


def test_a_stale_copy_in_the_cache_is_a_full_result() -> None:
    edge = fetched(URL, OLD, *VARNISH, ("Age", "2940"))
    found = judge(
        edge,
        origin=fetched(ORIGIN, NEW),
        expected_sha256=NEW_SHA,
        expect_text=None,
        release_at=T,
        now=NOW,
        vantage="london",
    )
    assert found == CheckResult(
        url=URL,
        status=Status.STALE,
        served_sha256=OLD_SHA,
        expected_sha256=NEW_SHA,
        diagnosis=(
            "The cache (Varnish) served the old file (Age 2,940 s of max-age 3,600 s) while the "
            "origin has the new one: purge /statistics/tables/old.xlsx or wait 660 s — it is "
            "fresh in the cache until 09:42:30 unless purged."
        ),
        cache=found.cache if found else {},
        vantage="london",
        checked_at=NOW,
        http_status=200,
        layer="cache",
        timings=dict(edge.timings),
    )
    assert found is not None and (found.cache["product"], found.cache["age"]) == ("varnish", 2940)


def test_a_linked_file_vouched_for_only_by_the_cache_busted_copy() -> None:
    found = judge(
        fetched(URL, OLD, *VARNISH, ("Age", "12")),
        busted=fetched(URL + "?onthedot=1", NEW),
        expected_sha256=None,
        expect_text=None,
        release_at=T,
        now=NOW,
        vantage="default",
    )
    assert found is not None and (found.status, found.expected_sha256) == (Status.STALE, NEW_SHA)
    assert "while the site, asked past its cache, has the new one" in found.diagnosis


def test_the_sites_own_cache_settings_are_used() -> None:
    found = judge(
        fetched(URL, OLD, ("Via", "1.1 varnish"), ("X-Varnish", "5 3"), ("Age", "60")),
        origin=fetched(ORIGIN, NEW),
        expected_sha256=NEW_SHA,
        expect_text=None,
        release_at=T,
        now=NOW,
        vantage="default",
        models={"varnish": Varnish(default_ttl=3600, configured=True)},
    )
    assert found is not None
    assert (found.cache["freshness"]["lifetime_s"], found.cache["freshness"]["certain"]) == (
        3600,
        True,
    )


def test_the_layer_is_cache_or_origin_or_none() -> None:
    def layer(edge: ProbeResponse, origin: ProbeResponse | None) -> str | None:
        found = judge(
            edge,
            origin=origin,
            expected_sha256=NEW_SHA,
            expect_text=None,
            release_at=T,
            now=NOW,
            vantage="default",
        )
        assert found is not None
        return found.layer

    assert layer(fetched(URL, OLD), fetched(ORIGIN, OLD)) == "origin"
    assert layer(fetched(URL, b"", status=503), None) is None  # "network" is not a stored layer
    assert layer(fetched(URL, NEW), fetched(ORIGIN, NEW)) is None
