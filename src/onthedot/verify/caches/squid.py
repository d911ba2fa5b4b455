"""Squid: explicit freshness, else the first matching ``refresh_pattern`` (min, lm-factor %, max).

Debian's squid.conf ends with ``refresh_pattern . 0 20% 4320``: a response with Last-Modified
stays fresh for 20 % of (Date − Last-Modified), at most 4,320 minutes (3 days); without
Last-Modified it is fresh for ``min`` (0), so Squid asks the origin again. URLs with a query
string or /cgi-bin/ get ``0 0% 0``. Squid ignores stale-while-revalidate: it asks the origin once
a copy expires (a stale copy is served only when the origin fails, within ``max_stale``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from onthedot.verify.caches.base import CacheModel, Grace, Lifetime, heuristic

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product


@dataclass(frozen=True, slots=True)
class RefreshPattern:
    regex: str
    min_minutes: float
    percent: float
    max_minutes: float
    case_insensitive: bool = False

    def matches(self, url: str) -> bool:
        return re.search(self.regex, url, re.I if self.case_insensitive else 0) is not None


DEBIAN_REFRESH_PATTERNS: tuple[RefreshPattern, ...] = (
    RefreshPattern("^ftp:", 1440, 20, 10080),
    RefreshPattern("^gopher:", 1440, 0, 1440),
    RefreshPattern(r"(/cgi-bin/|\?)", 0, 0, 0, case_insensitive=True),
    RefreshPattern(".", 0, 20, 4320),
)


@dataclass(frozen=True)
class Squid(CacheModel):
    patterns: tuple[RefreshPattern, ...] = DEBIAN_REFRESH_PATTERNS
    configured: bool = False

    product: ClassVar[Product | None] = "squid"
    label: ClassVar[str] = "Squid"

    def pattern(self, url: str | None) -> RefreshPattern:
        for pattern in self.patterns:
            if pattern.matches(url or "/"):
                return pattern
        return RefreshPattern(".", 0, 20, 4320)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        rule = self.pattern(url)
        low, high = rule.min_minutes * 60, rule.max_minutes * 60
        found = heuristic(info, received, fraction=rule.percent / 100, low=low, high=high)
        words = f"Squid's refresh_pattern {rule.regex} {rule.min_minutes:g} {rule.percent:g}% "
        words += f"{rule.max_minutes:g}"
        if found is None:
            return Lifetime(
                low, "product-default" if low else "none", certain=self.configured, note=words
            )
        return Lifetime(found.seconds, "heuristic", certain=self.configured, note=words)

    def grace(self, info: CacheInfo) -> Grace:
        return Grace(0.0)
