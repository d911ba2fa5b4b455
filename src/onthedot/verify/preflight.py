"""Before release day: which URLs would keep serving the old version after T, for how long, and the fix.

``predict`` is pure: from one response's headers (and the cache product they reveal) it works out
the worst case — a copy stored just before T stays fresh for its whole lifetime after T unless a
purger clears it — and, separately, what browsers keep, which no purge reaches. ``preflight``
fetches a release's public URLs with a ``Prober`` and predicts each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from onthedot.errors import InputError
from onthedot.model import Release, iso_utc
from onthedot.verify.caches import BrowserCache, CacheModel, Lifetime, model_for
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


def _header_fix(release_at: dt.datetime, now: dt.datetime, window: float, label: str) -> str:
    start = release_at - dt.timedelta(seconds=window)
    short = f"send Cache-Control: max-age={SHORT_MAX_AGE}"
    if start <= now:
        return (
            f"Configure a purger for {label} (or purge by hand at {clock(release_at)}); it is too "
            f"late to {short} and have every stored copy expire by {clock(release_at)}."
        )
    return f"Configure a purger for {label}, or {short} from {clock(start)}."


def predict(
    headers: Headers | CacheInfo,
    release_at: dt.datetime,
    now: dt.datetime,
    *,
    purgers_configured: bool,
    product_defaults: Mapping[str, CacheModel] | None = None,
    product: str | None = None,
    url: str | None = None,
    tolerance_s: float = 60.0,
) -> Prediction:
    """Would the shared cache in front of this URL keep the old version after ``release_at``?"""
    info = _info(headers)
    product = product or info.product
    model = model_for(product, product_defaults)
    label = model.label if product else "a shared cache (none identified itself)"
    life = _observed(info, model.lifetime(info, received=now, url=url))
    window = life.seconds + (info.seconds("stale-while-revalidate") or 0) if life.stored else 0.0
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
    stale_until = release_at + dt.timedelta(seconds=window)
    kept = f"{source_words(life.source)} {life.seconds:,.0f} s" + (
        f", {life.note}" if life.note else ""
    )
    if purgers_configured and window > tolerance_s:
        return Prediction(
            "none",
            None,
            f"{label} keeps it up to {seconds_words(window)} ({kept}), "
            f"but a purger is configured to clear it at {at}.",
            "Nothing to do.",
        )
    if window <= tolerance_s:
        return Prediction(
            "none",
            None,
            f"{label} keeps it at most {seconds_words(window)} after {at} ({kept}).",
            "Nothing to do.",
        )
    reason = (
        f"{label} may keep serving the old version until {clock(stale_until)}, "
        f"{seconds_words(window)} after {at} ({kept}), and no purger is configured."
    )
    if not life.certain:
        reason = reason[:-1] + "; the cache's own configuration may differ."
    return Prediction(
        "stale-after-T", stale_until, reason, _header_fix(release_at, now, window, label)
    )


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
    return [base + "/" + artefact.path.lstrip("/") for artefact in release.artefact]


async def preflight(
    release: Release,
    prober: Fetcher,
    *,
    now: dt.datetime,
    purgers_configured: bool | None = None,
    product_defaults: Mapping[str, CacheModel] | None = None,
    tolerance_s: float = 60.0,
) -> PreflightReport:
    """Read each public URL's caching headers now and predict what happens after the release time."""
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
