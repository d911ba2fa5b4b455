r"""``varnish://127.0.0.1:6081``: purge a Varnish cache directly (``varnish+https://`` not needed).

The purger is given the *public* URLs; it sends each request to the Varnish address with the public
site's ``Host`` header:

* one URL: ``PURGE /statistics/x.xlsx`` (``Host: www.example.org``);
* several URLs of one site (a release's files): one ``BAN /`` with ``X-Ban-Prefix`` the regex of
  exactly their paths, ``/statistics/(?:x\.xlsx|y\.csv)$`` (the VCL anchors it with
  ``^``): the purge at T is one round-trip per release, not one per file, whatever the number of
  releases due at once. The paths are those on the wire, percent-encoded as the PURGE sends them
  and as Varnish compares them (``donn%C3%A9es%202026.csv``, either case of hex digit); a release
  whose regex would pass ``BAN_HEADER`` bytes is banned in several BANs (Varnish refuses a request
  header beyond 8 KB by default); a path that would still hold a space or ``"`` is PURGEd alone;
* prefixes: ``BAN /`` with ``X-Ban-Prefix: <regex-escaped path prefix>``;
* tags: ``PURGE /`` with ``xkey-purge: key1 key2`` (needs vmod_xkey, Debian ``varnish-modules``).

Varnish only does this with VCL that allows it; ``REQUIRED_VCL`` below is what the site needs
(merge it into its ``vcl_recv`` / ``vcl_backend_response`` / ``vcl_deliver``). Without it Varnish
answers ``405`` (PURGE/BAN not allowed) or ``501`` (no xkey), which is recorded as a failure.
"""

from __future__ import annotations

import re
from typing import ClassVar

from yarl import URL

from onthedot.publish.purgers.base import Outcome, PurgeRequest
from onthedot.publish.purgers.http import HTTPPurger, path_of

OWN_CACHE_PER_HOST = 64
"""Purge requests in flight to one cache of the site's own at once (Varnish, or a cache taking
``PURGE``): at T each release due purges at once, and on a busy event loop every turn waited for
adds a round of the loop (measured, 200 releases' BANs to one Varnish while the loop is busy for
10 ms at a time: the last answered after 3.0 s 8 at a time, 1.0 s 32 at a time, 0.4 s all at
once). Varnish's default thread pools start 200 threads."""

BAN_HEADER = 4000
"""Most characters in one BAN's ``X-Ban-Prefix`` (Varnish's ``http_req_hdr_len`` is 8 KB)."""

REQUIRED_VCL = r"""
vcl 4.1;
import xkey;                      # only if you purge by tags (Debian: varnish-modules)

acl onthedot_purgers { "127.0.0.1"; "::1"; }   # the hosts onthedot publishes from

sub vcl_recv {
    if (req.method == "PURGE" || req.method == "BAN") {
        if (client.ip !~ onthedot_purgers) { return (synth(405, "Not allowed")); }
    }
    if (req.method == "PURGE" && req.http.xkey-purge) {
        set req.http.x-gone = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Invalidated " + req.http.x-gone + " objects"));
    }
    if (req.method == "PURGE") { return (purge); }
    if (req.method == "BAN") {
        ban("obj.http.x-url ~ ^" + req.http.X-Ban-Prefix + " && obj.http.x-host == " + req.http.host);
        return (synth(200, "Banned"));
    }
}
sub vcl_backend_response {
    set beresp.http.x-url = bereq.url;      # lets bans run in the background ban lurker
    set beresp.http.x-host = bereq.http.host;
}
sub vcl_deliver {
    unset resp.http.x-url;
    unset resp.http.x-host;
}
"""


class VarnishPurger(HTTPPurger):
    """varnish://127.0.0.1:6081"""

    scheme: ClassVar[str] = "varnish"
    title: ClassVar[str] = "Varnish"
    docs: ClassVar[str] = "https://varnish-cache.org/docs/trunk/users-guide/purging.html"
    required: ClassVar[tuple[str, ...]] = ("host",)
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "prefixes", "tags"})
    method: ClassVar[str] = "PURGE"
    tls: ClassVar[bool] = False
    per_host: ClassVar[int] = OWN_CACHE_PER_HOST

    @property
    def base(self) -> str:
        parsed = self.parsed
        host = f"[{parsed.host}]" if parsed.host and ":" in parsed.host else parsed.host
        default = 443 if self.tls else 80
        return f"{'https' if self.tls else 'http'}://{host}:{parsed.port or default}"

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        found: list[PurgeRequest] = []
        for host, same in _by_host(urls).items():
            found += [self._purge(same[0])] if len(same) == 1 else self._ban_exactly(host, same)
        found += [self._ban(prefix) for prefix in prefixes]
        if tags:
            found.append(self._xkey(tags, urls[0] if urls else prefixes[0] if prefixes else ""))
        return found

    def _purge(self, url: str) -> PurgeRequest:
        host, path = path_of(url)
        target = self.base + _wire(path)

        async def send() -> Outcome:
            return await self.simple(self.method, target, headers={"Host": host})

        return PurgeRequest(f"{self.method} {target} (Host: {host})", send, target)

    def _ban(self, prefix: str) -> PurgeRequest:
        host, path = path_of(prefix)
        return self._ban_matching(host, _regex(_wire(path)))

    def _ban_exactly(self, host: str, urls: list[str]) -> list[PurgeRequest]:
        """BANs of exactly these URLs (``_exactly``), ``BAN_HEADER`` characters at most each; a
        URL whose path cannot go in a ban expression is PURGEd."""
        found: list[PurgeRequest] = []
        batch: list[str] = []
        size = len("(?:)$")
        for url in urls:
            wire = _wire(path_of(url)[1])
            wanted = _regex(wire)
            if _UNSAFE.search(wanted):
                found.append(self._purge(url))
                continue
            if batch and size + len(wanted) + 1 > BAN_HEADER:
                found += self._bans(host, batch)
                batch, size = [], len("(?:)$")
            batch.append(wire)
            size += len(wanted) + 1
        if batch:
            found += self._bans(host, batch)
        return found

    def _bans(self, host: str, wires: list[str]) -> list[PurgeRequest]:
        """One BAN of these paths, or, should their regex still pass ``BAN_HEADER`` (the count
        above is of the paths whole: a folder's names grouped can come out a few characters
        longer), one BAN of each half."""
        pattern = _exactly(wires)
        if len(pattern) <= BAN_HEADER or len(wires) == 1:
            return [self._ban_matching(host, pattern)]
        half = len(wires) // 2
        return self._bans(host, wires[:half]) + self._bans(host, wires[half:])

    def _ban_matching(self, host: str, pattern: str) -> PurgeRequest:
        headers = {"Host": host, "X-Ban-Prefix": pattern} if host else {"X-Ban-Prefix": pattern}
        target = self.base + "/"

        async def send() -> Outcome:
            return await self.simple("BAN", target, headers=headers)

        return PurgeRequest(f"BAN {target} (X-Ban-Prefix: {pattern})", send, target)

    def _xkey(self, tags: list[str], site_url: str) -> PurgeRequest:
        host, _ = path_of(site_url) if site_url else ("", "/")
        headers = {"xkey-purge": " ".join(tags)} | ({"Host": host} if host else {})

        target = self.base + "/"

        async def send() -> Outcome:
            return await self.simple("PURGE", target, headers=headers)

        return PurgeRequest(f"PURGE {target} (xkey-purge: {' '.join(tags)})", send, target)


def _by_host(urls: list[str]) -> dict[str, list[str]]:
    """The URLs grouped by their site (in the order given)."""
    grouped: dict[str, list[str]] = {}
    for url in urls:
        grouped.setdefault(path_of(url)[0], []).append(url)
    return grouped


_UNSAFE = re.compile(r'[\s"]')
"""What ends or breaks a ban expression's argument: such a path is PURGEd instead."""


def _wire(path: str) -> str:
    """The path and query as sent (and as Varnish's ``req.url`` holds them): percent-encoded as
    aiohttp encodes the PURGE's URL (``/donn%C3%A9es%202026.csv``)."""
    return URL("http://h" + path).raw_path_qs


def _exactly(wires: list[str]) -> str:
    """A regex matching exactly these paths (the VCL puts ``^`` before it): their common folder
    once, then each folder's names, ``/stats/(?:x\\.csv|y\\.csv)$``. Varnish tests every object
    looked up against each ban newer than it, so at T with 200 releases' bans an object is tested
    against up to 200 of them: with the folder first, a ban of another release's folder fails at
    once, instead of trying each of its alternatives (the edge's CPU for 10,000 look-ups after
    200 bans of 50 files: 1.7 s, was 3.1 s; purging each URL instead: 1.5 s, and 10,000
    requests). The paths are cut only just after a ``/``, never inside a ``%XX``."""
    low, high = min(wires), max(wires)  # (every path shares what these two share)
    same = next((n for n, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), len(low))
    cut = low.rfind("/", 0, same) + 1
    folders: dict[str, list[str]] = {}
    for wire in wires:
        rest = wire[cut:]
        split = rest.rfind("/") + 1
        folders.setdefault(rest[:split], []).append(_regex(rest[split:]))
    branches = [_regex(folder) + _one_of(names) for folder, names in folders.items()]
    return _regex(low[:cut]) + _one_of(branches) + "$"


def _one_of(patterns: list[str]) -> str:
    return patterns[0] if len(patterns) == 1 else f"(?:{'|'.join(patterns)})"


def _regex(wire: str) -> str:
    """``wire`` as a regex matching it literally, either case of each ``%XX``'s hex digits."""
    return re.sub(
        r"%([0-9A-F])([0-9A-F])",
        lambda m: "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in m.groups()),
        re.escape(wire),
    )
