"""preflight's predictions word for word, at their edges: exactly the tolerance, exactly too late
for a header change, what a cache was seen to hold, a lifetime from Expires without a Date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from email.utils import format_datetime
from typing import Any

import pytest

from onthedot.calendar.policy import Policy
from onthedot.errors import InputError
from onthedot.model import Artefact, Release, Site
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.caches import CacheModel, Nginx, Varnish
from onthedot.verify.preflight import Prediction, predict, predict_browser, preflight, release_urls
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from tests.verify.test_preflight import EARLY, T, headers

NOTHING = "Nothing to do."
HOUR_BEFORE = T - dt.timedelta(hours=1)


def http(instant: dt.datetime) -> str:
    return format_datetime(instant, usegmt=True)


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


def test_a_response_the_cache_does_not_keep() -> None:
    assert predict(headers(("Set-Cookie", "a=b")), T, EARLY, purgers_configured=False) == (
        Prediction(
            "none",
            None,
            "Varnish does not keep it: Varnish does not cache responses that set a cookie.",
            NOTHING,
        )
    )


def test_a_cache_whose_configuration_decides() -> None:
    assert predict([("X-Cache-Status", "MISS")], T, EARLY, purgers_configured=False) == Prediction(
        "unknown",
        None,
        "nginx proxy_cache: nginx caches it only if proxy_cache_valid is set.",
        "Check nginx proxy_cache's configuration, or configure a purger.",
    )


def test_a_purger_clears_what_outlives_the_tolerance() -> None:
    hour = predict(headers(cc("max-age=3600")), T, EARLY, purgers_configured=True)
    assert hour == Prediction(
        "none",
        None,
        "Varnish keeps it up to 1 h (max-age 3,600 s, then 10 s more while it fetches the new "
        "version), but a purger is configured to clear it at 09:30:00.",
        NOTHING,
    )
    minute = predict(headers(cc("max-age=50")), T, EARLY, purgers_configured=True, tolerance_s=60)
    assert minute == Prediction(
        "none",
        None,
        "Varnish keeps it at most 60 s after 09:30:00 (max-age 50 s, then 10 s more while it "
        "fetches the new version).",
        NOTHING,
    )


def test_one_second_over_the_tolerance_is_a_risk() -> None:
    found = predict(headers(cc("max-age=51")), T, EARLY, purgers_configured=False, tolerance_s=60)
    assert (found.risk, found.stale_until) == ("stale-after-T", T + dt.timedelta(seconds=61))
    assert found.reason == (
        "Varnish may keep serving the old version until 09:31:01, 61 s after 09:30:00 "
        "(max-age 51 s, then 10 s more while it fetches the new version), and no purger is "
        "configured."
    )
    # the default is the rule breach detection applies, late 1 s after T: a cache that counts
    # whole seconds may keep max-age=1 for up to 2 s; Varnish, without grace, for exactly 1 s
    one = predict([cc("max-age=1")], T, EARLY, purgers_configured=False)
    assert (one.risk, one.stale_until) == ("stale-after-T", T + dt.timedelta(seconds=2))
    assert one.reason == (
        "a shared cache (none identified itself) may keep serving the old version until "
        "09:30:02, 2 s after 09:30:00 (max-age 1 s, up to 1 s longer as it counts whole seconds), "
        "and no purger is configured."
    )
    assert one.fix == (
        "Configure a purger for a shared cache (none identified itself), or send Cache-Control: "
        "no-cache from 09:29:58 until 09:30:00."
    )
    graceless = {"varnish": Varnish(default_grace=0, configured=True)}
    varnish = predict(
        headers(cc("max-age=1")), T, EARLY, purgers_configured=False, product_defaults=graceless
    )
    assert varnish == Prediction(
        "none", None, "Varnish keeps it at most 1 s after 09:30:00 (max-age 1 s).", NOTHING
    )


def test_a_default_lifetime_says_the_cache_may_be_configured_otherwise() -> None:
    found = predict(headers(), T, EARLY, purgers_configured=False)
    assert found.reason == (
        "Varnish may keep serving the old version until 09:32:10, 2 min after 09:30:00 (the "
        "default TTL 120 s, Varnish's default_ttl (120 s), then 10 s more while it fetches the "
        "new version), and no purger is configured; the cache's own configuration may differ."
    )
    assert found.fix == (
        "Configure a purger for Varnish, or send Cache-Control: no-cache from 09:27:50 until "
        "09:30:00."
    )


def test_exactly_one_lifetime_before_the_release_is_too_late_for_a_header_change() -> None:
    lifetime_and_grace_before = T - dt.timedelta(seconds=3610)
    found = predict(
        headers(cc("max-age=3600")), T, lifetime_and_grace_before, purgers_configured=False
    )
    assert found.fix == (
        "Configure a purger for Varnish (or purge by hand at 09:30:00); it is too late to send "
        "Cache-Control: no-cache and have every stored copy expire by 09:30:00."
    )
    a_second_earlier = lifetime_and_grace_before - dt.timedelta(seconds=1)
    found = predict(headers(cc("max-age=3600")), T, a_second_earlier, purgers_configured=False)
    assert found.fix.endswith("send Cache-Control: no-cache from 08:29:50 until 09:30:00.")
    # with a tolerance longer than Varnish's grace, a short max-age ends in time
    long = predict(
        headers(cc("max-age=3600")), T, a_second_earlier, purgers_configured=False, tolerance_s=70
    )
    assert long.fix.endswith("send Cache-Control: max-age=60 from 08:29:50 until 09:30:00.")


def test_what_the_cache_was_seen_to_hold_counts_only_beyond_the_headers() -> None:
    held = [("X-Varnish", "5 3"), ("Age", "3600"), cc("max-age=3600")]
    found = predict(held, T, EARLY, purgers_configured=False)
    assert (found.stale_until, "longer than" in found.reason) == (
        T + dt.timedelta(hours=1, seconds=10),
        False,
    )
    ttl = [("X-Varnish", "5 3"), ("Cache-Status", "Varnish; hit; ttl=4000"), cc("max-age=3600")]
    found = predict(ttl, T, EARLY, purgers_configured=False)
    assert found.stale_until == T + dt.timedelta(seconds=4010)
    assert "the cache has held it 4,000 s, longer than its headers allow" in found.reason
    assert found.reason.endswith("; the cache's own configuration may differ.")


def test_expires_without_a_date_counts_from_when_it_was_fetched() -> None:
    in_two_hours = ("Expires", http(EARLY + dt.timedelta(hours=2)))
    found = predict([("X-Varnish", "5"), in_two_hours], T, EARLY, purgers_configured=False)
    assert found.stale_until == T + dt.timedelta(hours=2, seconds=10)
    browser = predict_browser([in_two_hours], T, EARLY)
    assert browser.stale_until == T + dt.timedelta(hours=2)


def test_a_cdn_that_caches_by_file_type_is_judged_on_the_url() -> None:
    cloudflare = [("CF-Ray", "abc-LHR"), ("Server", "cloudflare"), ("Date", http(EARLY))]
    found = predict(cloudflare, T, EARLY, purgers_configured=False, url="/s/x.xlsx")
    assert (found.risk, found.stale_until) == (
        "stale-after-T",
        T + dt.timedelta(hours=2, seconds=1),
    )


def test_browsers_within_five_minutes_are_fine_and_one_second_more_is_not() -> None:
    fine = predict_browser(headers(cc("max-age=300")), T, EARLY)
    assert fine == Prediction("none", None, "Browsers keep it at most 5 min.", NOTHING, "browser")
    over = predict_browser(headers(cc("max-age=301")), T, EARLY)
    assert over == Prediction(
        "stale-after-T",
        T + dt.timedelta(seconds=301),
        "Browsers that fetched it before 09:30:00 keep their own copy until 09:35:01 (max-age "
        "301 s), and no purge reaches them.",
        "Send Cache-Control: max-age=60 (without immutable) from 09:24:59.",
        "browser",
    )


def test_exactly_one_browser_lifetime_before_the_release_is_too_late() -> None:
    found = predict_browser(headers(cc("max-age=3600")), T, HOUR_BEFORE)
    assert found.fix == (
        "It is too late for a header change to reach every browser: publish the new version "
        "under a new file name and link to it from the page."
    )


def test_release_urls_join_the_public_address_and_each_path_with_one_slash() -> None:
    release = _release(
        "https://www.example.org/",
        Artefact.model_construct(path="statistics/x.xlsx"),  # (a release file refuses it)
        Artefact(path="/s/y.csv"),
    )
    assert release_urls(release) == [
        "https://www.example.org/statistics/x.xlsx",
        "https://www.example.org/s/y.csv",
    ]


def _release(public: str, *artefacts: Artefact, purge: tuple[str, ...] = ()) -> Release:
    return Release(
        id="r",
        title="t",
        producer="p",
        release_at=T,
        site=Site(public=public, purge=purge),
        artefact=artefacts,
    )


async def _preflight(
    release: Release, product_defaults: Mapping[str, CacheModel]
) -> list[dict[str, Any]]:
    def reply(request: ProbeRequest) -> ProbeResponse:
        if request.url.endswith(".csv"):
            return mock_response(request, status=None, failure="timeout", message="Too slow.")
        if request.url.endswith(".ods"):
            return mock_response(request, status=500)
        return mock_response(request, headers=[("X-Cache-Status", "MISS"), ("Date", http(EARLY))])

    async with Prober(MockProbeTransport(reply)) as prober:
        report = await preflight(release, prober, now=EARLY, product_defaults=product_defaults)
    rows: list[dict[str, Any]] = report.as_dict()["results"]
    return rows


async def test_preflight_reads_the_purgers_and_cache_settings_and_says_what_it_could_not_read() -> (
    None
):
    release = _release(
        "https://www.example.org",
        Artefact(path="/s/a.xlsx"),
        Artefact(path="/s/b.csv"),
        Artefact(path="/s/c.ods"),
        purge=("varnish://cache.internal",),
    )
    known = {"nginx": Nginx(valid=600, configured=True)}
    rows = await _preflight(release, known)
    assert [(r["risk"], r["reason"], r["fix"]) for r in rows] == [
        (
            "none",
            "nginx proxy_cache keeps it up to 10 min (the default TTL 600 s, nginx's "
            "proxy_cache_valid (600 s), up to 1 s longer as it counts whole seconds), but a purger "
            "is configured to clear it at 09:30:00.",
            NOTHING,
        ),
        (
            "unknown",
            "Could not read its caching headers: Too slow.",
            "Check the address and the site, then run preflight again.",
        ),
        (
            "unknown",
            "Could not read its caching headers: it answered 500.",
            "Check the address and the site, then run preflight again.",
        ),
    ]


def test_what_the_cache_was_seen_to_hold_is_said_in_full() -> None:
    ttl = [("X-Varnish", "5 3"), ("Cache-Status", "Varnish; hit; ttl=4000"), cc("max-age=3600")]
    assert predict(ttl, T, EARLY, purgers_configured=False).reason == (
        "Varnish may keep serving the old version until 10:36:50, 1 h 7 min after 09:30:00 "
        "(max-age 4,000 s, the cache has held it 4,000 s, longer than its headers allow, then "
        "10 s more while it fetches the new version), and no purger is configured; the cache's "
        "own configuration may differ."
    )


def test_a_release_without_a_site_says_where_to_add_it() -> None:
    release = Release(id="r", title="t", producer="p", release_at=T)
    with pytest.raises(InputError) as caught:
        release_urls(release)
    assert str(caught.value) == "Release r has no [site]: add site.public to it or onthedot.toml."


async def test_preflight_judges_a_minute_and_a_second_as_too_long_and_a_broken_read_as_unknown() -> (
    None
):
    def reply(request: ProbeRequest) -> ProbeResponse:
        if request.url.endswith(".csv"):
            return mock_response(request, status=200, failure="timeout", message="Too slow.")
        return mock_response(request, headers=headers(cc("max-age=61")))

    release = _release("https://www.example.org", Artefact(path="/a.xlsx"), Artefact(path="/b.csv"))
    async with Prober(MockProbeTransport(reply)) as prober:
        report = await preflight(release, prober, now=EARLY)
    rows = report.as_dict()["results"]
    assert [(r["risk"], r["reason"]) for r in rows] == [
        (
            "stale-after-T",
            "Varnish may keep serving the old version until 09:31:11, 71 s after 09:30:00 "
            "(max-age 61 s, then 10 s more while it fetches the new version), and no purger is "
            "configured.",
        ),
        ("unknown", "Could not read its caching headers: Too slow."),
    ]


def test_the_rule_for_late_is_the_policy_tolerance_at_least_a_second() -> None:
    assert (Policy().late_after_s, Policy(tolerance_s=0.5).late_after_s) == (1.0, 1.0)
    assert Policy(tolerance_s=90).late_after_s == 90
    two = [cc("max-age=2")]  # a cache counting whole seconds: up to 3 s
    assert predict(two, T, EARLY, purgers_configured=False).risk == "stale-after-T"
    lenient = Policy(tolerance_s=3).late_after_s
    assert predict(two, T, EARLY, purgers_configured=False, tolerance_s=lenient).risk == "none"


NGINX_SWR = [
    ("X-Cache-Status", "HIT"),
    ("Date", http(EARLY)),
    cc("max-age=2, stale-while-revalidate=30"),
]


def test_nginx_stale_while_revalidate_depends_on_a_setting_no_header_shows() -> None:
    found = predict(NGINX_SWR, T, EARLY, purgers_configured=False, tolerance_s=5)
    assert found == Prediction(
        "unknown",
        T + dt.timedelta(seconds=33),
        "nginx proxy_cache keeps it at most 3 s after 09:30:00 (max-age 2 s, up to 1 s longer as "
        "it counts whole seconds), but 33 s if proxy_cache_background_update is on.",
        "Check nginx proxy_cache's configuration, or configure a purger.",
    )
    off = {"nginx": Nginx(configured=True)}
    said = predict(
        NGINX_SWR, T, EARLY, purgers_configured=False, tolerance_s=5, product_defaults=off
    )
    assert said.risk == "none"
    on = {"nginx": Nginx(background_update=True, configured=True)}
    said = predict(
        NGINX_SWR, T, EARLY, purgers_configured=False, tolerance_s=5, product_defaults=on
    )
    assert (said.risk, said.stale_until) == ("stale-after-T", T + dt.timedelta(seconds=33))
    assert "then 30 s more while it fetches the new version" in said.reason
    purged = predict(NGINX_SWR, T, EARLY, purgers_configured=True, tolerance_s=5)
    assert purged.reason.startswith("nginx proxy_cache keeps it up to 33 s (")


def test_squid_ignores_stale_while_revalidate() -> None:
    squid = [("X-Cache", "HIT from squid"), ("Via", "1.1 cache (squid/5.7)"), ("Date", http(EARLY))]
    found = predict(
        [*squid, cc("max-age=2, stale-while-revalidate=30")],
        T,
        EARLY,
        purgers_configured=False,
        tolerance_s=5,
    )
    assert (found.risk, found.reason) == (
        "none",
        "Squid keeps it at most 3 s after 09:30:00 (max-age 2 s, up to 1 s longer as it counts "
        "whole seconds).",
    )
