"""Low-level header reading shared by the cache modules: list splitting, quoting, RFC 9211.

Headers are plain ``(name, value)`` pairs, names compared case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

Headers = Sequence[tuple[str, str]]

DELTA_MAX = 2**31  # RFC 9111 §1.2.2: an overflowing delta-seconds counts as 2^31


class HeaderIndex(tuple[tuple[str, str], ...]):
    """The same ``(name, value)`` pairs, with each header's values, first value and joined value
    worked out once by lower-case name.

    The product and hit guesses (``vendors``) ask it some forty questions; scanning the pairs for
    each question was the verifier's hottest loop on a 10,000-URL morning. The values are indexed
    in one pass; a joined value is worked out the first time it is asked for.
    """

    _values: dict[str, list[str]]
    _joined: dict[str, str | None]

    def __new__(cls, headers: Headers) -> HeaderIndex:
        if isinstance(headers, HeaderIndex):
            return headers
        self = super().__new__(cls, headers)
        index: dict[str, list[str]] = {}
        for key, value in self:
            name = key.lower()
            found = index.get(name)
            if found is None:
                index[name] = [value.strip()]
            else:
                found.append(value.strip())
        self._values = index
        self._joined = {}
        return self

    def joined(self, name: str) -> str | None:
        """``joined(self, name)`` for a lower-case ``name``, worked out once."""
        try:
            return self._joined[name]
        except KeyError:
            pass
        result = join_values(self._values.get(name))
        self._joined[name] = result
        return result


def join_values(found: list[str] | None) -> str | None:
    """Values joined with ", " leaving out empty ones (RFC 9110 §5.3); None when none is left."""
    if not found:
        return None
    if len(found) == 1:
        return found[0] or None
    return ", ".join(value for value in found if value) or None


def values(headers: Headers, name: str) -> list[str]:
    """Every value of the header ``name`` (case-insensitive), in order."""
    if isinstance(headers, HeaderIndex):
        return headers._values.get(name.lower(), [])
    wanted = name.lower()
    return [value.strip() for key, value in headers if key.lower() == wanted]


def first(headers: Headers, name: str) -> str | None:
    found = values(headers, name)
    return found[0] if found else None


def joined(headers: Headers, name: str) -> str | None:
    """A list-valued header's lines joined with ", " (RFC 9110 §5.3), or None when absent."""
    if isinstance(headers, HeaderIndex):
        return headers.joined(name.lower())
    return join_values(values(headers, name))


def split_list(value: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside quoted strings (backslash escapes honoured)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            buf.append(char)
            escaped = False
        elif quoted and char == "\\":
            buf.append(char)
            escaped = True
        elif char == '"':
            buf.append(char)
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(char)
    parts.append("".join(buf).strip())
    return [part for part in parts if part]


def whole_number(value: str | None, most: int = DELTA_MAX) -> int | None:
    """``value`` as a whole number if it is one in ASCII digits, else None (not given); one greater
    than ``most`` counts as ``most``. Headers are read as latin-1, whose "²" ``str.isdigit`` takes
    for a digit and ``int`` refuses, as it refuses to read more than 4,300 digits."""
    if not value or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0")
    if len(digits) > len(str(most)):
        return most
    return min(int(digits or "0"), most)


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


@dataclass(frozen=True, slots=True)
class CacheStatusEntry:
    """One member of an RFC 9211 Cache-Status list (the last one is nearest the user)."""

    cache: str
    hit: bool
    fwd: str | None = None
    ttl: int | None = None
    stored: bool = False
    detail: str | None = None


def parse_cache_status(value: str | None) -> tuple[CacheStatusEntry, ...]:
    """An RFC 9211 Cache-Status list; the answer (immutable) is remembered per value."""
    return _parse_cache_status(value) if value else ()


@lru_cache(maxsize=256)
def _parse_cache_status(value: str) -> tuple[CacheStatusEntry, ...]:
    entries: list[CacheStatusEntry] = []
    for member in split_list(value):
        name, *params = split_list(member, ";")
        args: dict[str, str | None] = {}
        for param in params:
            key, eq, arg = param.partition("=")
            args[key.strip().lower()] = unquote(arg) if eq else None
        ttl = args.get("ttl")
        entries.append(
            CacheStatusEntry(
                cache=unquote(name),
                hit="hit" in args and args["hit"] in (None, "?1"),
                fwd=args.get("fwd"),
                ttl=_ttl(ttl),
                stored="stored" in args and args["stored"] in (None, "?1"),
                detail=args.get("detail"),
            )
        )
    return tuple(entries)


def _ttl(value: str | None) -> int | None:
    """A Cache-Status ttl (seconds, negative once stale), within ±2^31; else None."""
    if value and value[0] == "-":
        seconds = whole_number(value[1:])
        return -seconds if seconds is not None else None
    return whole_number(value)
