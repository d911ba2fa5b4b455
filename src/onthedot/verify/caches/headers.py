"""Low-level header reading shared by the cache modules: list splitting, quoting, RFC 9211.

Headers are plain ``(name, value)`` pairs, names compared case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Headers = Sequence[tuple[str, str]]


class HeaderIndex(tuple[tuple[str, str], ...]):
    """The same ``(name, value)`` pairs, with each header's values, first value and joined value
    worked out once by lower-case name.

    ``recognise`` builds one per response and asks it some forty questions; scanning the pairs for
    each question was the verifier's hottest loop on a 10,000-URL morning.
    """

    _values: dict[str, list[str]]
    _joined: dict[str, str]

    def __new__(cls, headers: Headers) -> HeaderIndex:
        if isinstance(headers, HeaderIndex):
            return headers
        self = super().__new__(cls, headers)
        index: dict[str, list[str]] = {}
        for key, value in self:
            index.setdefault(key.lower(), []).append(value.strip())
        self._values = index
        self._joined = {
            k: ", ".join(found) for k, v in index.items() if (found := [x for x in v if x])
        }
        return self


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
        return headers._joined.get(name.lower())
    found = [value for value in values(headers, name) if value]
    return ", ".join(found) if found else None


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
    entries: list[CacheStatusEntry] = []
    for member in split_list(value or ""):
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
                ttl=int(ttl) if ttl and re.fullmatch(r"-?\d+", ttl) else None,
                stored="stored" in args and args["stored"] in (None, "?1"),
                detail=args.get("detail"),
            )
        )
    return tuple(entries)
