"""What a response's headers say about the caches it came through, normalised across vendors.

``recognise(headers)`` turns the headers that matter (Age, Cache-Control, Expires, Date, ETag,
Last-Modified, Via, X-Cache, X-Cache-Hits, X-Served-By, X-Varnish, CF-Cache-Status, Cache-Status per
RFC 9211, CloudFront's X-Cache) into one ``CacheInfo``: which product answered, whether it was a hit,
how old the copy is, and the parsed Cache-Control directives (RFC 9111 §5.2).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, NoReturn, TypeVar

from onthedot.model import iso
from onthedot.verify.caches.headers import (
    DELTA_MAX,
    CacheStatusEntry,
    Headers,
    first,
    join_values,
    joined,
    parse_cache_status,
    split_list,
    unquote,
    values,
    whole_number,
)
from onthedot.verify.caches.vendors import (
    GUESS_READS,
    PRODUCTS,
    Product,
    guess_from_key,
    hits_of,
)

__all__ = [
    "DELTA_MAX",
    "PRODUCTS",
    "CacheInfo",
    "CacheStatusEntry",
    "Directives",
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
_T = TypeVar("_T")
_MATTERING = frozenset(MATTERING)
_SERVED_BY = ("x-served-by", "x-amz-cf-pop", "cf-ray", "x-cache-lookup")


class Directives(dict[str, str | None]):
    """Parsed Cache-Control directives as ``recognise`` keeps them: one read-only dict shared by
    every response with the same Cache-Control, so it refuses changes (copy it with ``dict()``).
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("Cache-Control directives are shared: copy them with dict() to change them")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[Directives], tuple[dict[str, str | None]]]:
        return Directives, (dict(self),)

    def __copy__(self) -> Directives:
        return self

    def __deepcopy__(self, memo: object) -> Directives:
        return self


NO_DIRECTIVES = Directives()


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


def directives(value: str | None) -> Directives:
    """``parse_cache_control(value)``, read-only and remembered per value."""
    return _directives(value) if value else NO_DIRECTIVES


@lru_cache(maxsize=1024)
def _directives(value: str) -> Directives:
    return Directives(parse_cache_control(value))


def delta_seconds(directives: Mapping[str, str | None], name: str) -> int | None:
    """A delta-seconds argument; an unparsable one counts as 0 (stale), an overflow as 2^31."""
    if name not in directives:
        return None
    seconds = whole_number(directives[name])
    return 0 if seconds is None else seconds


def parse_http_date(value: str | None) -> dt.datetime | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime, else None."""
    if not value:
        return None
    return _http_date(value.strip())


_MONTHS = {
    name: number
    for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}
# the IMF-fixdate every server sends (RFC 9110 §5.6.7), read without email.utils; a 4-digit year
# from 1000 on, as email.utils reads two-digit years (and "0094") as 1969–2068
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" ([1-9][0-9]{3}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)


@lru_cache(maxsize=4096)
def _http_date(value: str) -> dt.datetime | None:
    """``parse_http_date`` of a stripped value, remembered (datetimes are immutable)."""
    found = _IMF_FIXDATE.fullmatch(value)
    if found is not None:
        day, month, year, hour, minute, second = found.groups()
        try:
            return dt.datetime(
                int(year),
                _MONTHS[month],
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=dt.UTC,
            )
        except ValueError:
            pass  # 31 Feb, 24:00:00, ...: whatever email.utils makes of it
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # (a year past 9999, in UTC too)
        return None


@lru_cache(maxsize=256)
def _vary(value: str | None) -> tuple[str, ...]:
    return tuple(v.lower() for v in split_list(value or ""))


@dataclass(slots=True)
class CacheInfo:
    """The caching facts of one response, normalised. Treat it as read-only (not a frozen
    dataclass, which cost twice as much to build, on every URL of a release morning)."""

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
            "expires": iso(self.expires) if self.expires else None,
            "etag": self.etag,
            "last_modified": iso(self.last_modified) if self.last_modified else None,
            "served_by": self.served_by,
            "headers": dict(self.raw),
        }


def recognise(headers: Headers) -> CacheInfo:
    """Normalise the headers that matter into a ``CacheInfo`` (product guess, hit, age, ...)."""
    # One pass over the headers this reads (_ROLES), skipping the rest: their stripped values by
    # lower-case name, ``raw``, and what the product and hit guesses read (vendors.GUESS_READS),
    # whose answer is remembered for the same reading.
    index: dict[str, list[str]] = {}
    raw: dict[str, str] = {}
    reading: list[tuple[str, str]] = []
    for name, value in headers:
        try:
            role = _ROLE_OF[name]
        except KeyError:
            role = _role_of(name)
        if role is None:
            continue
        low, matters, guessed, reduce = role
        value = value.strip()
        found = index.get(low)
        if found is None:
            index[low] = [value]
            if matters:
                raw[low] = value
        else:
            found.append(value)
            if matters:
                raw[low] = f"{raw[low]}, {value}"
        if guessed:
            reading.append((low, value if reduce is None else reduce(value)))
    get = index.get
    age_text = _first(get("age"))
    expires_text = _first(get("expires"))
    expires = _http_date(expires_text) if expires_text else None
    age = whole_number(age_text)
    product, hit = guess_from_key(tuple(reading), bool(age))
    date_text, modified_text = _first(get("date")), _first(get("last-modified"))
    # most of these are absent: skip the calls that would turn None into None (or into ())
    hits, cache_control, vary, cache_status = (
        get("x-cache-hits"),
        get("cache-control"),
        get("vary"),
        get("cache-status"),
    )
    return CacheInfo(
        product=product,
        hit=hit,
        hits=hits_of(join_values(hits)) if hits else None,
        age=age,
        cache_control=directives(join_values(cache_control)) if cache_control else NO_DIRECTIVES,
        date=_http_date(date_text) if date_text else None,
        expires=expires,
        expires_invalid=expires_text is not None and expires is None,
        etag=_first(get("etag")),
        last_modified=_http_date(modified_text) if modified_text else None,
        served_by=_served_by(index),
        via=join_values(get("via")),
        vary=_vary(join_values(vary)) if vary else (),
        cache_status=parse_cache_status(join_values(cache_status)) if cache_status else (),
        x_accel_expires=_first(get("x-accel-expires")),
        sets_cookie=bool(get("set-cookie")),
        raw=raw,
    )


#: the headers ``recognise`` reads besides MATTERING and GUESS_READS
_ALSO_READ = ("x-cache-hits", *_SERVED_BY, "set-cookie")
_Role = tuple[str, bool, bool, Callable[[str], str] | None]
#: for each header ``recognise`` reads: (lower-case name, shown in ``raw``, read by the guesses,
#: reduced how for them); every other header is skipped
_ROLES: dict[str, _Role] = {
    name: (name, name in _MATTERING, name in GUESS_READS, GUESS_READS.get(name))
    for name in (*MATTERING, *GUESS_READS, *_ALSO_READ)
}
#: the role of each header name as servers spell it ("Cache-Control"), remembered (a few hundred
#: at most: the names come from the servers probed)
_ROLE_OF: dict[str, _Role | None] = {}


def _role_of(name: str) -> _Role | None:
    role = _ROLES.get(name.lower())
    if len(_ROLE_OF) < 512:
        _ROLE_OF[name] = role
    return role


def _first(found: list[str] | None) -> str | None:
    return found[0] if found else None


def _served_by(index: Mapping[str, list[str]]) -> str | None:
    for name in _SERVED_BY:
        found = index.get(name)
        if found and (value := join_values(found)):
            return value
    return None
