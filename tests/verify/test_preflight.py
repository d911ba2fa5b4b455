"""preflight: which URLs would hide the update after T, for how long, and the fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.utils import format_datetime
from pathlib import Path

import pytest

from onthedot.model import Artefact, Release, Site
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.caches import Nginx, Varnish
from onthedot.verify.preflight import (
    Prediction,
    PreflightReport,
    PreflightResult,
    predict,
    predict_browser,
    preflight,
    short_header,
)
from onthedot.verify.probe import Prober, ProbeRequest
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx as NginxServer
from tests.servers.varnish import Varnish as VarnishServer

T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
EARLY = dt.datetime(2019, 12, 17, 16, 0, tzinfo=dt.UTC)
VARNISH = (("X-Varnish", "32770"), ("Via", "1.1 varnish (Varnish/7.1)"), ("Age", "0"))


def headers(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Date", format_datetime(EARLY, usegmt=True)), *VARNISH, *extra]


def test_seed_one_hour_ttl_without_purger() -> None:
    found = predict(headers(("Cache-Control", "max-age=3600")), T, EARLY, purgers_configured=False)
    assert found.risk == "stale-after-T"
    assert found.stale_until == T + dt.timedelta(hours=1, seconds=10)  # and Varnish's grace
    assert found.reason == (
        "Varnish may keep serving the old version until 10:30:10, 1 h after 09:30:00 "
        "(max-age 3,600 s, then 10 s more while it fetches the new version), and no purger is "
        "configured."
    )
    assert found.fix == (
        "Configure a purger for Varnish, or send Cache-Control: no-cache from 08:29:50 until "
        "09:30:00."
    )


def test_seed_varnish_default_ttl_configured_to_an_hour() -> None:
    defaults = {"varnish": Varnish(default_ttl=3600, configured=True)}
    found = predict(headers(), T, EARLY, purgers_configured=False, product_defaults=defaults)
    assert (found.risk, found.stale_until) == (
        "stale-after-T",
        T + dt.timedelta(hours=1, seconds=10),
    )
    assert "the default TTL 3,600 s, Varnish's default_ttl (3,600 s)" in found.reason
    unknown_config = predict(headers(), T, EARLY, purgers_configured=False)
    assert unknown_config.risk == "stale-after-T"
    assert unknown_config.reason.endswith("the cache's own configuration may differ.")


@pytest.mark.parametrize(
    ("extra", "purgers", "risk"),
    [
        (("Cache-Control", "max-age=3600"), True, "none"),  # the purger clears it at T
        (("Cache-Control", "max-age=60"), False, "stale-after-T"),  # late after 1 s
        (("Cache-Control", "max-age=0"), False, "none"),  # Varnish does not keep it
        (("Cache-Control", "no-cache"), False, "none"),
        (("Cache-Control", "no-store, max-age=3600"), False, "none"),
        (("Cache-Control", "max-age=60, stale-while-revalidate=600"), False, "stale-after-T"),
        (("Cache-Control", "s-maxage=86400, max-age=60"), False, "stale-after-T"),
        (("Cache-Control", "max-age=31536000, immutable"), False, "stale-after-T"),
    ],
)
def test_shared_cache_risks(extra: tuple[str, str], purgers: bool, risk: str) -> None:
    assert predict(headers(extra), T, EARLY, purgers_configured=purgers).risk == risk


def test_nginx_without_known_proxy_cache_valid_is_unknown() -> None:
    seen = [("X-Cache-Status", "MISS")]
    assert predict(seen, T, EARLY, purgers_configured=False).risk == "unknown"
    known = {"nginx": Nginx(valid=600, configured=True)}
    found = predict(seen, T, EARLY, purgers_configured=False, product_defaults=known)
    # nginx counts whole seconds: a copy may stay up to a second past its 600 s
    assert (found.risk, found.stale_until) == (
        "stale-after-T",
        T + dt.timedelta(minutes=10, seconds=1),
    )


def test_heuristic_freshness_in_an_unidentified_cache() -> None:
    ten_days_old = ("Last-Modified", format_datetime(EARLY - dt.timedelta(days=10), usegmt=True))
    found = predict(
        [("Date", format_datetime(EARLY, usegmt=True)), ten_days_old],
        T,
        EARLY,
        purgers_configured=False,
    )
    # a copy fetched at T, not the one seen: 10 % of the 10 days 17 h 30 min since Last-Modified
    after_t = dt.timedelta(days=1, hours=1, minutes=45, seconds=1)  # and a second's rounding
    assert (found.risk, found.stale_until) == ("stale-after-T", T + after_t)
    assert found.reason.startswith("a shared cache (none identified itself) may keep serving")
    assert "the heuristic lifetime 92,700 s" in found.reason


def test_too_late_for_a_header_change() -> None:
    found = predict(
        headers(("Cache-Control", "max-age=3600")),
        T,
        T - dt.timedelta(minutes=20),
        purgers_configured=False,
    )
    assert found.fix.startswith("Configure a purger for Varnish (or purge by hand at 09:30:00)")


def test_observed_age_beats_the_headers() -> None:
    seen = [("X-Varnish", "5 3"), ("Age", "7000"), ("Cache-Control", "max-age=3600")]
    found = predict(seen, T, EARLY, purgers_configured=False)
    assert found.stale_until == T + dt.timedelta(seconds=7010)
    assert "longer than its headers allow" in found.reason


def test_browser_caches() -> None:
    long = predict_browser(headers(("Cache-Control", "max-age=3600, immutable")), T, EARLY)
    assert (long.risk, long.layer, long.stale_until) == (
        "stale-after-T",
        "browser",
        T + dt.timedelta(hours=1),
    )
    assert (
        "no purge reaches them; immutable means even reloading does not refresh it" in long.reason
    )
    assert long.fix == "Send Cache-Control: max-age=60 (without immutable) from 08:30:00."
    assert (
        predict_browser(headers(("Cache-Control", "s-maxage=3600, max-age=60")), T, EARLY).risk
        == "none"
    )
    late = predict_browser(headers(("Cache-Control", "max-age=86400")), T, EARLY)
    assert late.fix.startswith("It is too late for a header change to reach every browser")


def _release(public: str, *, purge: tuple[str, ...] = ()) -> Release:
    return Release(
        id="fatal-injuries-2019-apr-sep",
        title="Fatal injuries",
        producer="HSE",
        release_at=T,
        site=Site(public=public, purge=purge),
        artefact=(
            Artefact(path="/statistics/fatalquarterly.xlsx"),
            Artefact(path="/statistics/fatals.htm", expect_text="April to September"),
        ),
    )


async def test_preflight_report_shape_with_an_in_memory_site() -> None:
    def answer(request: ProbeRequest):  # type: ignore[no-untyped-def]
        if request.url.endswith(".htm"):
            return mock_response(request, status=None, failure="timeout", message="Too slow.")
        return mock_response(request, headers=headers(("Cache-Control", "max-age=3600")))

    async with Prober(MockProbeTransport(answer)) as prober:
        report = await preflight(_release("https://www.example.org"), prober, now=EARLY)
    shown = report.as_dict()
    assert shown["release"] == "fatal-injuries-2019-apr-sep" and shown["ok"] is False
    rows = {(r["url"].rsplit("/", 1)[1], r["layer"]): r for r in shown["results"]}
    assert set(rows) == {
        ("fatalquarterly.xlsx", "cache"),
        ("fatalquarterly.xlsx", "browser"),
        ("fatals.htm", "cache"),
    }
    assert rows[("fatalquarterly.xlsx", "cache")]["stale_until"] == "2019-12-18T10:30:10Z"
    assert rows[("fatalquarterly.xlsx", "cache")]["cache"]["product"] == "varnish"
    assert rows[("fatals.htm", "cache")]["risk"] == "unknown"
    assert set(rows[("fatals.htm", "cache")]) == {
        "url",
        "risk",
        "stale_until",
        "reason",
        "fix",
        "layer",
        "cache",
    }


@pytest.fixture
def origin(webroot: Path, start_server: Callable[[NginxServer], NginxServer]) -> NginxServer:
    (webroot / "statistics").mkdir()
    (webroot / "statistics" / "fatalquarterly.xlsx").write_bytes(b"figures")
    (webroot / "statistics" / "fatals.htm").write_bytes(b"<title>Fatal injuries</title>")
    return start_server(
        NginxServer(
            webroot, headers={"/statistics/": {"Cache-Control": "s-maxage=3600, max-age=60"}}
        )
    )


@pytest.mark.services
async def test_preflight_against_real_varnish(varnish: VarnishServer) -> None:
    now = dt.datetime.now(dt.UTC)
    release = _release(varnish.url).model_copy(update={"release_at": now + dt.timedelta(hours=2)})
    async with Prober(CurlTransport()) as prober:
        report = await preflight(release, prober, now=now)
        purged = await preflight(release, prober, now=now, purgers_configured=True)
    assert report.ok is False
    assert [(r["risk"], r["layer"]) for r in report.as_dict()["results"]] == [
        ("stale-after-T", "cache"),
        ("stale-after-T", "cache"),
    ]
    assert all("Varnish may keep serving" in r["reason"] for r in report.as_dict()["results"])
    assert purged.ok is True


def test_a_heuristic_lifetime_is_judged_for_a_copy_stored_at_t_when_the_file_is_oldest() -> None:
    """Squid keeps a file without Cache-Control for 20 % of its age: a copy stored just before T
    (the file then 2 days 17.5 hours old) keeps 13.1 hours, not the 9.6 hours seen now."""
    modified = EARLY - dt.timedelta(days=2)
    seen = [
        ("Date", format_datetime(EARLY, usegmt=True)),
        ("Via", "1.1 proxy (squid/5.7)"),
        ("Last-Modified", format_datetime(modified, usegmt=True)),
    ]
    url = "https://www.example.org/statistics/x.xlsx"
    found = predict(seen, T, EARLY, purgers_configured=False, url=url)
    at_t = 0.2 * (T - modified).total_seconds()
    assert found.risk == "stale-after-T" and found.stale_until is not None
    kept = (found.stale_until - T).total_seconds()
    assert at_t <= kept <= at_t + 1  # (and up to a second more: Squid counts whole seconds)
    after = predict(seen, EARLY - dt.timedelta(hours=1), EARLY, purgers_configured=False, url=url)
    assert after.stale_until is not None  # T already past the copy seen: the lifetime seen now
    assert (after.stale_until - (EARLY - dt.timedelta(hours=1))).total_seconds() <= (
        0.2 * (EARLY - modified).total_seconds() + 1
    )


@pytest.mark.parametrize(
    ("tolerance_s", "grace_s", "header"),
    [
        (1.0, 0.0, "max-age=1"),
        (5.5, 0.0, "max-age=5"),
        (12.9, 2.0, "max-age=10"),
        (2.0, 1.0, "max-age=1"),
        (1.9, 1.0, "no-cache"),
        (0.5, 0.0, "no-cache"),
        (10.0, 10.0, "no-cache"),
    ],
)
def test_the_short_header_ends_within_the_rule_for_late(
    tolerance_s: float, grace_s: float, header: str
) -> None:
    assert short_header(tolerance_s, grace_s) == header


def test_a_report_that_could_read_nothing_says_so_once_in_its_json() -> None:
    unread = Prediction(
        "unknown", None, "Could not read its caching headers: Nothing accepted a connection.", ""
    )
    seen = Prediction("none", None, "Nothing to do.", "")
    urls = ("https://www.example.org/a.csv", "https://www.example.org/b.csv")
    nothing = PreflightReport("gdp", tuple(PreflightResult(u, (unread,), read=False) for u in urls))
    assert nothing.as_dict() == {
        "release": "gdp",
        "ok": False,
        "results": [unread.as_dict(u, {}) for u in urls],
        "error": "Preflight could read none of the 2 URL(s) of gdp, so it predicts nothing: "
        "nothing accepted a connection.",
    }
    partly = PreflightReport(
        "gdp", (PreflightResult(urls[0], (unread,), read=False), PreflightResult(urls[1], (seen,)))
    )
    assert "error" not in partly.as_dict() and partly.as_dict()["ok"] is False
    assert PreflightReport("gdp", (PreflightResult(urls[1], (seen,)),)).as_dict()["ok"] is True
