"""Where is a key in a TOML file? Line numbers for messages, which tomllib does not give.

A small scanner over the text that understands what release files and onthedot.toml use: keys,
dotted keys (``caches.varnish = {...}``), ``[table]``, ``[table.sub]`` and ``[[array-of-tables]]``
headers. It never raises: an unknown location (a key inside an inline table, say) falls back to
the nearest enclosing key's or table's line, or line 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_PART = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"  # bare, "quoted" or 'literal'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_BRACKET = re.compile(r"[\[\]{}]")


class TomlPositions:
    """Line numbers (1-based) of keys and tables, addressed like pydantic error locations."""

    def __init__(self, text: str) -> None:
        self._keys: dict[tuple[str | int, ...], int] = {}
        self._tables: dict[tuple[str | int, ...], int] = {}
        self._scan(text)

    def _scan(self, text: str) -> None:
        counts: dict[str, int] = {}
        prefix: tuple[str | int, ...] = ()
        depth = 0  # inside a multi-line array or string, keys are not at the start of a line
        for number, line in enumerate(text.splitlines(), start=1):
            if depth == 0:
                header = _HEADER.match(line)
                if header:
                    name = header.group(2).strip()
                    if header.group(1) == "[[":
                        index = counts.get(name, 0)
                        counts[name] = index + 1
                        prefix = (*_parts(name), index)
                    else:
                        prefix = _parts(name)
                    self._tables.setdefault(prefix, number)
                    continue
                key = _KEY.match(line)
                if key:
                    self._keys.setdefault((*prefix, *_parts(key.group(1))), number)
            depth = max(0, depth + _open_brackets(line))

    def line(self, loc: Sequence[str | int]) -> int:
        """The line of ``loc`` (e.g. ``("artefact", 1, "file")``), or of its nearest known parent."""
        loc = tuple(loc)
        while loc:
            if loc in self._keys:
                return self._keys[loc]
            if loc in self._tables:
                return self._tables[loc]
            loc = loc[:-1]
        return 1

    def has_key(self, loc: Sequence[str | int]) -> bool:
        return tuple(loc) in self._keys


@lru_cache(maxsize=1024)  # the same few keys on every line of a long release file
def _parts(dotted: str) -> tuple[str, ...]:
    """``verify.caches`` → ``("verify", "caches")``; a quoted part keeps its dots and spaces
    (``statement.producers."Office for National Statistics (ONS)"``)."""
    return tuple(
        _unquoted(part.strip())
        for part in re.findall(r"\s*(?:\"[^\"]*\"|'[^']*'|[^.\"']+)\s*", dotted)
    )


def _unquoted(part: str) -> str:
    quoted = len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'"
    return part[1:-1] if quoted else part


def _open_brackets(line: str) -> int:
    """Net count of ``[`` minus ``]`` outside strings and comments (for multi-line arrays)."""
    if not _BRACKET.search(line):
        return 0  # most lines (``key = "value"``): no need to walk them character by character
    count = 0
    quote: str | None = None
    for char in line:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            count += 1
        elif char in "]}":
            count -= 1
    return count
