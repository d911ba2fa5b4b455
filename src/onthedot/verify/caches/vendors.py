"""Which cache product answered, and was it a hit: each vendor's own headers, read one way.

Order matters: CDNs built on Varnish (Fastly) are spotted before Varnish itself, and an RFC 9211
Cache-Status naming a product wins over everything else. For lists (X-Cache "MISS, HIT", X-Cache-Hits
"0, 3", Cache-Status) the last member is the cache nearest the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Literal

from onthedot.verify.caches.headers import (
    CacheStatusEntry,
    HeaderIndex,
    Headers,
    first,
    joined,
    parse_cache_status,
    split_list,
    whole_number,
)

Product = Literal[
    "varnish", "nginx", "squid", "ats", "cloudflare", "fastly", "cloudfront", "akamai"
]
PRODUCTS: tuple[Product, ...] = (
    "varnish",
    "nginx",
    "squid",
    "ats",
    "cloudflare",
    "fastly",
    "cloudfront",
    "akamai",
)
_NAMES: tuple[tuple[str, Product], ...] = (
    ("cloudfront", "cloudfront"),
    ("cloudflare", "cloudflare"),
    ("fastly", "fastly"),
    ("akamai", "akamai"),
    ("trafficserver", "ats"),
    ("traffic server", "ats"),
    ("ats", "ats"),
    ("squid", "squid"),
    ("varnish", "varnish"),
    ("nginx", "nginx"),
)
_FASTLY_NODE = re.compile(r"\bcache-[a-z0-9-]+-[A-Z]{3}\b")
_ATS_VIA = re.compile(r"\[[^\]]*?c([A-Z ])")
# values of CF-Cache-Status and nginx's $upstream_cache_status whose bytes came from the cache
_SERVED_FROM_CACHE = {"hit", "stale", "updating", "revalidated"}
_FROM_ORIGIN = {"miss", "expired", "bypass", "dynamic", "none"}


def _low(headers: Headers, name: str) -> str:
    return (joined(headers, name) or "").lower()


def _named(text: str) -> Product | None:
    low = text.lower()
    for needle, product in _NAMES:
        if re.search(rf"(?<![a-z]){re.escape(needle)}(?![a-z])", low):
            return product
    return None


def _is_cloudfront(h: Headers) -> bool:
    return bool(first(h, "x-amz-cf-id") or first(h, "x-amz-cf-pop")) or "cloudfront" in (
        _low(h, "x-cache") + _low(h, "via")
    )


def _is_cloudflare(h: Headers) -> bool:
    return bool(first(h, "cf-cache-status") or first(h, "cf-ray")) or _low(h, "server") == (
        "cloudflare"
    )


def _is_fastly(h: Headers) -> bool:
    if any(first(h, name) for name in ("x-fastly-request-id", "fastly-debug-digest")):
        return True
    return bool(_FASTLY_NODE.search(joined(h, "x-served-by") or ""))


def _is_akamai(h: Headers) -> bool:
    if first(h, "akamai-cache-status") or first(h, "x-akamai-request-id"):
        return True
    return "akamai" in _low(h, "x-cache") + _low(h, "server")


def _is_ats(h: Headers) -> bool:
    via, server = _low(h, "via"), _low(h, "server")
    return "apachetrafficserver" in via or "trafficserver" in via or server.startswith("ats/")


def _is_squid(h: Headers) -> bool:
    return (
        "(squid" in _low(h, "via")
        or _low(h, "server").startswith("squid")
        or bool(first(h, "x-cache-lookup"))
    )


def _is_varnish(h: Headers) -> bool:
    return bool(first(h, "x-varnish")) or "varnish" in _low(h, "via")


def _is_nginx(h: Headers) -> bool:
    return bool(first(h, "x-cache-status") or first(h, "x-proxy-cache"))


_SPOTTERS: tuple[tuple[Product, Callable[[Headers], bool]], ...] = (
    ("cloudfront", _is_cloudfront),
    ("cloudflare", _is_cloudflare),
    ("fastly", _is_fastly),
    ("akamai", _is_akamai),
    ("ats", _is_ats),
    ("squid", _is_squid),
    ("varnish", _is_varnish),
    ("nginx", _is_nginx),
)


def guess_product(
    headers: Headers, cache_status: Sequence[CacheStatusEntry] = ()
) -> Product | None:
    """The cache product nearest the user, from its headers; None when no cache shows itself."""
    if cache_status and (named := _named(cache_status[-1].cache)):
        return named
    for product, spotted in _SPOTTERS:
        if spotted(headers):
            return product
    return None


def _word_hit(value: str) -> bool | None:
    """HIT/MISS words in X-Cache-like values ("TCP_MEM_HIT", "RefreshHit from cloudfront")."""
    last = split_list(value)[-1].lower() if split_list(value) else ""
    if "miss" in last:
        return False
    if "hit" in last:
        return True
    return None


def _status_word(value: str | None) -> bool | None:
    word = (value or "").strip().lower()
    if word in _SERVED_FROM_CACHE:
        return True
    return False if word in _FROM_ORIGIN else None


def _ats_hit(headers: Headers) -> bool | None:
    found = _ATS_VIA.search(joined(headers, "via") or "")
    if not found or found.group(1) == " ":
        return None
    return found.group(1) in "HRS"


def guess_hit(
    headers: Headers, cache_status: Sequence[CacheStatusEntry] = (), age: int | None = None
) -> bool | None:
    """True when the nearest cache served its stored copy, False when it went to the origin."""
    if cache_status:
        return cache_status[-1].hit
    for name in ("cf-cache-status", "x-cache-status", "x-proxy-cache"):
        if (said := _status_word(first(headers, name))) is not None:
            return said
    for name in ("akamai-cache-status", "x-cache"):
        if (value := joined(headers, name)) and (said := _word_hit(value)) is not None:
            return said
    if varnish := first(headers, "x-varnish"):
        return len(varnish.split()) >= 2
    if (said := _ats_hit(headers)) is not None:
        return said
    return True if age else None


def guess_hits(headers: Headers) -> int | None:
    return hits_of(joined(headers, "x-cache-hits"))


def hits_of(value: str | None) -> int | None:
    """The nearest cache's count from an X-Cache-Hits value ("0, 3")."""
    if not value:
        return None
    if "," not in value:  # one cache's count, as most send: nothing to split
        return whole_number(value)
    parts = split_list(value)
    return whole_number(parts[-1]) if parts else None


def _present(value: str) -> str:
    return "1" if value else ""


def _transactions(value: str) -> str:
    """X-Varnish: one transaction id (a miss) or two (a hit), all ``guess_*`` ask of it."""
    return ("1 1" if len(value.split()) >= 2 else "1") if value else ""


#: every header ``guess_product`` and ``guess_hit`` read, and what of its (stripped) value they read:
#: all of it (None), or only part (the function keeps that part). Per-request ids (X-Varnish,
#: CF-Ray, X-Amz-Cf-Id) are read only for whether they are there, so they are reduced to that.
GUESS_READS: Mapping[str, Callable[[str], str] | None] = {
    "cache-status": None,
    "x-cache": None,
    "via": None,
    "server": None,
    "x-served-by": None,
    "akamai-cache-status": None,
    "cf-cache-status": None,
    "x-cache-status": None,
    "x-proxy-cache": None,
    "x-amz-cf-id": _present,
    "x-amz-cf-pop": _present,
    "cf-ray": _present,
    "x-fastly-request-id": _present,
    "fastly-debug-digest": _present,
    "x-akamai-request-id": _present,
    "x-cache-lookup": _present,
    "x-varnish": _transactions,
}
GuessKey = tuple[tuple[str, str], ...]


def guess_key(headers: Headers) -> GuessKey:
    """The ``(lower-case name, value as GUESS_READS reduces it)`` pairs of the headers read."""
    key: list[tuple[str, str]] = []
    for name, value in headers:
        low = name.lower()
        if low in GUESS_READS:
            reduce = GUESS_READS[low]
            key.append((low, value.strip() if reduce is None else reduce(value.strip())))
    return tuple(key)


@lru_cache(maxsize=1024)
def guess_from_key(key: GuessKey, aged: bool) -> tuple[Product | None, bool | None]:
    """``(guess_product, guess_hit)`` of any headers whose ``guess_key`` is ``key`` (and whose Age
    is non-zero when ``aged``): worked out from the key alone, so it is the same for all of them.
    """
    headers = HeaderIndex(key)
    cache_status = parse_cache_status(joined(headers, "cache-status"))
    hit = guess_hit(headers, cache_status, 1 if aged else None)
    return guess_product(headers, cache_status), hit
