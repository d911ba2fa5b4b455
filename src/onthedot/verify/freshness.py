"""How long a response stays fresh, per RFC 9111 §4.2, in a shared cache or in a browser.

``freshness(info, now=...)`` applies the product model of the cache that answered (Varnish's
default_ttl, Squid's refresh_pattern, ...) or a generic RFC 9111 shared cache; ``shared=False``
computes the same for a browser's private cache, which no purge reaches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from onthedot.model import iso
from onthedot.verify.caches import BrowserCache, CacheModel, Source, model_for
from onthedot.verify.caches.info import CacheInfo

LONDON = ZoneInfo("Europe/London")
_SOURCE_WORDS: dict[str, str] = {
    "s-maxage": "s-maxage",
    "max-age": "max-age",
    "expires": "the Expires lifetime",
    "x-accel-expires": "X-Accel-Expires",
    "surrogate-control": "Surrogate-Control max-age",
    "heuristic": "the heuristic lifetime",
    "product-default": "the default TTL",
    "none": "no lifetime",
}


def clock(instant: dt.datetime) -> str:
    """An instant as Europe/London wall-clock time, HH:MM:SS."""
    wall = instant.astimezone(LONDON)
    return f"{wall.hour:02d}:{wall.minute:02d}:{wall.second:02d}"  # strftime("%H:%M:%S"), faster


def seconds_words(seconds: float) -> str:
    """A duration for people: "45 s", "12 min", "2 h 5 min", "3 days"."""
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 3600:
        return f"{round(whole / 60)} min"
    if whole < 3 * 86400:
        hours, minutes = divmod(round(whole / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(whole / 86400)} days"


def source_words(source: str) -> str:
    return _SOURCE_WORDS.get(source, source)


@dataclass(slots=True)
class Freshness:
    """Freshness of one stored response in one cache, at ``now``. Treat it as read-only."""

    lifetime_s: float
    age_s: float
    remaining_s: float  # lifetime − age; ≤ 0 means stale
    source: Source
    fresh_until: dt.datetime | None  # UTC; None when the cache does not store it
    swr_s: float  # stale-while-revalidate (Varnish: grace) — served stale while refetching
    sie_s: float  # stale-if-error — served stale when the origin fails
    immutable: bool
    no_store: bool
    must_revalidate: bool
    private: bool
    stored: bool = True
    certain: bool = True
    cache: str = "a shared cache"
    note: str = ""

    @property
    def fresh(self) -> bool:
        return self.stored and self.remaining_s > 0

    @property
    def serves_stored_until(self) -> dt.datetime | None:
        """The latest instant it may still hand out this copy without asking (fresh + grace)."""
        if self.fresh_until is None:
            return None
        return self.fresh_until + dt.timedelta(seconds=self.swr_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cache": self.cache,
            "stored": self.stored,
            "lifetime_s": self.lifetime_s,
            "age_s": self.age_s,
            "remaining_s": self.remaining_s,
            "source": self.source,
            "fresh_until": iso(self.fresh_until) if self.fresh_until else None,
            "swr_s": self.swr_s,
            "sie_s": self.sie_s,
            "immutable": self.immutable,
            "no_store": self.no_store,
            "must_revalidate": self.must_revalidate,
            "private": self.private,
            "certain": self.certain,
            "note": self.note,
        }


def current_age(
    info: CacheInfo,
    *,
    now: dt.datetime,
    response_time: dt.datetime | None = None,
    request_time: dt.datetime | None = None,
) -> float:
    """RFC 9111 §4.2.3: corrected initial age plus the time the response has been resident."""
    response_time = response_time or now
    request_time = request_time or response_time
    apparent = 0.0
    if info.date is not None:
        apparent = max(0.0, (response_time - info.date).total_seconds())
    if response_time is now and request_time is now:  # no delay, not resident: both terms are 0
        return max(apparent, float(info.age or 0))
    response_delay = max(0.0, (response_time - request_time).total_seconds())
    corrected_age = (info.age or 0) + response_delay
    resident = max(0.0, (now - response_time).total_seconds())
    return max(apparent, corrected_age) + resident


def freshness(
    info: CacheInfo,
    *,
    now: dt.datetime,
    shared: bool = True,
    model: CacheModel | None = None,
    models: Mapping[str, CacheModel] | None = None,
    response_time: dt.datetime | None = None,
    request_time: dt.datetime | None = None,
    url: str | None = None,
) -> Freshness:
    """Freshness of ``info`` at ``now`` in the cache that answered (or in a browser, shared=False)."""
    if model is None:
        model = model_for(info.product, models) if shared else BrowserCache()
    received = response_time or now
    life = model.lifetime(info, received=received, url=url)
    age = current_age(info, now=now, response_time=response_time, request_time=request_time)
    stored = life.stored
    remaining = life.seconds - age if stored else 0.0
    directives = info.cache_control
    return Freshness(
        lifetime_s=life.seconds,
        age_s=age,
        remaining_s=remaining,
        source=life.source,
        fresh_until=now + dt.timedelta(seconds=remaining) if stored else None,
        swr_s=model.grace(info).seconds if stored else 0.0,
        sie_s=float(info.seconds("stale-if-error") or 0) if directives else 0.0,
        immutable="immutable" in directives,
        no_store="no-store" in directives,
        must_revalidate="must-revalidate" in directives
        or (shared and "proxy-revalidate" in directives),
        private="private" in directives,
        stored=stored,
        certain=life.certain,
        cache=model.label,
        note=life.note,
    )


def browser_freshness(info: CacheInfo, *, now: dt.datetime, url: str | None = None) -> Freshness:
    """Freshness of ``info`` in a browser's own cache (s-maxage ignored; no purge reaches it)."""
    return freshness(info, now=now, shared=False, url=url)
