"""Low-level header reading shared by the cache modules: list splitting, quoting, RFC 9211.

Headers are plain ``(name, value)`` pairs, names compared case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Headers = Sequence[tuple[str, str]]


def values(headers: Headers, name: str) -> list[str]:
    """Every value of the header ``name`` (case-insensitive), in order."""
    wanted = name.lower()
    return [value.strip() for key, value in headers if key.lower() == wanted]


def first(headers: Headers, name: str) -> str | None:
    found = values(headers, name)
    return found[0] if found else None


def joined(headers: Headers, name: str) -> str | None:
    """A list-valued header's lines joined with ", " (RFC 9110 §5.3), or None when absent."""
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
