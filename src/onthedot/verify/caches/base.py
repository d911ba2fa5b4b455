"""How long a cache keeps a response fresh: RFC 9111 §4.2.1 for a generic shared cache.

Each product module (varnish.py, nginx.py, squid.py, ats.py, cdn.py) subclasses ``CacheModel`` and
overrides only what that product does differently: when it refuses to store, and what it does when
the origin sends no explicit freshness (a default TTL, a heuristic, or nothing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product

Source = Literal[
    "s-maxage",
    "max-age",
    "expires",
    "x-accel-expires",
    "surrogate-control",
    "heuristic",
    "product-default",
    "none",
]
HEURISTIC_FRACTION = 0.10  # RFC 9111 §4.2.2: "typically ... some fraction ... such as 10%"


@dataclass(frozen=True, slots=True)
class Lifetime:
    """A freshness lifetime in one cache, and where it came from."""

    seconds: float
    source: Source
    stored: bool = True  # False: the cache does not keep the response at all
    certain: bool = True  # False: depends on cache configuration the headers cannot show
    note: str = ""  # plain words, e.g. "Varnish's default_ttl (120 s)"


NOT_STORED = Lifetime(0, "none", stored=False)


@dataclass(frozen=True, slots=True)
class Grace:
    """How long past expiry a cache still hands out its stored copy while it fetches a new one.

    ``seconds`` is what the product does in its default configuration (or the site's, when
    given); ``at_most`` what it may do if configured otherwise, in a way no header shows, and
    ``check`` names that setting in one plain clause.
    """

    seconds: float
    at_most: float | None = None
    check: str = ""

    @property
    def longest(self) -> float:
        return max(self.seconds, self.at_most or 0.0)


def date_of(info: CacheInfo, received: dt.datetime | None) -> dt.datetime | None:
    """The response's Date, or when it was received when Date is missing (RFC 9110 §6.6.1)."""
    return info.date or received


def explicit(info: CacheInfo, *, shared: bool, received: dt.datetime | None) -> Lifetime | None:
    """s-maxage (shared caches only), then max-age, then Expires − Date; None when none is given."""
    directives = info.cache_control
    if directives:
        if shared and "s-maxage" in directives:
            return _directive_lifetime(info.seconds("s-maxage") or 0, "s-maxage")
        if "max-age" in directives:
            return _directive_lifetime(info.seconds("max-age") or 0, "max-age")
    if info.expires_invalid:
        return Lifetime(0, "expires", note="an invalid Expires means already expired")
    if info.expires is not None:
        date = date_of(info, received)
        if date is not None:
            return Lifetime(max(0.0, (info.expires - date).total_seconds()), "expires")
    return None


@lru_cache(maxsize=256)
def _directive_lifetime(seconds: int, source: Source) -> Lifetime:
    """``Lifetime(seconds, source)``, one (immutable) instance per value: max-age=60 comes often."""
    return Lifetime(seconds, source)


def heuristic(
    info: CacheInfo,
    received: dt.datetime | None,
    *,
    fraction: float = HEURISTIC_FRACTION,
    low: float = 0.0,
    high: float | None = None,
) -> Lifetime | None:
    """``fraction`` × (Date − Last-Modified), clamped to [low, high]; None without Last-Modified."""
    date = date_of(info, received)
    if info.last_modified is None or date is None:
        return None
    seconds = max(0.0, fraction * (date - info.last_modified).total_seconds())
    seconds = max(low, seconds if high is None else min(high, seconds))
    return Lifetime(seconds, "heuristic")


def refuses_by_rfc(info: CacheInfo, *, shared: bool) -> str | None:
    """Why an RFC 9111 cache will not store this response (§3), or None."""
    directives = info.cache_control
    if not directives:
        return None
    if "no-store" in directives:
        return "the response says Cache-Control: no-store"
    if shared and "private" in directives and directives["private"] is None:
        return "the response says Cache-Control: private, which shared caches must not store"
    return None


def must_revalidate_every_time(info: CacheInfo) -> bool:
    """Cache-Control: no-cache (without field names): stored, but checked with the origin each time."""
    directives = info.cache_control
    return "no-cache" in directives and directives["no-cache"] is None


@dataclass(frozen=True)
class CacheModel:
    """A generic RFC 9111 shared cache: explicit freshness, else the 10 % heuristic."""

    product: ClassVar[Product | None] = None
    label: ClassVar[str] = "a shared cache"
    #: how much longer than its lifetime a copy may stay fresh because the cache counts time (or
    #: reads Age and Date) in whole seconds
    counts_whole_seconds: ClassVar[float] = 1.0

    def lifetime(
        self, info: CacheInfo, *, received: dt.datetime | None = None, url: str | None = None
    ) -> Lifetime:
        if (why := self.refuses(info, url)) is not None:
            return Lifetime(0, "none", stored=False, note=why)
        found = self.explicit(info, received) or self.implicit(info, received, url)
        if must_revalidate_every_time(info):
            return Lifetime(0, found.source, note="no-cache: it asks the origin every time")
        return found

    def refuses(self, info: CacheInfo, url: str | None) -> str | None:
        return refuses_by_rfc(info, shared=True)

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        return explicit(info, shared=True, received=received)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        found = heuristic(info, received)
        if found is None:
            return Lifetime(0, "none", note="no freshness information: it asks the origin again")
        return Lifetime(found.seconds, "heuristic", note="10 % of the time since Last-Modified")

    def grace(self, info: CacheInfo) -> Grace:
        """How long past expiry it may still serve the stored copy while it refetches: RFC 5861's
        stale-while-revalidate."""
        return Grace(float(info.seconds("stale-while-revalidate") or 0))


@dataclass(frozen=True)
class BrowserCache(CacheModel):
    """A private (browser) cache: ignores s-maxage, may store private responses."""

    label: ClassVar[str] = "browsers' own caches"

    def refuses(self, info: CacheInfo, url: str | None) -> str | None:
        return refuses_by_rfc(info, shared=False)

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        return explicit(info, shared=False, received=received)
