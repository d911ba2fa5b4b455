"""CDNs we cannot run here, modelled from their documented defaults (see each class).

Cloudflare: honours s-maxage / max-age / Expires; without them caches only "static" extensions
(.pdf, .csv, .xlsx, .zip ...) for 2 hours by default; HTML is not cached by default.
Fastly: Surrogate-Control max-age, then s-maxage, max-age, Expires, else a 3,600 s default TTL.
CloudFront: headers clamped to the behaviour's Minimum/Maximum TTL; without them its Default TTL
(86,400 s). Akamai: the property's caching rule decides; the headers alone cannot tell.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from onthedot.verify.caches.base import CacheModel, Lifetime, explicit
from onthedot.verify.caches.headers import whole_number

if TYPE_CHECKING:
    from onthedot.verify.caches.info import CacheInfo
    from onthedot.verify.caches.vendors import Product

CLOUDFLARE_STATIC = frozenset(
    "7z avi avif apk bin bmp bz2 class css csv doc docx dmg ejs eot eps exe flac gif gz ico iso jar "
    "jpg jpeg js mid midi mkv mp3 mp4 ogg otf pdf pict pls png ppt pptx ps rar svg svgz swf tar tif "
    "tiff ttf webm webp woff woff2 xls xlsx zip zst".split()
)


@dataclass(frozen=True)
class Cloudflare(CacheModel):
    default_edge_ttl: float = 7200.0
    configured: bool = False

    product: ClassVar[Product | None] = "cloudflare"
    label: ClassVar[str] = "Cloudflare"

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        suffix = urlsplit(url or "").path.rpartition(".")[2].lower()
        if suffix not in CLOUDFLARE_STATIC:
            return Lifetime(
                0,
                "none",
                stored=False,
                certain=self.configured,
                note="Cloudflare does not cache this file type by default",
            )
        return Lifetime(
            self.default_edge_ttl,
            "product-default",
            certain=self.configured,
            note=f"Cloudflare's default edge TTL ({self.default_edge_ttl:,.0f} s)",
        )


@dataclass(frozen=True)
class Fastly(CacheModel):
    default_ttl: float = 3600.0
    configured: bool = False

    product: ClassVar[Product | None] = "fastly"
    label: ClassVar[str] = "Fastly"

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        surrogate = re.search(r"max-age=([0-9]+)", info.raw.get("surrogate-control", ""))
        seconds = whole_number(surrogate.group(1)) if surrogate else None
        if seconds is not None:
            return Lifetime(float(seconds), "surrogate-control")
        return explicit(info, shared=True, received=received)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        return Lifetime(
            self.default_ttl,
            "product-default",
            certain=self.configured,
            note=f"Fastly's default TTL ({self.default_ttl:,.0f} s)",
        )


@dataclass(frozen=True)
class CloudFront(CacheModel):
    min_ttl: float = 0.0
    default_ttl: float = 86400.0
    max_ttl: float = 31536000.0
    configured: bool = False

    product: ClassVar[Product | None] = "cloudfront"
    label: ClassVar[str] = "CloudFront"

    def explicit(self, info: CacheInfo, received: dt.datetime | None) -> Lifetime | None:
        found = explicit(info, shared=True, received=received)
        if found is None:
            return None
        seconds = min(self.max_ttl, max(self.min_ttl, found.seconds))
        return Lifetime(seconds, found.source, certain=self.configured or seconds == found.seconds)

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        return Lifetime(
            self.default_ttl,
            "product-default",
            certain=self.configured,
            note=f"CloudFront's Default TTL ({self.default_ttl:,.0f} s)",
        )


@dataclass(frozen=True)
class Akamai(CacheModel):
    default_ttl: float | None = None  # the property's caching rule; None: not known
    configured: bool = False

    product: ClassVar[Product | None] = "akamai"
    label: ClassVar[str] = "Akamai"

    def implicit(self, info: CacheInfo, received: dt.datetime | None, url: str | None) -> Lifetime:
        if self.default_ttl is None:
            return Lifetime(
                0, "none", certain=False, note="Akamai's caching rule for this path is not known"
            )
        return Lifetime(
            self.default_ttl,
            "product-default",
            certain=self.configured,
            note=f"Akamai's caching rule ({self.default_ttl:,.0f} s)",
        )
