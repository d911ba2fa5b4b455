"""Is a staged copy reachable from the public site before T? (An embargo exposure.)

A staged copy waits under a hidden name until the flip; if the web server serves the place it
waits in, anyone who learns (or guesses, or reads) the name gets the new bytes early. ``exposed``
fetches each staged copy's public URL through the prober (the same allowed hosts as every other
probe) and reports those it serves: a 2xx answer whose body is the staged file, or any non-empty
start of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse

KEEP_BYTES = 64 * 1024
"""How much of an answer is kept to compare with the start of the staged file."""


@dataclass(frozen=True, slots=True)
class StagedCopy:
    """A staged copy as the public might reach it: ``url`` is None when it has no public address
    (it waits outside the served tree), so there is nothing to probe."""

    path: str  # the artefact's own path
    url: str | None
    location: str
    sha256: str
    local: Path


@dataclass(frozen=True, slots=True)
class Exposure:
    """A staged copy the public site served before T."""

    copy: StagedCopy
    url: str
    http_status: int
    served_bytes: int


async def exposed(
    prober: Prober, copies: Sequence[StagedCopy], timeout: float = 10.0
) -> list[Exposure]:
    """The staged copies with a public address that the public site serves now."""
    requests = [
        ProbeRequest(c.url, keep_body=KEEP_BYTES, timeout=timeout, tag=c) for c in copies if c.url
    ]
    if not requests:
        return []
    found = []
    for response in await prober.fetch_many(requests):
        if await asyncio.to_thread(_serves_the_copy, response):
            copy: StagedCopy = response.request.tag  # type: ignore[assignment]
            status = response.http_status or 0
            found.append(Exposure(copy, response.request.url, status, response.size))
    return found


def _serves_the_copy(response: ProbeResponse) -> bool:
    """A 2xx answer that is the staged file, or starts as it does (a part is a leak too)."""
    copy = response.request.tag
    if not isinstance(copy, StagedCopy) or not response.ok or response.size == 0:
        return False
    if response.sha256 == copy.sha256:
        return True
    body = response.body
    try:
        with copy.local.open("rb") as handle:
            start = handle.read(len(body))
    except OSError:
        return False
    return bool(body) and start == body
