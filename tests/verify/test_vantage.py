"""Vantage points: each edge address a DNS server hands out is probed with the site's Host."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import dns.message
import dns.rrset
import pytest

from onthedot.clock import SYSTEM_CLOCK
from onthedot.config import load_release
from onthedot.errors import ProbeError
from onthedot.model import Artefact, Release, Site, Status
from onthedot.runtime import verifier_for
from onthedot.verify.vantage import DEFAULT, default_vantages, resolve_with
from tests.servers.nginx import Nginx

EDGES = {"stats.test.": ["127.0.0.1", "127.0.0.2"]}


class FakeDns(asyncio.DatagramProtocol):
    """A DNS server on loopback that knows one name (A records only)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        if name in EDGES and question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text_list(name, 60, "IN", "A", EDGES[name]))
        self.transport.sendto(reply.to_wire(), addr)  # type: ignore[attr-defined]


@pytest.fixture
async def resolver() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(FakeDns, local_addr=("127.0.0.1", 0))
    host, port = transport.get_extra_info("sockname")[:2]
    yield f"{host}:{port}"
    transport.close()


async def test_resolve_with_a_given_server(resolver: str) -> None:
    assert sorted(await resolve_with(resolver, "stats.test")) == ["127.0.0.1", "127.0.0.2"]
    assert await resolve_with(resolver, "unknown.test") == []


def _release(tmp_path: Path, public: str, resolvers: list[str]) -> Path:
    (tmp_path / "x.csv").write_bytes(b"a,b\n1,2\n")
    path = tmp_path / "r.toml"
    release_at = (
        (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    )
    path.write_text(
        f'id = "r"\ntitle = "T"\nproducer = "P"\nrelease_at = {release_at}+00:00\n'
        f'[site]\npublic = "{public}"\nresolvers = {resolvers!r}\n'.replace("'", '"')
        + '[[artefact]]\nfile = "x.csv"\npath = "/x.csv"\n',
        encoding="utf-8",
    )
    return path


async def test_single_system_address_is_the_default_vantage(tmp_path: Path) -> None:
    release = load_release(_release(tmp_path, "http://127.0.0.1:9", []))
    assert await default_vantages(release) == [DEFAULT]


@pytest.mark.services
async def test_each_edge_is_judged_on_its_own(
    tmp_path: Path, resolver: str, webroot: Path, origin: Nginx
) -> None:
    (webroot / "x.csv").write_bytes(b"a,b\n1,2\n")
    release = load_release(_release(tmp_path, f"http://stats.test:{origin.port}", [resolver]))
    vantages = await default_vantages(release)
    assert [v.name for v in vantages] == ["edge 127.0.0.1", "edge 127.0.0.2"]
    async with verifier_for(release, SYSTEM_CLOCK) as verifier:
        report = await verifier.check(release)
    by_vantage = {r.vantage: r for r in report.results}
    assert by_vantage["edge 127.0.0.1"].status is Status.LIVE  # nginx listens here, Host stats.test
    assert by_vantage["edge 127.0.0.2"].status is Status.ERROR  # nothing listens there
    assert not report.ok


def test_what_a_sweep_loads_before_its_first_request_has_no_dns_library() -> None:
    """dnspython is loaded only to ask a site's own resolvers (``site.resolvers``): a sweep of a
    site without them (the usual case) never uses it, and loading it was 30 ms of every
    ``onthedot verify`` before its first request."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, onthedot.record.beside, onthedot.runtime; "
         "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


async def test_a_missing_dns_package_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    """dnspython is imported only for a site that names its own DNS servers: an installation
    without it is told so in a sentence, as any failure to look a site up is."""
    monkeypatch.setitem(sys.modules, "dns.asyncresolver", None)
    with pytest.raises(ProbeError, match="needs the dnspython package"):
        await resolve_with("127.0.0.1:53", "stats.test")


async def test_ipv4_and_ipv6_edges_are_listed_together() -> None:
    """A dual-stack site (or ``site.edges`` naming both kinds of address) is looked at from each:
    IPv4 addresses first, then IPv6, each kind in order (they cannot be compared with each other,
    which stopped every sweep of such a site, the look before the release time included)."""
    release = Release(
        id="r",
        title="T",
        producer="P",
        release_at=dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC),
        site=Site(public="http://127.0.0.1:9", edges=("::1", "127.0.0.2", "2001:db8::1", "::2")),
        artefact=(Artefact(path="/x.csv", sha256="0" * 64, size=8),),
    )
    vantages = await default_vantages(release)
    assert [v.address for v in vantages] == ["127.0.0.1", "127.0.0.2", "::1", "::2", "2001:db8::1"]
    assert [v.name for v in vantages][2] == "edge ::1"
    assert vantages[2].connect_to_for("http://127.0.0.1:9/x.csv") == "[::1]:9"
