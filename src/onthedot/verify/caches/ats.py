"""Apache Traffic Server: explicit freshness, else the Last-Modified heuristic if allowed.

``proxy.config.http.cache.required_headers`` decides what ATS caches at all: 2 (the default, and
Debian's records.config) needs an explicit lifetime (Expires or max-age); 1 needs at least
Last-Modified; 0 caches anything. Heuristic freshness is ``heuristic_lm_factor`` (0.10) ×
(Date − Last-Modified), clamped to ``heuristic_min_lifetime`` (3,600 s) and
``heuristic_max_lifetime`` (86,400 s).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from onthedot.verify.caches.base import CacheModel, Lifetime, explicit, heuristic, refuses_by_rfc

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product


@dataclass(frozen=True)
class TrafficServer(CacheModel):
    required_headers: int = 2
    lm_factor: float = 0.10
    min_lifetime: float = 3600.0
    max_lifetime: float = 86400.0
    configured: bool = False

    product: ClassVar[Product | None] = "ats"
    label: ClassVar[str] = "Apache Traffic Server"

    def refuses(self, info: CacheInfo, url: str | None) -> str | None:
        if (why := refuses_by_rfc(info, shared=True)) is not None:
            return why
        has_explicit = explicit(info, shared=True, received=None) is not None or (
            info.expires is not None
        )
        if self.required_headers >= 2 and not has_explicit:
            return (
                "Traffic Server (required_headers 2) caches only responses with max-age or Expires"
            )
        if self.required_headers == 1 and not has_explicit and info.last_modified is None:
            return "Traffic Server (required_headers 1) caches only responses with Last-Modified"
        return None

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        found = heuristic(
            info, received, fraction=self.lm_factor, low=self.min_lifetime, high=self.max_lifetime
        )
        seconds = self.min_lifetime if found is None else found.seconds
        return Lifetime(
            seconds,
            "heuristic",
            certain=self.configured,
            note=f"Traffic Server's heuristic ({self.lm_factor:g} × age of the file, "
            f"{self.min_lifetime:,.0f}–{self.max_lifetime:,.0f} s)",
        )
