"""Compare how two environments (UAT and live) cache the same path — the seed's "UAT does not show it".

Each URL is fetched twice, ``interval`` seconds apart (Age progression, hit on the second fetch),
then once more conditionally (If-None-Match / If-Modified-Since → 304?). Every aspect that differs
comes back with why it matters for a release.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from onthedot.model import and_joined
from onthedot.verify.caches import model_for
from onthedot.verify.caches.info import CacheInfo, recognise
from onthedot.verify.freshness import source_words
from onthedot.verify.preflight import Fetcher
from onthedot.verify.probe import BROWSER_HEADERS, ProbeRequest, ProbeResponse

WHY: dict[str, str] = {
    "status": "The two environments answer differently for the same path, so a test in one "
    "says nothing about the other.",
    "redirects": "A redirect in one environment only changes which address the cache stores and "
    "which one must be purged.",
    "layer": "Only one environment answers from a cache, so a problem the cache causes (the old "
    "file served after release) cannot show up in the other.",
    "age": "One environment keeps a copy and ages it between fetches: after an upload it serves "
    "the old file until the copy expires or is purged.",
    "cache-control": "Different Cache-Control means the same upload becomes visible at different "
    "times in the two environments.",
    "expires": "An Expires header sets a fixed expiry time that caches honour when there is no "
    "max-age.",
    "freshness": "The shared cache keeps the file for a different time, so after release the "
    "environments stay old for different lengths of time.",
    "validators": "Without an ETag or Last-Modified a cache cannot ask the origin whether the file "
    "changed; with them it can revalidate cheaply.",
    "revalidation": "One environment answers a conditional request with 304 Not Modified and the "
    "other does not, so caches and browsers reuse copies differently.",
    "vary": "Vary decides how many copies a cache keeps per URL; every copy must be purged.",
    "compression": "A cache may keep compressed and uncompressed copies separately; purging one "
    "leaves the other.",
}


@dataclass(frozen=True, slots=True)
class Difference:
    aspect: str
    a: str
    b: str
    why_it_matters: str


PLAIN: dict[str, str] = {
    "status": "the answer it gives",
    "redirects": "redirects",
    "layer": "whether a cache answers",
    "age": "how long a cache keeps its copy",
    "cache-control": "how long copies may be kept",
    "expires": "when copies expire",
    "freshness": "how long a cache keeps its copy",
    "validators": "how a cache can check for a newer file",
    "revalidation": "how a cache can check for a newer file",
    "vary": "how many copies a cache keeps",
    "compression": "compression",
}
"""Each aspect in a statistician's words, for the breach report's UAT section."""


@dataclass(frozen=True, slots=True)
class Profile:
    """How one environment behaved, one short text per aspect (``None``: could not tell)."""

    url: str
    aspects: dict[str, str]


@dataclass(frozen=True, slots=True)
class DiffReport:
    a: str
    b: str
    differences: tuple[Difference, ...]

    @property
    def same(self) -> bool:
        return not self.differences

    def finding(self) -> str:
        """What the comparison says of reproducing a fault on the test environment, in plain
        words (A is the test environment, B the live website)."""
        if self.same:
            return (
                "a comparison of the test (UAT) environment with the live website found that "
                "both keep and serve this file the same way, so a test there can show the fault"
            )
        differ = list(dict.fromkeys(PLAIN.get(d.aspect, d.aspect) for d in self.differences))
        return (
            "a comparison of the test (UAT) environment with the live website found that they "
            f"differ in {and_joined(differ)}, so a test there would not show a fault the live "
            "website's cache causes"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "same": self.same,
            "differences": [
                {"aspect": d.aspect, "a": d.a, "b": d.b, "why_it_matters": d.why_it_matters}
                for d in self.differences
            ],
        }


def _layer(info: CacheInfo) -> str:
    name = info.product or ("a cache" if info.age is not None or info.hit is not None else None)
    if name is None:
        return "no cache seen"
    return (
        f"{name} ({'hit' if info.hit else 'miss' if info.hit is False else 'hit or miss unknown'})"
    )


def _age(first: CacheInfo, second: CacheInfo) -> str:
    if first.age is None and second.age is None:
        return "no Age: not kept by a cache"
    grew = (second.age or 0) > (first.age or 0) or bool(second.hit)
    verdict = "kept by a cache" if grew else "not kept"
    return f"{verdict} (Age {first.age if first.age is not None else '-'} then {second.age})"


def _freshness(info: CacheInfo, url: str) -> str:
    life = model_for(info.product).lifetime(info, received=dt.datetime.now(dt.UTC), url=url)
    if not life.stored:
        return "not stored by the cache"
    return f"{life.seconds:,.0f} s ({source_words(life.source)})"


def _revalidation(first: ProbeResponse, conditional: ProbeResponse | None) -> str:
    if conditional is None:
        return "not possible: no ETag or Last-Modified"
    if conditional.http_status == 304:
        return "304 Not Modified"
    return f"{conditional.http_status} with the full body"


def describe(first: ProbeResponse, second: ProbeResponse, cond: ProbeResponse | None) -> Profile:
    """The aspects of one environment from its two plain fetches and one conditional fetch."""
    if first.failure is not None:
        return Profile(first.request.url, {"status": f"failed: {first.message}"})
    one, two = recognise(first.headers), recognise(second.headers)
    validators = [
        name for name, v in (("ETag", one.etag), ("Last-Modified", one.last_modified)) if v
    ]
    return Profile(
        first.request.url,
        {
            "status": str(first.http_status),
            "redirects": f"{first.redirects} redirect(s)" if first.redirects else "none",
            "layer": _layer(two),
            "age": _age(one, two),
            "cache-control": one.raw.get("cache-control", "none"),
            "expires": "set" if one.expires is not None or one.expires_invalid else "none",
            "freshness": _freshness(one, first.effective_url),
            "validators": " and ".join(validators) or "none",
            "revalidation": _revalidation(first, cond),
            "vary": ", ".join(one.vary) or "none",
            "compression": first.header("content-encoding") or "none",
        },
    )


def _conditional(first: ProbeResponse) -> ProbeRequest | None:
    extra = [("If-None-Match", v) for v in [first.header("etag")] if v]
    extra += [("If-Modified-Since", v) for v in [first.header("last-modified")] if v]
    if not extra:
        return None
    return ProbeRequest(first.request.url, headers=(*BROWSER_HEADERS, *extra))


async def profile(
    url: str,
    prober: Fetcher,
    *,
    interval: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Profile:
    """Fetch ``url`` twice ``interval`` seconds apart, then conditionally, and describe it."""
    first = await prober.fetch(ProbeRequest(url))
    await sleep(interval)
    second = await prober.fetch(ProbeRequest(url))
    request = _conditional(first) if first.failure is None else None
    cond = await prober.fetch(request) if request is not None else None
    return describe(first, second, cond)


def compare(a: Profile, b: Profile) -> tuple[Difference, ...]:
    """Every aspect whose text differs between the two environments."""
    found = []
    for aspect, why in WHY.items():
        left, right = a.aspects.get(aspect), b.aspects.get(aspect)
        if left != right and not (aspect == "age" and _same_age(left, right)):
            found.append(Difference(aspect, left or "unknown", right or "unknown", why))
    return tuple(found)


def _same_age(left: str | None, right: str | None) -> bool:
    """Two Age descriptions with the same verdict are the same behaviour."""
    return bool(left and right) and str(left).split(" (")[0] == str(right).split(" (")[0]


async def diff(
    url_a: str,
    url_b: str,
    prober: Fetcher,
    *,
    interval: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DiffReport:
    """Compare the caching behaviour of two environments for the same path."""
    a, b = await asyncio.gather(
        profile(url_a, prober, interval=interval, sleep=sleep),
        profile(url_b, prober, interval=interval, sleep=sleep),
    )
    return DiffReport(url_a, url_b, compare(a, b))
