"""nginx ``proxy_cache``: X-Accel-Expires, then Cache-Control, then Expires, then proxy_cache_valid.

nginx does not cache responses with Set-Cookie, ``Vary: *``, Cache-Control no-cache / no-store /
private, ``max-age=0`` or ``X-Accel-Expires: 0``; it never applies a heuristic, so a response
without explicit freshness is cached only when ``proxy_cache_valid`` is configured for its status.

Once a copy expires, nginx (by default) fetches the new version for the request that finds it
expired; stale-while-revalidate only lets requests that arrive during that fetch have the old
copy. With ``proxy_cache_background_update on`` the first request after expiry gets the old copy
too, for up to stale-while-revalidate seconds — a setting no response shows (and with
``proxy_cache_use_stale updating`` as well, however long ago the copy expired).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from onthedot.verify.caches.base import CacheModel, Grace, Lifetime, date_of, explicit
from onthedot.verify.caches.headers import DELTA_MAX, whole_number

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product

_NGX_INT_MAX = 2**63 - 1  # the greatest number nginx reads (ngx_atoi, 64-bit)


def _accel_expires(info: CacheInfo, received: dt.datetime | None) -> float | None:
    """Seconds X-Accel-Expires gives (at most 2^31), or None when it gives none nginx can read
    (then nginx goes on to Cache-Control): over 2^63 − 1 is an error to nginx (ngx_atoi)."""
    value = (info.x_accel_expires or "").strip()
    at = value.startswith("@")
    number = whole_number(value[1:] if at else value, _NGX_INT_MAX + 1)
    if number is None or number > _NGX_INT_MAX:
        return None
    if not at:
        return float(min(number, DELTA_MAX))
    date = date_of(info, received)
    if date is None:
        return None
    return min(max(0.0, number - date.timestamp()), DELTA_MAX)


@dataclass(frozen=True)
class Nginx(CacheModel):
    valid: float | None = None  # proxy_cache_valid for 200; None: not configured (not cached)
    background_update: bool = False  # proxy_cache_background_update
    configured: bool = False

    product: ClassVar[Product | None] = "nginx"
    label: ClassVar[str] = "nginx proxy_cache"

    def refuses(self, info: CacheInfo, url: str | None) -> str | None:
        if info.sets_cookie:
            return "nginx does not cache responses that set a cookie"
        if "*" in info.vary:
            return "nginx does not cache responses with Vary: *"
        if any(info.has(k) for k in ("no-cache", "no-store", "private")):
            return "nginx does not cache responses marked no-cache, no-store or private"
        if (
            info.x_accel_expires is None
            and info.seconds("s-maxage") is None
            and (info.seconds("max-age") == 0)
        ):
            return "nginx does not cache responses with max-age=0"
        if (info.x_accel_expires or "").strip() == "0":
            return "nginx does not cache responses with X-Accel-Expires: 0"
        return None

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        accel = _accel_expires(info, received)
        if accel is not None:
            return Lifetime(accel, "x-accel-expires")
        return explicit(info, shared=True, received=received)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        if self.valid is None:
            return Lifetime(
                0,
                "none",
                stored=False,
                certain=self.configured,
                note="nginx caches it only if proxy_cache_valid is set",
            )
        return Lifetime(
            self.valid,
            "product-default",
            certain=self.configured,
            note=f"nginx's proxy_cache_valid ({self.valid:,.0f} s)",
        )

    def grace(self, info: CacheInfo) -> Grace:
        swr = float(info.seconds("stale-while-revalidate") or 0)
        if self.configured or not swr:
            return Grace(swr if self.background_update else 0.0)
        return Grace(0.0, at_most=swr, check="proxy_cache_background_update is on")
