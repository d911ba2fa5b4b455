"""What a response's headers say about the caches it came through, normalised across vendors.

``recognise(headers)`` turns the headers that matter (Age, Cache-Control, Expires, Date, ETag,
Last-Modified, Via, X-Cache, X-Cache-Hits, X-Served-By, X-Varnish, CF-Cache-Status, Cache-Status per
RFC 9211, CloudFront's X-Cache) into one ``CacheInfo``: which product answered, whether it was a hit,
how old the copy is, and the parsed Cache-Control directives (RFC 9111 §5.2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from onthedot.verify.caches.headers import (
    CacheStatusEntry,
    HeaderIndex,
    Headers,
    first,
    joined,
    parse_cache_status,
    split_list,
    unquote,
    values,
)
from onthedot.verify.caches.vendors import PRODUCTS, Product, guess_hit, guess_hits, guess_product

__all__ = [
    "PRODUCTS",
    "CacheInfo",
    "CacheStatusEntry",
    "Headers",
    "Product",
    "delta_seconds",
    "first",
    "joined",
    "parse_cache_control",
    "parse_http_date",
    "recognise",
    "values",
]

#: the headers that matter, lower-case, in the order they are shown
MATTERING: tuple[str, ...] = (
    "age",
    "cache-control",
    "expires",
    "date",
    "etag",
    "last-modified",
    "via",
    "vary",
    "x-cache",
    "x-cache-hits",
    "x-cache-status",
    "x-served-by",
    "x-varnish",
    "cf-cache-status",
    "cache-status",
    "x-accel-expires",
    "surrogate-control",
    "server",
)
DELTA_MAX = 2**31  # RFC 9111 §1.2.2: an overflowing delta-seconds counts as 2^31


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Cache-Control directives (RFC 9111 §5.2): lower-case names, unquoted arguments.

    The first occurrence of a repeated directive wins (§4.2.1).
    """
    directives: dict[str, str | None] = {}
    for item in split_list(value or ""):
        name, eq, arg = item.partition("=")
        key = name.strip().lower()
        if key and key not in directives:
            directives[key] = unquote(arg) if eq else None
    return directives


def delta_seconds(directives: Mapping[str, str | None], name: str) -> int | None:
    """A delta-seconds argument; an unparsable one counts as 0 (stale), an overflow as 2^31."""
    if name not in directives:
        return None
    arg = directives[name]
    if arg is None or not arg.isdigit():
        return 0
    return min(int(arg), DELTA_MAX)


def parse_http_date(value: str | None) -> dt.datetime | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime, else None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """The caching facts of one response, normalised."""

    product: Product | None = None
    hit: bool | None = None
    hits: int | None = None
    age: int | None = None
    cache_control: Mapping[str, str | None] = field(default_factory=dict)
    date: dt.datetime | None = None
    expires: dt.datetime | None = None
    expires_invalid: bool = False  # present but not a date: means "already expired" (§5.3)
    etag: str | None = None
    last_modified: dt.datetime | None = None
    served_by: str | None = None
    via: str | None = None
    vary: tuple[str, ...] = ()
    cache_status: tuple[CacheStatusEntry, ...] = ()
    x_accel_expires: str | None = None
    sets_cookie: bool = False
    raw: Mapping[str, str] = field(default_factory=dict)

    def seconds(self, directive: str) -> int | None:
        return delta_seconds(self.cache_control, directive)

    def has(self, directive: str) -> bool:
        return directive in self.cache_control

    @property
    def ttl(self) -> int | None:
        """Remaining freshness the nearest RFC 9211 cache reports, if any."""
        return self.cache_status[-1].ttl if self.cache_status else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape carried in every verify/preflight result as ``cache``."""
        return {
            "product": self.product,
            "hit": self.hit,
            "hits": self.hits,
            "age": self.age,
            "cache_control": dict(self.cache_control),
            "expires": self.expires.isoformat() if self.expires else None,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "served_by": self.served_by,
            "headers": dict(self.raw),
        }


def recognise(headers: Headers) -> CacheInfo:
    """Normalise the headers that matter into a ``CacheInfo`` (product guess, hit, age, ...)."""
    headers = HeaderIndex(headers)
    age_text = first(headers, "age")
    expires_text = first(headers, "expires")
    expires = parse_http_date(expires_text)
    cache_status = parse_cache_status(joined(headers, "cache-status"))
    age = int(age_text) if age_text and age_text.isdigit() else None
    return CacheInfo(
        product=guess_product(headers, cache_status),
        hit=guess_hit(headers, cache_status, age),
        hits=guess_hits(headers),
        age=min(age, DELTA_MAX) if age is not None else None,
        cache_control=parse_cache_control(joined(headers, "cache-control")),
        date=parse_http_date(first(headers, "date")),
        expires=expires,
        expires_invalid=expires_text is not None and expires is None,
        etag=first(headers, "etag"),
        last_modified=parse_http_date(first(headers, "last-modified")),
        served_by=_served_by(headers),
        via=joined(headers, "via"),
        vary=tuple(v.lower() for v in split_list(joined(headers, "vary") or "")),
        cache_status=cache_status,
        x_accel_expires=first(headers, "x-accel-expires"),
        sets_cookie=bool(values(headers, "set-cookie")),
        raw=_raw(headers),
    )


def _served_by(headers: Headers) -> str | None:
    for name in ("x-served-by", "x-amz-cf-pop", "cf-ray", "x-cache-lookup"):
        found = joined(headers, name)
        if found:
            return found
    return None


def _raw(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for key, value in headers:
        name = key.lower()
        if name in MATTERING:
            raw[name] = f"{raw[name]}, {value.strip()}" if name in raw else value.strip()
    return raw
