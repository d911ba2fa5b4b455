"""A release file's publishing target and purge addresses, checked where they are written.

Each ``[site] target`` or ``purge`` address no adapter can use (an unknown scheme, a missing part,
an option that is not a number) is one ``(loc, sentence)`` (its secrets masked), found by
``onthedot check`` and whenever ``onthedot run`` reads the release file (``respond.addresses``
makes the file a broken one), not when the release is published: there it failed at every tick
with no file, line or field. Each address is built once (nothing is connected to).
"""

from __future__ import annotations

import functools

from onthedot.adapters import create
from onthedot.errors import InputError
from onthedot.model import Release
from onthedot.problems import Loc


def url_problems(release: Release) -> list[tuple[Loc, str]]:
    """``(("site", "target"), sentence)`` or ``(("site", "purge", i), sentence)`` for each address
    of the release's site that cannot be used."""
    site = release.site
    if site is None:
        return []
    wanted: list[tuple[Loc, str, str]] = []
    if site.target:
        wanted.append((("site", "target"), "target", site.target))
    wanted += [(("site", "purge", i), "purger", url) for i, url in enumerate(site.purge)]
    found = []
    for loc, kind, url in wanted:
        fault = _fault(kind, url)
        if fault is not None:
            found.append((loc, fault))
    return found


@functools.lru_cache(maxsize=4096)
def _fault(kind: str, url: str) -> str | None:
    try:
        create(kind, url)
    except InputError as exc:
        return str(exc)
    return None
