"""Before release day: which URLs would keep serving the old version after T, for how long, and the fix.

``predict`` is pure: from one response's headers (and the cache product they reveal) it works out
the worst case — a copy stored just before T stays fresh for its whole lifetime after T, and is
handed out for the cache's grace after that, unless a purger clears it — and, separately, what
browsers keep, which no purge reaches. A URL is at risk when that outlasts the rule for late that
breach detection applies (``Policy.late_after_s``), so preflight's "none" is on time on the day. ``preflight``
fetches a release's public URLs with a ``Prober`` and predicts each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from onthedot.calendar.policy import DEFAULT_POLICY
from onthedot.errors import InputError
from onthedot.model import Release, iso_utc
from onthedot.verify.caches import BrowserCache, CacheModel, Grace, Lifetime, model_for
from onthedot.verify.caches.info import CacheInfo, Headers, recognise
from onthedot.verify.freshness import clock, seconds_words, source_words
from onthedot.verify.probe import ProbeRequest, ProbeResponse

Risk = Literal["none", "stale-after-T", "unknown"]
SHORT_MAX_AGE = 60
_UNREAD = "Could not read its caching headers: "


class Fetcher(Protocol):
    async def fetch(self, request: ProbeRequest) -> ProbeResponse: ...


@dataclass(frozen=True, slots=True)
class Prediction:
    risk: Risk
    stale_until: dt.datetime | None
    reason: str
    fix: str
    layer: Literal["cache", "browser"] = "cache"

    def as_dict(self, url: str, cache: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "url": url,
            "risk": self.risk,
            "stale_until": iso_utc(self.stale_until) if self.stale_until else None,
            "reason": self.reason,
            "fix": self.fix,
            "layer": self.layer,
            "cache": dict(cache or {}),
        }


@dataclass(frozen=True, slots=True)
class PreflightResult:
    url: str
    predictions: tuple[Prediction, ...]
    cache: dict[str, Any] = field(default_factory=dict)
    read: bool = True  # False: its caching headers could not be read (nothing is known of it)


@dataclass(frozen=True, slots=True)
class PreflightReport:
    release: str
    results: tuple[PreflightResult, ...]

    @property
    def ok(self) -> bool:
        """False when any URL would hide the update after T, or could not be read at all (what
        it would do is then unknown)."""
        stale = any(p.risk == "stale-after-T" for r in self.results for p in r.predictions)
        return not stale and all(r.read for r in self.results)

    @property
    def unread(self) -> str | None:
        """One sentence when no URL could be read (nothing was predicted), else None."""
        if not self.results or any(r.read for r in self.results):
            return None
        why = self.results[0].predictions[0].reason.removeprefix(_UNREAD)
        return (
            f"Preflight could read none of the {len(self.results)} URL(s) of {self.release}, so "
            f"it predicts nothing: {why[:1].lower()}{why[1:]}"
        )

    def as_dict(self) -> dict[str, Any]:
        rows = [p.as_dict(r.url, r.cache) for r in self.results for p in r.predictions]
        data = {"release": self.release, "ok": self.ok, "results": rows}
        return {**data, "error": self.unread} if self.unread else data


def _info(headers: Headers | CacheInfo) -> CacheInfo:
    return headers if isinstance(headers, CacheInfo) else recognise(headers)


def _observed(info: CacheInfo, life: Lifetime) -> Lifetime:
    """Raise the modelled lifetime to what the cache has been seen to keep (Age, Cache-Status ttl)."""
    seen = float(info.age or 0) + float(max(info.ttl or 0, 0))
    if not info.hit or not life.stored or seen <= life.seconds:
        return life
    return Lifetime(
        seen,
        life.source,
        certain=False,
        note=f"the cache has held it {seen:,.0f} s, longer than its headers allow",
    )


def short_header(tolerance_s: float, grace_s: float) -> str:
    """The Cache-Control that keeps a copy stored just before T from outliving the rule for late:
    a max-age that, with the cache's grace, ends within ``tolerance_s``; no-cache when none does."""
    seconds = math.floor(tolerance_s - grace_s)
    return f"max-age={seconds}" if seconds >= 1 else "no-cache"


def _header_fix(
    release_at: dt.datetime, now: dt.datetime, window: float, label: str, header: str
) -> str:
    start = release_at - dt.timedelta(seconds=window)
    short = f"send Cache-Control: {header}"
    if start <= now:
        return (
            f"Configure a purger for {label} (or purge by hand at {clock(release_at)}); it is too "
            f"late to {short} and have every stored copy expire by {clock(release_at)}."
        )
    return (
        f"Configure a purger for {label}, or {short} from {clock(start)} until {clock(release_at)}."
    )


def _worst_lifetime(
    model: CacheModel, info: CacheInfo, release_at: dt.datetime, now: dt.datetime, url: str | None
) -> Lifetime:
    """The longest a copy stored just before T is kept: a heuristic lifetime grows with the time
    since Last-Modified, so a copy fetched at T keeps longer than the one seen now."""
    life = model.lifetime(info, received=now, url=url)
    if life.source != "heuristic" or release_at <= (info.date or now):
        return life
    at_t = model.lifetime(dataclasses.replace(info, date=release_at), received=release_at, url=url)
    return at_t if at_t.seconds > life.seconds else life


def _kept(life: Lifetime, step: float, grace: Grace) -> str:
    words = f"{source_words(life.source)} {life.seconds:,.0f} s" + (
        f", {life.note}" if life.note else ""
    )
    if step > 0:
        words += f", up to {step:,.0f} s longer as it counts whole seconds"
    if grace.seconds > 0:
        words += f", then {grace.seconds:,.0f} s more while it fetches the new version"
    return words


def predict(
    headers: Headers | CacheInfo,
    release_at: dt.datetime,
    now: dt.datetime,
    *,
    purgers_configured: bool,
    product_defaults: Mapping[str, CacheModel] | None = None,
    product: str | None = None,
    url: str | None = None,
    tolerance_s: float = DEFAULT_POLICY.late_after_s,
) -> Prediction:
    """Would the shared cache in front of this URL keep the old version ``tolerance_s`` (the
    rule for late, ``Policy.late_after_s``) after ``release_at``?"""
    info = _info(headers)
    product = product or info.product
    model = model_for(product, product_defaults)
    label = model.label if product else "a shared cache (none identified itself)"
    life = _observed(info, _worst_lifetime(model, info, release_at, now, url))
    at = clock(release_at)
    if not life.stored:
        why = life.note or "it is not stored"
        if not life.certain:
            return Prediction(
                "unknown",
                None,
                f"{label}: {why}.",
                f"Check {label}'s configuration, or configure a purger.",
            )
        return Prediction("none", None, f"{label} does not keep it: {why}.", "Nothing to do.")
    grace = model.grace(info)
    step = model.counts_whole_seconds if life.seconds > 0 else 0.0
    fresh = life.seconds + step
    window, longest = fresh + grace.seconds, fresh + grace.longest
    kept = _kept(life, step, grace)
    if purgers_configured and longest > tolerance_s:
        return Prediction(
            "none",
            None,
            f"{label} keeps it up to {seconds_words(longest)} ({kept}), "
            f"but a purger is configured to clear it at {at}.",
            "Nothing to do.",
        )
    if longest <= tolerance_s:
        return Prediction(
            "none",
            None,
            f"{label} keeps it at most {seconds_words(window)} after {at} ({kept}).",
            "Nothing to do.",
        )
    if window <= tolerance_s:
        return Prediction(
            "unknown",
            release_at + dt.timedelta(seconds=longest),
            f"{label} keeps it at most {seconds_words(window)} after {at} ({kept}), but "
            f"{seconds_words(longest)} if {grace.check}.",
            f"Check {label}'s configuration, or configure a purger.",
        )
    stale_until = release_at + dt.timedelta(seconds=window)
    reason = (
        f"{label} may keep serving the old version until {clock(stale_until)}, "
        f"{seconds_words(window)} after {at} ({kept}), and no purger is configured."
    )
    if not life.certain:
        reason = reason[:-1] + "; the cache's own configuration may differ."
    header = short_header(tolerance_s, model.counts_whole_seconds + grace.seconds)
    fix = _header_fix(release_at, now, window, label, header)
    return Prediction("stale-after-T", stale_until, reason, fix)


def predict_browser(
    headers: Headers | CacheInfo,
    release_at: dt.datetime,
    now: dt.datetime,
    *,
    url: str | None = None,
    tolerance_s: float = 300.0,
) -> Prediction:
    """Would browsers that fetched this URL before ``release_at`` keep their own old copy?"""
    info = _info(headers)
    life = BrowserCache().lifetime(info, received=now, url=url)
    at = clock(release_at)
    if not life.stored or life.seconds <= tolerance_s:
        return Prediction(
            "none",
            None,
            f"Browsers keep it at most {seconds_words(life.seconds)}.",
            "Nothing to do.",
            layer="browser",
        )
    stale_until = release_at + dt.timedelta(seconds=life.seconds)
    immutable = (
        "; immutable means even reloading does not refresh it" if info.has("immutable") else ""
    )
    reason = (
        f"Browsers that fetched it before {at} keep their own copy until {clock(stale_until)} "
        f"({source_words(life.source)} {life.seconds:,.0f} s), and no purge reaches them"
        f"{immutable}."
    )
    start = release_at - dt.timedelta(seconds=life.seconds)
    if start <= now:
        fix = (
            "It is too late for a header change to reach every browser: publish the new version "
            "under a new file name and link to it from the page."
        )
    else:
        fix = (
            f"Send Cache-Control: max-age={SHORT_MAX_AGE} (without immutable) from {clock(start)}."
        )
    return Prediction("stale-after-T", stale_until, reason, fix, layer="browser")


def release_urls(release: Release) -> list[str]:
    if release.site is None:
        raise InputError(
            f"Release {release.id} has no [site]: add site.public to it or onthedot.toml."
        )
    base = release.site.public.rstrip("/")
    return [base + "/" + path.lstrip("/") for path in release.paths]


async def preflight(
    release: Release,
    prober: Fetcher,
    *,
    now: dt.datetime,
    purgers_configured: bool | None = None,
    product_defaults: Mapping[str, CacheModel] | None = None,
    tolerance_s: float = DEFAULT_POLICY.late_after_s,
) -> PreflightReport:
    """Read each public URL's caching headers now and predict what happens after the release time:
    a URL still old ``tolerance_s`` after it is late (the policy's rule, ``Policy.late_after_s``)."""
    if purgers_configured is None:
        purgers_configured = bool(release.site and release.site.purge)
    urls = release_urls(release)
    responses = await asyncio.gather(*(prober.fetch(ProbeRequest(url)) for url in urls))
    results = [
        _result(resp, release.release_at, now, purgers_configured, product_defaults, tolerance_s)
        for resp in responses
    ]
    return PreflightReport(release.id, tuple(results))


def _result(
    resp: ProbeResponse,
    release_at: dt.datetime,
    now: dt.datetime,
    purgers: bool,
    defaults: Mapping[str, CacheModel] | None,
    tolerance_s: float,
) -> PreflightResult:
    url = resp.request.url
    if resp.failure is not None or resp.http_status is None or resp.http_status >= 500:
        problem = resp.message if resp.failure else f"it answered {resp.http_status}."
        unknown = Prediction(
            "unknown",
            None,
            f"{_UNREAD}{problem}",
            "Check the address and the site, then run preflight again.",
        )
        return PreflightResult(url, (unknown,), read=False)
    info = recognise(resp.headers)
    predictions: Sequence[Prediction] = [
        predict(
            info,
            release_at,
            now,
            purgers_configured=purgers,
            product_defaults=defaults,
            url=url,
            tolerance_s=tolerance_s,
        ),
    ]
    browser = predict_browser(info, release_at, now, url=urlsplit(url).path)
    if browser.risk != "none":
        predictions = [*predictions, browser]
    return PreflightResult(url, tuple(predictions), info.as_dict())
