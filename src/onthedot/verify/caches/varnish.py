"""Varnish Cache (7.x builtin.vcl): explicit freshness, else ``default_ttl``; no heuristics.

Varnish passes (marks hit-for-miss) responses with Set-Cookie, ``Vary: *`` or Cache-Control
no-cache / no-store / private, and any response whose TTL works out to zero or less. Without
s-maxage, max-age or Expires it keeps the object for ``default_ttl`` (varnishd ``-t``, 120 s by
default) — also when Expires is unparsable ("0") or the epoch, which Varnish reads as absent,
unlike RFC 9111's "already expired" — and serves it ``grace`` longer while refetching
(stale-while-revalidate, or ``default_grace`` 10 s).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from onthedot.verify.caches.base import CacheModel, Grace, Lifetime, explicit

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product


@dataclass(frozen=True)
class Varnish(CacheModel):
    default_ttl: float = 120.0
    default_grace: float = 10.0
    configured: bool = False  # True when default_ttl was read from this site's configuration

    product: ClassVar[Product | None] = "varnish"
    label: ClassVar[str] = "Varnish"
    counts_whole_seconds: ClassVar[float] = 0.0  # its clock and TTLs are fractional seconds

    def refuses(self, info: CacheInfo, url: str | None) -> str | None:
        if info.sets_cookie:
            return "Varnish does not cache responses that set a cookie"
        if "*" in info.vary:
            return "Varnish does not cache responses with Vary: *"
        surrogate = info.raw.get("surrogate-control", "").lower()
        if "no-store" in surrogate:
            return "Varnish does not cache responses with Surrogate-Control: no-store"
        directives = info.cache_control
        if not surrogate and (
            "no-cache" in directives or "no-store" in directives or "private" in directives
        ):
            return "Varnish passes responses marked no-cache, no-store or private to the origin"
        found = self.explicit(info, None)
        age = 0 if info.hit else (info.age or 0)  # on a hit, Age is Varnish's own holding time
        if found is not None and found.seconds - age <= 0:
            return f"Varnish does not cache a response whose {found.source} is already used up"
        return None

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        """As RFC 9111, except that an Expires Varnish cannot parse, or the epoch, counts as absent."""
        directives = info.cache_control
        if "s-maxage" in directives or "max-age" in directives:
            return explicit(info, shared=True, received=received)
        if info.expires is None or info.expires.timestamp() <= 0:
            return None
        return explicit(info, shared=True, received=received)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        return self._default_lifetime

    @cached_property
    def _default_lifetime(self) -> Lifetime:
        """The same (immutable) answer every time: worked out once per model."""
        return Lifetime(
            self.default_ttl,
            "product-default",
            certain=self.configured,
            note=f"Varnish's default_ttl ({self.default_ttl:,.0f} s)",
        )

    def grace(self, info: CacheInfo) -> Grace:
        """beresp.grace: stale-while-revalidate, else ``default_grace``; the first request after
        expiry gets the stored copy while Varnish fetches the new one in the background."""
        swr = info.seconds("stale-while-revalidate")
        return Grace(float(self.default_grace if swr is None else swr))
