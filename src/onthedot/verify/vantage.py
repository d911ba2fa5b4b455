"""Vantage points: where a URL is looked at from.

``default`` asks the system resolver like any user. When the site's name resolves to several
addresses (a CDN's or a load balancer's edges), each address is its own vantage point, probed with
the site's Host and SNI (libcurl CONNECT_TO), so a report can say "7 of 9 edges serve the new
version". ``site.resolvers`` adds DNS servers to ask as well ("host" or "host:port"): a GeoDNS
CDN hands different resolvers different edges. ``site.edges`` adds addresses DNS does not list.
Remote agents are vantage points too; they report through the HTTP API under their own name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from onthedot.errors import ProbeError
from onthedot.model import Release


@dataclass(frozen=True, slots=True)
class Vantage:
    name: str
    address: str | None = None  # connect here instead of resolving (an edge address)

    def connect_to_for(self, url: str) -> str | None:
        """``address:port`` to connect to for ``url`` (the probe keeps the URL's Host and SNI)."""
        if self.address is None:
            return None
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{port}"


DEFAULT = Vantage("default")


async def resolve_all(host: str, port: int) -> list[str]:
    """Every A and AAAA address of ``host`` (empty when it does not resolve)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_with(resolver: str, host: str, timeout: float = 2.0) -> list[str]:
    """Every A and AAAA address of ``host`` according to the DNS server ``resolver``."""
    try:  # (dnspython: only for a site that names resolvers, a 30 ms import every verify paid
        import dns.asyncresolver  # before its first request)
        import dns.exception
        import dns.nameserver
    except ImportError as exc:
        raise ProbeError(
            "Looking a site up with its own DNS servers needs the dnspython package, which is "
            "missing from this installation: install onthedot again."
        ) from exc

    address, _, port = (
        resolver.rpartition(":") if resolver.count(":") == 1 else (resolver, "", "53")
    )
    dns_resolver = dns.asyncresolver.Resolver(configure=False)
    dns_resolver.nameservers = [dns.nameserver.Do53Nameserver(address.strip("[]"), int(port or 53))]
    dns_resolver.lifetime = timeout
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await dns_resolver.resolve(host, rdtype)
        except dns.exception.DNSException:
            continue
        found += [rr.to_text() for rr in answer]
    return found


def _address_order(address: str) -> tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """IPv4 addresses first, then IPv6, each kind in order (the two kinds cannot be compared)."""
    ip = ipaddress.ip_address(address)
    return ip.version, ip


async def default_vantages(release: Release) -> list[Vantage]:
    site = release.site
    if site is None:
        return [DEFAULT]
    parts = urlsplit(site.public)
    host = parts.hostname or ""
    system = await resolve_all(host, parts.port or 80)
    extra: list[str] = []
    for resolver in site.resolvers:
        extra += await resolve_with(resolver, host)
    extra += site.edges
    addresses = sorted(set(system) | set(extra), key=_address_order)
    if len(addresses) <= 1 and not extra:
        return [DEFAULT]  # one address, as every user gets it: no need to name it
    return [Vantage(f"edge {a}", a) for a in addresses]
